package testbed

import "testing"

// ForTest makes a Bed for a test or benchmark, closes it in tb.Cleanup and fails tb at once if it cannot be made.
func ForTest(tb testing.TB, prefix string) *Bed {
	tb.Helper()
	bed, err := New(Options{Prefix: prefix})
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	tb.Cleanup(func() {
		if err := bed.Close(); err != nil {
			tb.Errorf("testbed close: %v", err)
		}
	})
	return bed
}

// PairForTest makes a Bed for tb with two hosts, a and b, joined by a veth pair whose ends are both eth0, one
// queue each: the smallest setup a socket or a resolver can be tried on.
func PairForTest(tb testing.TB, prefix string) (a, b *Host) {
	tb.Helper()
	bed := ForTest(tb, prefix)
	a, b = HostForTest(tb, bed, "a"), HostForTest(tb, bed, "b")
	if err := bed.Connect(a, "eth0", b, "eth0", LinkOptions{Queues: 1}); err != nil {
		tb.Fatal(err)
	}
	return a, b
}

// HostForTest makes the host name in bed or fails tb.
func HostForTest(tb testing.TB, bed *Bed, name string) *Host {
	tb.Helper()
	h, err := bed.Host(name)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}
