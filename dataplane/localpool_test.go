package dataplane

import (
	"net/netip"
	"testing"

	"fastlvs/header"
)

// TestLocalPortsShares: the cursors of n workers split [1024, 65535]
// between them without overlap or gap, each port p going to worker p % n,
// and a cursor hands out a whole lap before repeating a port.
func TestLocalPortsShares(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 7, 64} {
		owner := map[uint16]int{}
		for id := range workers {
			var lp localPorts
			lp.cursor = make([]uint32, 2)
			first := lp.nextPort(1, id, workers)
			for port := first; ; {
				if int(port)%workers != id || port < localPortFirst {
					t.Fatalf("%d workers: worker %d got port %d", workers, id, port)
				}
				if prev, dup := owner[port]; dup {
					t.Fatalf("%d workers: port %d handed to workers %d and %d", workers, port, prev, id)
				}
				owner[port] = id
				if port = lp.nextPort(1, id, workers); port == first {
					break
				}
			}
		}
		if want := localPortLast - localPortFirst + 1; len(owner) != want {
			t.Fatalf("%d workers: %d ports handed out, want %d", workers, len(owner), want)
		}
	}
}

// TestLocalPortsSkipPortsInUse: a new connection never takes a local port
// whose reply tuple a live connection holds, and ports towards another real
// server are independent.
func TestLocalPortsSkipPortsInUse(t *testing.T) {
	d := newMemDataplane(t, fullnatSpec(), 1, 1024)
	w := d.Workers[0]
	if v := w.processFrame(fnatSyn.frame(t), 0); v.action != actionTransmit {
		t.Fatalf("SYN dropped: %v", dropCounts(w))
	}
	// Rewind the cursor so the next connection tries the first port again.
	w.local.cursor = make([]uint32, len(w.local.cursor))
	w.local.next = 0
	frame := fnatSyn.with(func(p *pkt) { p.sport++ }).frame(t)
	if v := w.processFrame(frame, 0); v.action != actionTransmit {
		t.Fatalf("second SYN dropped: %v", dropCounts(w))
	}
	var p header.Packet
	p.Parse(frame)
	if netip.AddrFrom16(p.Src).Unmap() == addr("198.18.3.1") && p.SrcPort == localPortFirst {
		t.Fatalf("198.18.3.1:%d handed out twice towards the same real server", localPortFirst)
	}
}

func TestLocalPortsAllocateNothing(t *testing.T) {
	var lp localPorts
	lp.cursor = make([]uint32, 4)
	if n := testing.AllocsPerRun(1000, func() { lp.nextPort(3, 0, 2) }); n != 0 {
		t.Fatalf("nextPort: %v allocations, want 0", n)
	}
}
