package spsc

import (
	"sync"
	"testing"
)

func TestRingFullAndEmpty(t *testing.T) {
	r := New[int](3) // rounds to 4
	for i := 0; i < 4; i++ {
		if !r.Push(i) {
			t.Fatalf("push %d refused on a ring with room", i)
		}
	}
	if r.Push(99) {
		t.Fatal("push accepted on a full ring")
	}
	var v int
	for i := 0; i < 4; i++ {
		if !r.Pop(&v) || v != i {
			t.Fatalf("pop %d: got %d", i, v)
		}
	}
	if r.Pop(&v) {
		t.Fatal("pop succeeded on an empty ring")
	}
}

// TestRingConcurrentOrder runs one producer and one consumer and checks that
// every item arrives once, in order (run with -race to check the ordering).
func TestRingConcurrentOrder(t *testing.T) {
	const n = 200000
	r := New[uint64](64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := uint64(0); i < n; {
			if r.Push(i) {
				i++
			}
		}
	}()
	var want uint64
	for want < n {
		var got uint64
		if r.Pop(&got) {
			if got != want {
				t.Fatalf("got %d, want %d", got, want)
			}
			want++
		}
	}
	wg.Wait()
}

func TestRingZeroAllocs(t *testing.T) {
	r := New[[16]byte](8)
	var v [16]byte
	if a := testing.AllocsPerRun(1000, func() { r.Push(v); r.Pop(&v) }); a != 0 {
		t.Fatalf("push+pop allocates %v times", a)
	}
}
