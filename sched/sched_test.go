package sched

import (
	"net/netip"
	"slices"
	"testing"
)

// newServers returns servers with the given weights, each with its own Load, at 198.18.2.1, .2, ...
func newServers(tb testing.TB, weights ...int32) []Server {
	tb.Helper()
	servers := make([]Server, len(weights))
	for i, w := range weights {
		addr := netip.AddrFrom4([4]byte{198, 18, byte(2 + i/250), byte(1 + i%250)})
		servers[i] = Server{Addr: addr.As16(), Port: 80, Weight: w, Load: new(Load)}
	}
	return servers
}

// setLoad makes a Load hold exactly active and inactive connections (through the public API).
func setLoad(tb testing.TB, l *Load, active, inactive int64) {
	tb.Helper()
	for l.Active() > active {
		l.ConnEnded(true)
	}
	for l.Active() < active {
		l.ConnStarted(true)
	}
	for l.Inactive() > inactive {
		l.ConnEnded(false)
	}
	for l.Inactive() < inactive {
		l.ConnStarted(false)
	}
}

func mustBuild(tb testing.TB, cfg Config) *Plan {
	tb.Helper()
	p, err := Build(cfg)
	if err != nil {
		tb.Fatalf("Build(%s): %v", cfg.Name, err)
	}
	return p
}

// picks runs n schedules and returns the chosen indexes.
func picks(s Scheduler, f *Flow, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = s.Schedule(f, 0)
	}
	return out
}

func TestNamesAllBuild(t *testing.T) {
	want := []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "twos"}
	got := Names()
	if !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	for _, name := range got {
		servers := newServers(t, 1, 2, 3)
		p := mustBuild(t, Config{Name: name, Servers: servers})
		if p.Name() != name {
			t.Errorf("Plan.Name() = %q, want %q", p.Name(), name)
		}
		if i := p.Instance().Schedule(&Flow{}, 0); i < 0 || i >= len(servers) {
			t.Errorf("%s: Schedule = %d, want a server", name, i)
		}
	}
}

func TestBuildRejects(t *testing.T) {
	good := newServers(t, 1)
	tests := []struct {
		name string
		cfg  Config
	}{
		{"unknown scheduler", Config{Name: "nope", Servers: good}},
		{"nil load", Config{Name: "rr", Servers: []Server{{Weight: 1}}}},
		{"negative weight", Config{Name: "rr", Servers: []Server{{Weight: -1, Load: new(Load)}}}},
		{"lower above upper", Config{Name: "rr", Servers: []Server{{Weight: 1, UpperThreshold: 5, LowerThreshold: 6, Load: new(Load)}}}},
		{"unknown flag", Config{Name: "sh", Flags: 0x80, Servers: good}},
	}
	for _, tt := range tests {
		if _, err := Build(tt.cfg); err == nil {
			t.Errorf("%s: Build succeeded, want an error", tt.name)
		}
	}
}

func TestParseFlag(t *testing.T) {
	tests := []struct {
		name string
		want Flags
	}{
		{"sh-fallback", FlagSHFallback}, {"sh-port", FlagSHPort},
		{"mh-fallback", FlagMHFallback}, {"mh-port", FlagMHPort},
		{"flag-1", 1}, {"flag-2", 2},
	}
	for _, tt := range tests {
		got, err := ParseFlag(tt.name)
		if err != nil || got != tt.want {
			t.Errorf("ParseFlag(%q) = %v, %v; want %v", tt.name, got, err, tt.want)
		}
	}
	if _, err := ParseFlag("sh-sticky"); err == nil {
		t.Error("ParseFlag(sh-sticky) succeeded")
	}
}

func TestRoundRobin(t *testing.T) {
	tests := []struct {
		name       string
		weights    []int32
		overloaded []int
		want       []int
	}{
		{"in order, wraps", []int32{1, 1, 1}, nil, []int{0, 1, 2, 0, 1, 2, 0}},
		{"weights ignored", []int32{5, 1}, nil, []int{0, 1, 0, 1}},
		{"quiescent skipped", []int32{1, 0, 1}, nil, []int{0, 2, 0, 2}},
		{"overloaded skipped", []int32{1, 1, 1}, []int{0}, []int{1, 2, 1, 2}},
		{"none available", []int32{0, 0}, nil, []int{-1, -1}},
		{"no servers", nil, nil, []int{-1}},
	}
	for _, tt := range tests {
		servers := newServers(t, tt.weights...)
		for _, i := range tt.overloaded {
			overload(t, &servers[i])
		}
		s := mustBuild(t, Config{Name: "rr", Servers: servers}).Instance()
		if got := picks(s, &Flow{}, len(tt.want)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: picks = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// overload gives a server an upper threshold of 1 and one connection, setting its overload flag.
func overload(tb testing.TB, s *Server) {
	tb.Helper()
	s.UpperThreshold = 1
	s.Load.SetThresholds(1, 0)
	s.Load.ConnStarted(false)
	if !s.Load.Overloaded() {
		tb.Fatal("overload: flag not set")
	}
}

func TestWeightedRoundRobin(t *testing.T) {
	tests := []struct {
		name       string
		weights    []int32
		overloaded []int
		want       []int
	}{
		// ip_vs_wrr.c: cw starts at the maximum weight and falls by the gcd after each pass.
		{"4,3,2", []int32{4, 3, 2}, nil, []int{0, 0, 1, 0, 1, 2, 0, 1, 2, 0, 0, 1, 0, 1, 2, 0, 1, 2}},
		{"gcd steps 4,2", []int32{4, 2}, nil, []int{0, 0, 1, 0, 0, 1}},
		{"gcd 3: 6,3,3", []int32{6, 3, 3}, nil, []int{0, 0, 1, 2, 0, 0, 1, 2}},
		{"equal weights", []int32{2, 2, 2}, nil, []int{0, 1, 2, 0, 1, 2}},
		{"quiescent skipped", []int32{2, 0, 1}, nil, []int{0, 0, 2, 0, 0, 2}},
		{"overloaded skipped", []int32{4, 3, 2}, []int{0}, []int{1, 1, 2, 1, 2, 1, 1, 2}},
		{"all quiescent", []int32{0, 0}, nil, []int{-1, -1}},
		{"all overloaded", []int32{1, 2}, []int{0, 1}, []int{-1, -1}},
	}
	for _, tt := range tests {
		servers := newServers(t, tt.weights...)
		for _, i := range tt.overloaded {
			overload(t, &servers[i])
		}
		s := mustBuild(t, Config{Name: "wrr", Servers: servers}).Instance()
		if got := picks(s, &Flow{}, len(tt.want)); !slices.Equal(got, tt.want) {
			t.Errorf("%s: picks = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestWeightedRoundRobinCounts(t *testing.T) {
	weights := []int32{7, 5, 3, 1, 0}
	s := mustBuild(t, Config{Name: "wrr", Servers: newServers(t, weights...)}).Instance()
	counts := make([]int, len(weights))
	for _, i := range picks(s, &Flow{}, 16*10) {
		counts[i]++
	}
	for i, w := range weights {
		if counts[i] != int(w)*10 {
			t.Errorf("server %d (weight %d): %d picks in 10 cycles, want %d", i, w, counts[i], w*10)
		}
	}
}

type loadRow struct{ weight, active, inactive int64 }

// buildLoaded builds a scheduler over servers with the given weights and loads.
func buildLoaded(tb testing.TB, name string, rows []loadRow) ([]Server, Scheduler) {
	tb.Helper()
	servers := make([]Server, len(rows))
	for i, r := range rows {
		servers[i] = newServers(tb, int32(r.weight))[0]
		servers[i].Addr[15] = byte(i + 1)
		setLoad(tb, servers[i].Load, r.active, r.inactive)
	}
	return servers, mustBuild(tb, Config{Name: name, Servers: servers}).Instance()
}

func TestLeastConnectionFamily(t *testing.T) {
	tests := []struct {
		sched string
		name  string
		rows  []loadRow
		want  int
	}{
		{"lc", "fewest overhead", []loadRow{{1, 3, 0}, {1, 2, 0}, {1, 2, 1}}, 1},
		{"lc", "active costs 256 inactive", []loadRow{{1, 1, 0}, {1, 0, 255}}, 1},
		{"lc", "256 inactive tie an active: first wins", []loadRow{{1, 1, 0}, {1, 0, 256}}, 0},
		{"lc", "weights ignored", []loadRow{{100, 2, 0}, {1, 1, 0}}, 1},
		{"lc", "quiescent skipped", []loadRow{{0, 0, 0}, {1, 9, 0}}, 1},
		{"wlc", "overhead per weight", []loadRow{{1, 2, 0}, {3, 5, 0}}, 1},             // 512/1 vs 1280/3
		{"wlc", "tie keeps the first", []loadRow{{1, 2, 0}, {2, 4, 0}}, 0},             // 512/1 = 1024/2
		{"wlc", "inactive counts", []loadRow{{1, 1, 0}, {1, 0, 300}}, 0},               // 256 vs 300
		{"wlc", "heavier weight absorbs more", []loadRow{{1, 1, 0}, {4, 3, 0}}, 1},     // 256 vs 192
		{"wlc", "quiescent skipped even if idle", []loadRow{{0, 0, 0}, {2, 50, 0}}, 1}, //
		{"wlc", "none", []loadRow{{0, 0, 0}}, -1},
		{"sed", "(active+1)/weight", []loadRow{{1, 0, 0}, {3, 1, 0}}, 1}, // 1/1 vs 2/3
		{"sed", "inactive ignored", []loadRow{{1, 0, 500}, {1, 1, 0}}, 0},
		{"sed", "idle heavy beats idle light", []loadRow{{1, 0, 0}, {2, 0, 0}}, 1},
		{"nq", "idle server first even if light", []loadRow{{1, 0, 0}, {2, 0, 0}}, 0},
		{"nq", "idle beats sed's choice", []loadRow{{10, 1, 0}, {1, 0, 0}}, 1},
		{"nq", "no idle: as sed", []loadRow{{1, 1, 0}, {10, 2, 0}}, 1},
		{"nq", "quiescent idle skipped", []loadRow{{0, 0, 0}, {1, 5, 0}}, 1},
	}
	for _, tt := range tests {
		_, s := buildLoaded(t, tt.sched, tt.rows)
		if got := s.Schedule(&Flow{}, 0); got != tt.want {
			t.Errorf("%s %s: Schedule = %d, want %d", tt.sched, tt.name, got, tt.want)
		}
	}
}

func TestLeastConnectionSkipsOverloaded(t *testing.T) {
	for _, name := range []string{"lc", "wlc", "sed", "nq"} {
		servers, s := buildLoaded(t, name, []loadRow{{1, 0, 0}, {1, 3, 0}})
		overload(t, &servers[0])
		if got := s.Schedule(&Flow{}, 0); got != 1 {
			t.Errorf("%s: Schedule = %d with server 0 overloaded, want 1", name, got)
		}
	}
}

// TestWeightedLeastConnectionSpreads checks that wlc fed its own picks converges to the weights.
func TestWeightedLeastConnectionSpreads(t *testing.T) {
	servers, s := buildLoaded(t, "wlc", []loadRow{{1, 0, 0}, {2, 0, 0}, {5, 0, 0}})
	for range 800 {
		servers[s.Schedule(&Flow{}, 0)].Load.ConnStarted(true)
	}
	for i, want := range []int64{100, 200, 500} {
		if got := servers[i].Load.Active(); got < want-1 || got > want+1 {
			t.Errorf("server %d: %d active after 800 picks, want %d±1", i, got, want)
		}
	}
}
