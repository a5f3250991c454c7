package sched

import (
	"fmt"
	"slices"
	"testing"
)

func maglevPlan(tb testing.TB, servers []Server, size uint64) *Plan {
	tb.Helper()
	return mustBuild(tb, Config{Name: "mh", MaglevTableSize: size, Servers: servers})
}

func slotCounts(tb testing.TB, p *Plan) []int {
	tb.Helper()
	counts, err := p.SlotCounts()
	if err != nil {
		tb.Fatal(err)
	}
	return counts
}

// TestMaglevBalance: with equal weights every backend takes its turn each round, so slot counts differ by at most
// one (the paper's round-robin population): max ≤ ⌈M/N⌉ and min ≥ ⌊M/N⌋.
func TestMaglevBalance(t *testing.T) {
	for _, n := range []int{10, 100, 1000} {
		servers := newServers(t, slices.Repeat([]int32{1}, n)...)
		counts := slotCounts(t, maglevPlan(t, servers, 0))
		lo, hi := slices.Min(counts), slices.Max(counts)
		floor, ceil := DefaultMaglevTableSize/n, (DefaultMaglevTableSize+n-1)/n
		t.Logf("N=%d M=%d: slots per backend min %d max %d (M/N = %.1f)", n, DefaultMaglevTableSize, lo, hi, float64(DefaultMaglevTableSize)/float64(n))
		if lo < floor || hi > ceil {
			t.Errorf("N=%d: slots per backend in [%d, %d], want within [%d, %d]", n, lo, hi, floor, ceil)
		}
	}
}

// movedFraction is the share of lookup slots whose backend (by address) differs between two tables.
func movedFraction(before, after *Plan, beforeServers, afterServers []Server) float64 {
	moved := 0
	for slot := range before.maglev {
		if beforeServers[before.maglev[slot]].Addr != afterServers[after.maglev[slot]].Addr {
			moved++
		}
	}
	return float64(moved) / float64(len(before.maglev))
}

// TestMaglevDisruption removes and adds one backend of N and counts the slots that changed backend. The minimum
// is 1/N (the removed backend's own slots, or the new one's share); Maglev moves more as M/N shrinks, because
// the others' claims shift (the paper recommends M ≫ N for this reason). Measured at M=65537: N=10 ≈1.0×, N=100 ≈1.5×, N=1000 ≈6.8× the
// minimum; modulo hashing would move ≈ 1 - 1/N. The bounds leave room above those numbers.
func TestMaglevDisruption(t *testing.T) {
	for _, tt := range []struct {
		n        int
		maxRatio float64 // moved / (1/N)
	}{{10, 1.5}, {100, 2.5}, {1000, 10}} {
		base := newServers(t, slices.Repeat([]int32{1}, tt.n+1)...)
		all, withoutLast := base, base[:tt.n]
		withoutMiddle := slices.Concat(base[:tt.n/2], base[tt.n/2+1:tt.n])
		full := maglevPlan(t, base[:tt.n], 0)
		minimum := 1 / float64(tt.n)
		cases := []struct {
			what  string
			after []Server
		}{
			{"remove one", withoutMiddle},
			{"add one", all},
		}
		for _, c := range cases {
			moved := movedFraction(full, maglevPlan(t, c.after, 0), withoutLast, c.after)
			t.Logf("N=%d %s: %.4f of slots moved (minimum %.4f, ratio %.2f)", tt.n, c.what, moved, minimum, moved/minimum)
			if moved < minimum*0.9 || moved > minimum*tt.maxRatio {
				t.Errorf("N=%d %s: %.4f of slots moved, want between %.4f and %.4f", tt.n, c.what, moved, minimum*0.9, minimum*tt.maxRatio)
			}
		}
	}
}

// TestMaglevDeterministic: two independent Builds (separate Server slices and Loads) give the same table, the
// basis of ECMP across directors.
func TestMaglevDeterministic(t *testing.T) {
	first := maglevPlan(t, newServers(t, 3, 1, 2, 5, 1, 1, 4), 0)
	second := maglevPlan(t, newServers(t, 3, 1, 2, 5, 1, 1, 4), 0)
	if !slices.Equal(first.maglev, second.maglev) {
		t.Fatal("two builds of the same config gave different Maglev tables")
	}
	// And a client maps to the same server on both.
	a, b := first.Instance(), second.Instance()
	for _, f := range benchFlows(1000) {
		if x, y := a.Schedule(&f, 0), b.Schedule(&f, 0); x != y {
			t.Fatalf("flow %v: server %d on one build, %d on the other", f.Src, x, y)
		}
	}
}

func TestMaglevWeights(t *testing.T) {
	tests := []struct {
		weights []int32
		size    uint64
	}{
		{[]int32{1, 2, 3, 4}, 0},
		{[]int32{10, 20, 30, 0, 40}, 0},
		{[]int32{1, 1000}, 0},         // reduced to 8 bits of turns: 1 vs 250 (≈1000/4)
		{[]int32{100, 300, 500}, 251}, // small table
	}
	for _, tt := range tests {
		plan := maglevPlan(t, newServers(t, tt.weights...), tt.size)
		counts := slotCounts(t, plan)
		size := float64(len(plan.maglev))
		turns := maglevTurns(plan.servers, uint64(len(plan.maglev)))
		var totalTurns int64
		for _, turn := range turns {
			totalTurns += turn
		}
		for i, w := range tt.weights {
			want := size * float64(turns[i]) / float64(totalTurns)
			if w == 0 {
				if counts[i] != 0 {
					t.Errorf("weights %v: quiescent server %d holds %d slots", tt.weights, i, counts[i])
				}
				continue
			}
			// A server takes its turns each round; the last round may stop part-way, so allow one round's worth.
			if diff := float64(counts[i]) - want; diff > float64(turns[i])+1 || -diff > float64(turns[i])+1 {
				t.Errorf("weights %v: server %d holds %d slots, want %.1f ± %d", tt.weights, i, counts[i], want, turns[i]+1)
			}
		}
		t.Logf("weights %v M=%v: slots %v", tt.weights, size, counts)
	}
}

func TestMaglevRejectsSizes(t *testing.T) {
	for _, size := range []uint64{1, 4, 65536, 65535, 1 << 31} {
		if _, err := Build(Config{Name: "mh", MaglevTableSize: size, Servers: newServers(t, 1)}); err == nil {
			t.Errorf("MaglevTableSize %d accepted, want an error (not prime or too large)", size)
		}
	}
	if _, err := Build(Config{Name: "mh", MaglevTableSize: 3, Servers: newServers(t, 1, 1, 1, 1)}); err == nil {
		t.Error("4 servers in a 3-slot table accepted")
	}
}

func BenchmarkMaglevBuild(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("backends=%d", n), func(b *testing.B) {
			cfg := Config{Name: "mh", Servers: newServers(b, slices.Repeat([]int32{1}, n)...)}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(cfg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
