package conntrack

import (
	"math/bits"
	"testing"
)

func TestTablesWithDifferentSeedsPlaceKeysDifferently(t *testing.T) {
	a1, _ := New(Config{Capacity: 1024, Seed: 1})
	a2, _ := New(Config{Capacity: 1024, Seed: 1})
	b, _ := New(Config{Capacity: 1024, Seed: 2})
	r1, _ := New(Config{Capacity: 1024})
	r2, _ := New(Config{Capacity: 1024})
	if a1.seed != a2.seed || a1.seed == b.seed || r1.seed == r2.seed || r1.seed == (hashSeed{}) {
		t.Fatalf("seeds: fixed %x %x %x, random %x %x", a1.seed, a2.seed, b.seed, r1.seed, r2.seed)
	}
	moved := 0
	const n = 1000
	for i := range uint32(n) {
		_, in, _ := natConn(i, 6)
		home := func(tab *Table) uint32 { return uint32(hashTuple(&in, &tab.seed)) & tab.index.mask }
		if home(a1) != home(a2) {
			t.Fatalf("key %d: same seed, different slots", i)
		}
		if home(a1) != home(b) {
			moved++
		}
		k := templateKey(i)
		if hashTemplate(&k, &a1.seed) == hashTemplate(&k, &b.seed) {
			t.Fatalf("template key %d hashes alike under two seeds", i)
		}
	}
	if moved < n*9/10 {
		t.Fatalf("only %d of %d keys changed slot with the seed", moved, n)
	}
}

func TestHasherIsKeyedAndSpreadsAddresses(t *testing.T) {
	h1, h1again, h2 := NewHasher(1), NewHasher(1), NewHasher(2)
	r1, r2 := NewHasher(0), NewHasher(0)
	a := addr4(198, 18<<16|1)
	if h1.Addr(a) != h1again.Addr(a) || h1.Addr(a) == h2.Addr(a) || r1.Addr(a) == r2.Addr(a) {
		t.Fatal("the hash does not follow its seed")
	}
	// Consecutive client addresses, IPv4 and IPv6, share out evenly among workers.
	for _, workers := range []uint64{2, 3, 4, 8} {
		counts := make([]int, workers)
		for i := range uint32(8000) {
			counts[h1.Addr(addr4(198, i))%workers]++
			counts[h1.Addr(addr6(uint64(i)))%workers]++
		}
		for w, c := range counts {
			if want := 16000 / int(workers); c < want*9/10 || c > want*11/10 {
				t.Fatalf("%d workers: worker %d gets %d of 16000", workers, w, c)
			}
		}
	}
	// Flipping any one input bit flips about half the output bits.
	var flips int
	for bit := range 128 {
		b := a
		b[bit/8] ^= 1 << (bit % 8)
		flips += bits.OnesCount64(h1.Addr(a) ^ h1.Addr(b))
	}
	if avg := float64(flips) / 128; avg < 28 || avg > 36 {
		t.Fatalf("one input bit flips %.1f output bits on average, want about 32", avg)
	}
	if allocs := testing.AllocsPerRun(100, func() { h1.Addr(a) }); allocs != 0 {
		t.Fatalf("Addr allocates %.1f", allocs)
	}
}

func BenchmarkHashTuple(b *testing.B) {
	tab, _ := New(Config{Capacity: 16})
	_, in, _ := natConn(1, 6)
	var sink uint64
	b.ReportAllocs()
	for b.Loop() {
		in.SrcPort++
		sink += hashTuple(&in, &tab.seed)
	}
	_ = sink
}

func BenchmarkHasherAddr(b *testing.B) {
	h := NewHasher(0)
	a := addr4(198, 1)
	var sink uint64
	b.ReportAllocs()
	for b.Loop() {
		a[15]++
		sink += h.Addr(a)
	}
	_ = sink
}
