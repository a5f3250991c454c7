package bgp

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/osrg/gobgp/v3/pkg/server"
)

// thousandVIPs returns 1,000 IPv4 host prefixes in 198.18.0.0/15.
func thousandVIPs() []Route {
	out := make([]Route, 1000)
	for i := range out {
		out[i] = Route{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 32)}
	}
	return out
}

type footprint struct {
	goroutines int
	heap       uint64
}

func measure() footprint {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return footprint{goroutines: runtime.NumGoroutine(), heap: m.HeapAlloc}
}

// TestSpeakerCostAt1000VIPs measures what the speaker adds to the daemon
// with 1,000 announced VIPs: once with its peer unreachable (the speaker
// alone), once with an established session to an in-process gobgp router
// (which then holds the 1,000 routes too, so that figure is an upper bound).
func TestSpeakerCostAt1000VIPs(t *testing.T) {
	vips := thousandVIPs()
	check := func(name string, before, after footprint) {
		goroutines, heap := after.goroutines-before.goroutines, int64(after.heap)-int64(before.heap)
		t.Logf("%s: %d goroutines, %.1f MiB heap for %d VIPs", name, goroutines, float64(heap)/(1<<20), len(vips))
		if goroutines > 60 || heap > 64<<20 {
			t.Errorf("%s costs %d goroutines and %d bytes of heap", name, goroutines, heap)
		}
	}

	before := measure()
	alone, err := Start(context.Background(), Settings{
		ASN: directorASN, RouterID: netip.MustParseAddr("198.18.255.2"),
		Peers: []Peer{{Address: netip.MustParseAddr("127.0.0.1"), Port: 9, ASN: routerASN}}, // discard port: never answers BGP
	}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	alone.Want(vips)
	waitAnnounced(t, alone, len(vips))
	check("speaker alone", before, measure())
	alone.Stop()

	before = measure()
	router, port := startRouter(t)
	speaker := startDirector(t, port)
	speaker.Want(vips)
	waitReceivedCount(t, router, len(vips), 30*time.Second)
	check("speaker and router, session up", before, measure())
}

func waitAnnounced(tb testing.TB, s *Speaker, n int) {
	tb.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		status, err := s.Status(context.Background())
		if err == nil && len(status.Announced) == n {
			return
		}
	}
	tb.Fatalf("speaker did not announce %d prefixes", n)
}

func waitReceivedCount(tb testing.TB, router *server.BgpServer, n int, timeout time.Duration) {
	tb.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		if got := len(received(tb, router)); got == n {
			return
		} else if time.Now().After(deadline) {
			tb.Fatalf("router holds %d prefixes, want %d", got, n)
		}
	}
}
