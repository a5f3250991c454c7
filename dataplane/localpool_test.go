package dataplane

import "testing"

// TestLocalPortPoolShares: the pools of n workers split [1024, 65535]
// between them without overlap or gap, each port p going to worker p % n.
func TestLocalPortPoolShares(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 7, 64} {
		owner := map[uint16]int{}
		for id := range workers {
			pool := newLocalPortPool([16]byte{}, id, workers)
			for {
				port, ok := pool.allocate()
				if !ok {
					break
				}
				if int(port)%workers != id || port < localPortFirst {
					t.Fatalf("%d workers: worker %d got port %d", workers, id, port)
				}
				if prev, dup := owner[port]; dup {
					t.Fatalf("%d workers: port %d handed to workers %d and %d", workers, port, prev, id)
				}
				owner[port] = id
			}
		}
		if want := localPortLast - localPortFirst + 1; len(owner) != want {
			t.Fatalf("%d workers: %d ports handed out, want %d", workers, len(owner), want)
		}
	}
}

// TestLocalPortPoolReuse: released ports come back oldest first, a port
// is never out twice, and a release of a port not out is refused.
func TestLocalPortPoolReuse(t *testing.T) {
	pool := newLocalPortPool([16]byte{}, 1, 4) // ports 1025, 1029, ...
	total := pool.free()
	if total != (65535-1025)/4+1 {
		t.Fatalf("worker 1 of 4 owns %d ports", total)
	}
	a, _ := pool.allocate()
	b, _ := pool.allocate()
	if a != 1025 || b != 1029 {
		t.Fatalf("first ports %d, %d, want 1025, 1029", a, b)
	}
	if pool.release(1026) || pool.release(1033) {
		t.Fatal("released a port the pool did not hand out")
	}
	if !pool.release(b) || pool.release(b) {
		t.Fatal("release of an allocated port must succeed once")
	}
	pool.release(a)
	out := map[uint16]bool{}
	var last uint16
	for {
		p, ok := pool.allocate()
		if !ok {
			break
		}
		if out[p] {
			t.Fatalf("port %d out twice", p)
		}
		out[p], last = true, p
	}
	if len(out) != total || last != a {
		t.Fatalf("drained %d ports ending with %d; want %d ending with the last released, %d", len(out), last, total, a)
	}
	if _, ok := pool.allocate(); ok {
		t.Fatal("allocate succeeded on an empty pool")
	}
	// Wrap around the ring many times.
	for i := range 3 * total {
		p := uint16(1025 + 4*(i%total))
		if !pool.release(p) {
			t.Fatalf("release %d refused", p)
		}
		if q, ok := pool.allocate(); !ok || q != p {
			t.Fatalf("allocate after releasing %d gave %d, %v", p, q, ok)
		}
	}
}

func TestLocalPortPoolAllocs(t *testing.T) {
	pool := newLocalPortPool([16]byte{}, 0, 1)
	if n := testing.AllocsPerRun(1000, func() {
		p, _ := pool.allocate()
		pool.release(p)
	}); n != 0 {
		t.Fatalf("allocate+release: %v allocations, want 0", n)
	}
}

func BenchmarkLocalPortPool(b *testing.B) {
	pool := newLocalPortPool([16]byte{}, 0, 1)
	b.ReportAllocs()
	for b.Loop() {
		p, _ := pool.allocate()
		pool.release(p)
	}
}

// TestLocalPortPoolTake: a port a synced connection holds is taken out of
// turn: never allocated while held, allocatable again once released, and
// free() counts it out; a port held or not in the pool cannot be taken.
func TestLocalPortPoolTake(t *testing.T) {
	pool := newLocalPortPool([16]byte{}, 1, 2) // ports 1025, 1027, ...
	total := pool.free()
	if !pool.take(1027) || pool.take(1027) || pool.take(1026) || pool.take(3) {
		t.Fatal("take: a free own port once, nothing else")
	}
	if pool.free() != total-1 {
		t.Fatalf("free %d after a take, want %d", pool.free(), total-1)
	}
	first, _ := pool.allocate()
	if first != 1025 || pool.take(first) {
		t.Fatalf("allocated %d, and took it again", first)
	}
	seen := map[uint16]bool{}
	for {
		p, ok := pool.allocate()
		if !ok {
			break
		}
		if p == 1027 {
			t.Fatal("allocated a taken port")
		}
		seen[p] = true
	}
	if len(seen) != total-2 {
		t.Fatalf("allocated %d more ports, want %d", len(seen), total-2)
	}
	if !pool.release(1027) || pool.free() != 1 {
		t.Fatalf("release of the taken port: free %d", pool.free())
	}
	if p, ok := pool.allocate(); !ok || p != 1027 {
		t.Fatalf("after its release got %d %v, want 1027", p, ok)
	}
	// Released before its stale ring entry came round: it is free again, once.
	pool2 := newLocalPortPool([16]byte{}, 0, 1)
	pool2.take(2000)
	pool2.release(2000)
	count := 0
	for {
		p, ok := pool2.allocate()
		if !ok {
			break
		}
		if p == 2000 {
			count++
		}
	}
	if count != 1 {
		t.Fatalf("port 2000 allocated %d times after take and release", count)
	}
}
