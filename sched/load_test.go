package sched

import (
	"sync"
	"testing"
	"unsafe"
)

func TestLoadFillsOneCacheLine(t *testing.T) {
	if size := unsafe.Sizeof(Load{}); size != cacheLine {
		t.Errorf("Load is %d bytes, want %d (one cache line)", size, cacheLine)
	}
}

func TestLoadCounts(t *testing.T) {
	var l Load
	l.ConnStarted(false) // SYN_RECV
	l.ConnChanged(false, true)
	l.ConnStarted(true)
	l.ConnChanged(true, true) // no change
	l.ConnChanged(true, false)
	if l.Active() != 1 || l.Inactive() != 1 {
		t.Fatalf("active %d inactive %d, want 1 1", l.Active(), l.Inactive())
	}
	l.ConnEnded(true)
	l.ConnEnded(false)
	if l.Active() != 0 || l.Inactive() != 0 {
		t.Fatalf("active %d inactive %d, want 0 0", l.Active(), l.Inactive())
	}
}

func TestLoadConcurrentUpdates(t *testing.T) {
	var l Load
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 10000 {
				l.ConnStarted(false)
				l.ConnChanged(false, true)
			}
			for range 5000 {
				l.ConnEnded(true)
			}
		})
	}
	wg.Wait()
	if l.Active() != 20000 || l.Inactive() != 0 {
		t.Fatalf("active %d inactive %d after concurrent updates, want 20000 0", l.Active(), l.Inactive())
	}
}

// TestLoadThresholds follows IPVS: overloaded at total >= upper; cleared below lower, or below 3/4 of upper when
// no lower threshold is set.
func TestLoadThresholds(t *testing.T) {
	tests := []struct {
		name         string
		upper, lower uint32
		clearsBelow  int64 // the first total at which the flag is clear again on the way down
	}{
		{"upper and lower", 10, 4, 3},
		{"upper only: 3/4 of upper", 8, 0, 5}, // 5*4 = 20 < 24; 6*4 = 24 is not
		{"lower equal to upper", 5, 5, 4},
	}
	for _, tt := range tests {
		var l Load
		l.SetThresholds(tt.upper, tt.lower)
		for total := int64(1); total <= int64(tt.upper); total++ {
			l.ConnStarted(total%2 == 0)
			if got, want := l.Overloaded(), total >= int64(tt.upper); got != want {
				t.Errorf("%s: up at total %d: overloaded %v, want %v", tt.name, total, got, want)
			}
		}
		for total := int64(tt.upper) - 1; total >= 0; total-- {
			l.ConnEnded(l.Active() > 0)
			if got, want := l.Overloaded(), total > tt.clearsBelow; got != want {
				t.Errorf("%s: down at total %d: overloaded %v, want %v", tt.name, total, got, want)
			}
		}
	}
}

func TestLoadThresholdEdits(t *testing.T) {
	var l Load
	l.SetThresholds(2, 0)
	l.ConnStarted(true)
	l.ConnStarted(true)
	if !l.Overloaded() {
		t.Fatal("not overloaded at the upper threshold")
	}
	l.SetThresholds(2, 1) // same upper: the flag stays
	if !l.Overloaded() {
		t.Error("re-installing the same upper threshold cleared the flag")
	}
	l.SetThresholds(3, 0) // raised: IPVS clears it
	if l.Overloaded() {
		t.Error("raising the upper threshold kept the flag")
	}
	l.SetThresholds(2, 0)
	l.ConnStarted(false)
	l.SetThresholds(0, 0) // removed
	if l.Overloaded() {
		t.Error("removing the threshold kept the flag")
	}
	l.ConnStarted(false)
	if l.Overloaded() {
		t.Error("overloaded with no threshold")
	}
}

// TestBuildInstallsThresholds: a server over its threshold gets no new connection from any scheduler.
func TestBuildInstallsThresholds(t *testing.T) {
	for _, name := range Names() {
		servers := newServers(t, 1)
		servers[0].UpperThreshold = 2
		p := mustBuild(t, Config{Name: name, Servers: servers})
		s := p.Instance()
		f := benchFlows(1)[0]
		for range 2 {
			if got := s.Schedule(&f, 0); got != 0 {
				t.Fatalf("%s: Schedule = %d under the threshold, want 0", name, got)
			}
			servers[0].Load.ConnStarted(true)
		}
		if got := s.Schedule(&f, 0); got != -1 {
			t.Errorf("%s: Schedule = %d at the upper threshold, want -1", name, got)
		}
		servers[0].Load.ConnEnded(true) // 1 < 3/4·2: clear
		if got := s.Schedule(&f, 0); got != 0 {
			t.Errorf("%s: Schedule = %d after falling below 3/4 of the threshold, want 0", name, got)
		}
	}
}

// TestWorkersShareAPlan runs several workers' instances of one plan concurrently while they update the shared
// Loads: under -race this proves instances write only their own state.
func TestWorkersShareAPlan(t *testing.T) {
	flows := benchFlows(64)
	for _, name := range Names() {
		servers := newServers(t, 1, 2, 3, 4)
		for i := range servers {
			servers[i].UpperThreshold = 50
		}
		p := mustBuild(t, Config{Name: name, Servers: servers})
		var wg sync.WaitGroup
		for range 3 {
			s := p.Instance()
			wg.Go(func() {
				for i := range 2000 {
					if picked := s.Schedule(&flows[i%len(flows)], int64(i)); picked >= 0 {
						servers[picked].Load.ConnStarted(true)
						servers[picked].Load.ConnEnded(true)
					}
				}
			})
		}
		wg.Wait()
		for i, s := range servers {
			if s.Load.Active() != 0 || s.Load.Overloaded() {
				t.Errorf("%s: server %d left with %d active (overloaded %v)", name, i, s.Load.Active(), s.Load.Overloaded())
			}
		}
	}
}
