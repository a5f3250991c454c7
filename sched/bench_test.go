package sched

import (
	"math/rand/v2"
	"testing"
)

// benchFlows are client flows from distinct sources, precomputed so the loop measures only Schedule.
func benchFlows(n int) []Flow {
	rng := rand.New(rand.NewPCG(1, 2))
	flows := make([]Flow, n)
	for i := range flows {
		f := &flows[i]
		f.Src = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: byte(rng.Uint32()), 15: byte(rng.Uint32())}
		f.Dst = [16]byte{10: 0xff, 11: 0xff, 12: 198, 13: 18, 14: 0, 15: byte(rng.Uint32())}
		f.SrcPort = uint16(rng.Uint32())
		f.DstPort = 80
		f.Proto = 6
	}
	return flows
}

// loadedServers returns n servers with mixed weights and loads, none overloaded.
func loadedServers(tb testing.TB, n int) []Server {
	tb.Helper()
	servers := newServers(tb, make([]int32, n)...)
	for i := range servers {
		servers[i].Weight = int32(1 + i%7)
		setLoad(tb, servers[i].Load, int64(10+i%13), int64(i%5))
	}
	return servers
}

func TestScheduleDoesNotAllocate(t *testing.T) {
	flows := benchFlows(256)
	for _, name := range Names() {
		s := mustBuild(t, Config{Name: name, Servers: loadedServers(t, 100)}).Instance()
		i := 0
		allocs := testing.AllocsPerRun(1000, func() {
			s.Schedule(&flows[i%len(flows)], int64(i))
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: Schedule allocates %.1f times per call, want 0", name, allocs)
		}
	}
}

func BenchmarkSchedule(b *testing.B) {
	flows := benchFlows(1024)
	for _, name := range Names() {
		b.Run(name, func(b *testing.B) {
			s := mustBuild(b, Config{Name: name, Servers: loadedServers(b, 100)}).Instance()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				s.Schedule(&flows[i&1023], int64(i))
				i++
			}
		})
	}
}
