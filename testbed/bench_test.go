package testbed

import (
	"context"
	"testing"
	"time"
)

// BenchmarkBuildOneArm measures building and tearing down the default one-arm topology (6 namespaces).
func BenchmarkBuildOneArm(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		bed, err := New(Options{Prefix: testPrefix})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := BuildTopology(bed, TopologyOptions{}); err != nil {
			bed.Close()
			b.Fatal(err)
		}
		if err := bed.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHTTPGetKernelForwarding is the baseline cost of one HTTPGet (new connection) through a director that
// forwards with the kernel: the floor under any end-to-end request test.
func BenchmarkHTTPGetKernelForwarding(b *testing.B) {
	bed := ForTest(b, testPrefix)
	topo, err := BuildTopology(bed, TopologyOptions{Clients: 1, Reals: 1})
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := topo.StartServers(8080, 0); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := topo.Clients[0].HTTPGet(ctx, "http://198.18.2.11:8080/", ""); err != nil {
			b.Fatal(err)
		}
	}
}
