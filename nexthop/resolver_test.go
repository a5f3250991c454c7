package nexthop_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"fastlvs/nexthop"
	"fastlvs/testbed"
)

// TestResolverSleepsUntilWanted: with nothing changing and nothing wanted the
// resolver does not look at the kernel again (an idle director must not wake
// fifty times a second), and a worker's want still wakes it and gets the
// neighbour resolved.
func TestResolverSleepsUntilWanted(t *testing.T) {
	bed := testbed.ForTest(t, "fnr")
	box, err := bed.Host("box")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := bed.Host("peer")
	if err != nil {
		t.Fatal(err)
	}
	// No IPv6: its duplicate address detection and router solicitations
	// would be neighbour and route changes of their own.
	for _, h := range []*testbed.Host{box, peer} {
		if err := h.Sysctl("net.ipv6.conf.default.disable_ipv6", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := bed.Connect(box, "eth0", peer, "eth0", testbed.LinkOptions{Queues: 1}); err != nil {
		t.Fatal(err)
	}
	if err := box.AddAddr("eth0", "198.18.7.1/24"); err != nil {
		t.Fatal(err)
	}
	if err := peer.AddAddr("eth0", "198.18.7.2/24"); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	type started struct {
		r   *nexthop.Resolver
		q   *nexthop.WantQueue
		err error
	}
	ready := make(chan started, 1)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		// Do keeps this goroutine on a thread inside box: the resolver's
		// netlink sockets and probes must open there.
		err := box.Do(func() error {
			r, err := nexthop.NewResolver([]string{"eth0"}, nil)
			if err != nil {
				return err
			}
			ready <- started{r: r, q: r.WantQueue()}
			r.RoutineResolve(ctx)
			return nil
		})
		if err != nil {
			ready <- started{err: err}
		}
	}()
	defer func() { cancel(); <-stopped }()
	s := <-ready
	if s.err != nil {
		t.Fatal(s.err)
	}

	time.Sleep(300 * time.Millisecond) // the start's own rebuild and poll
	polls, rebuilds := s.r.Polls.Load(), s.r.Rebuilds.Load()
	time.Sleep(time.Second)
	if p, r := s.r.Polls.Load()-polls, s.r.Rebuilds.Load()-rebuilds; p != 0 || r != 0 {
		t.Errorf("%d polls and %d rebuilds in an idle second, want none", p, r)
	}

	want := netip.MustParseAddr("198.18.7.2").As16()
	if _, asked, ok := s.r.Snapshot().Lookup(want); ok || asked != want {
		t.Fatalf("198.18.7.2 resolved before anyone asked (or not on a port's subnet): want %v", asked)
	}
	s.q.Push(want)
	deadline := time.Now().Add(2 * time.Second)
	for {
		if _, _, ok := s.r.Snapshot().Lookup(want); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("198.18.7.2 not resolved 2 s after a want (%d probes)", s.r.Probes.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
