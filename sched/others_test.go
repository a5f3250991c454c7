package sched

import (
	"net/netip"
	"testing"
	"time"
)

func TestFailoverAndOverflow(t *testing.T) {
	tests := []struct {
		sched string
		name  string
		rows  []loadRow
		want  int
	}{
		{"fo", "highest weight", []loadRow{{1, 0, 0}, {5, 100, 0}, {3, 0, 0}}, 1},
		{"fo", "tie: first", []loadRow{{5, 9, 0}, {5, 0, 0}}, 0},
		{"fo", "load ignored", []loadRow{{2, 1000, 1000}, {1, 0, 0}}, 0},
		{"fo", "quiescent skipped", []loadRow{{0, 0, 0}, {1, 0, 0}}, 1},
		{"fo", "none", []loadRow{{0, 0, 0}}, -1},
		{"ovf", "highest weight while active <= weight", []loadRow{{2, 0, 0}, {3, 3, 0}}, 1},
		{"ovf", "overflows once active > weight", []loadRow{{2, 0, 0}, {3, 4, 0}}, 0},
		{"ovf", "inactive ignored", []loadRow{{3, 0, 1000}, {2, 0, 0}}, 0},
		{"ovf", "tie: first", []loadRow{{3, 3, 0}, {3, 0, 0}}, 0},
		{"ovf", "all overflowing: none", []loadRow{{1, 2, 0}, {2, 3, 0}}, -1},
		{"ovf", "quiescent skipped", []loadRow{{0, 0, 0}, {1, 1, 0}}, 1},
	}
	for _, tt := range tests {
		_, s := buildLoaded(t, tt.sched, tt.rows)
		if got := s.Schedule(&Flow{}, 0); got != tt.want {
			t.Errorf("%s %s: Schedule = %d, want %d", tt.sched, tt.name, got, tt.want)
		}
	}
}

func TestFailoverSkipsOverloaded(t *testing.T) {
	for _, name := range []string{"fo", "ovf"} {
		servers, s := buildLoaded(t, name, []loadRow{{5, 0, 0}, {1, 0, 0}})
		overload(t, &servers[0])
		if got := s.Schedule(&Flow{}, 0); got != 1 {
			t.Errorf("%s: Schedule = %d with the heavy server overloaded, want 1", name, got)
		}
	}
}

func flowTo(dst string) *Flow {
	return &Flow{Src: netip.MustParseAddr("198.18.1.1").As16(), Dst: netip.MustParseAddr(dst).As16(), Proto: protoTCP}
}

// TestLocalityLeastConn: a destination sticks to its server; it moves (and stays moved) when that server is
// overloaded in lblc's sense, quiescent, or over its threshold.
func TestLocalityLeastConn(t *testing.T) {
	servers, s := buildLoaded(t, "lblc", []loadRow{{4, 0, 0}, {4, 1, 0}})
	a, b := flowTo("198.18.0.1"), flowTo("198.18.0.2")
	if got := s.Schedule(a, 1); got != 0 {
		t.Fatalf("first pick for a = %d, want 0 (wlc)", got)
	}
	setLoad(t, servers[0].Load, 3, 0) // now server 1 is less loaded
	if got := s.Schedule(a, 2); got != 0 {
		t.Fatalf("a = %d, want 0: the destination sticks while its server is not overloaded", got)
	}
	if got := s.Schedule(b, 2); got != 1 {
		t.Fatalf("new destination b = %d, want 1 (wlc)", got)
	}
	// Server 0 above its weight while server 1 is below half of its: a moves to 1 and stays there.
	setLoad(t, servers[0].Load, 5, 0)
	if got := s.Schedule(a, 3); got != 1 {
		t.Fatalf("a = %d with its server overloaded, want 1", got)
	}
	setLoad(t, servers[0].Load, 0, 0)
	if got := s.Schedule(a, 4); got != 1 {
		t.Fatalf("a = %d after reassignment, want 1 (the entry moved)", got)
	}
	// Above its weight but no server is below half its weight: not overloaded, a stays.
	setLoad(t, servers[1].Load, 5, 0)
	setLoad(t, servers[0].Load, 2, 0)
	if got := s.Schedule(a, 5); got != 1 {
		t.Fatalf("a = %d, want 1: server 1 is above its weight but nobody is below half", got)
	}
}

func TestLocalityExpiry(t *testing.T) {
	servers := newServers(t, 1, 1)
	p := mustBuild(t, Config{Name: "lblc", Servers: servers, LocalityExpiration: time.Minute})
	s := p.Instance()
	a := flowTo("198.18.0.1")
	if got := s.Schedule(a, 0); got != 0 {
		t.Fatalf("first pick = %d, want 0", got)
	}
	setLoad(t, servers[0].Load, 1, 0)
	if got := s.Schedule(a, int64(time.Minute)); got != 0 {
		t.Fatalf("pick within the expiration = %d, want 0", got)
	}
	if got := s.Schedule(a, int64(2*time.Minute)+1); got != 1 {
		t.Fatalf("pick after the entry expired = %d, want 1 (fresh wlc)", got)
	}
}

// TestLocalityTableIsBounded: far more destinations than entries still schedule, and recent ones stay cached.
func TestLocalityTableIsBounded(t *testing.T) {
	for _, name := range []string{"lblc", "lblcr"} {
		servers := newServers(t, 1, 1)
		s := mustBuild(t, Config{Name: name, Servers: servers, LocalityTableSize: 16}).Instance()
		for i := range 1000 {
			f := flowTo(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}).String())
			if got := s.Schedule(f, int64(i)); got < 0 {
				t.Fatalf("%s: destination %d got no server", name, i)
			}
		}
		if _, err := Build(Config{Name: name, Servers: servers, LocalityTableSize: 100}); err == nil {
			t.Errorf("%s: table size 100 (not a power of two) accepted", name)
		}
	}
}

func TestReplicatedLocality(t *testing.T) {
	servers := newServers(t, 2, 2, 2)
	s := mustBuild(t, Config{Name: "lblcr", Servers: servers, LocalityExpiration: time.Minute}).Instance()
	a := flowTo("198.18.0.1")
	if got := s.Schedule(a, 0); got != 0 {
		t.Fatalf("first pick = %d, want 0", got)
	}
	// Server 0 above its weight, server 2 idle: a new server joins the set (wlc over all picks 1 — tie goes first).
	setLoad(t, servers[0].Load, 3, 0)
	if got := s.Schedule(a, 1); got != 1 {
		t.Fatalf("pick with server 0 overloaded = %d, want 1 (joins the set)", got)
	}
	// The set is now {0, 1}; the least loaded member wins, even though server 2 is idler.
	setLoad(t, servers[0].Load, 1, 0)
	setLoad(t, servers[1].Load, 2, 0)
	if got := s.Schedule(a, 2); got != 0 {
		t.Fatalf("pick from set {0,1} = %d, want 0 (least loaded member)", got)
	}
	setLoad(t, servers[0].Load, 2, 0)
	setLoad(t, servers[1].Load, 1, 0)
	if got := s.Schedule(a, 3); got != 1 {
		t.Fatalf("pick from set {0,1} = %d, want 1 (least loaded member)", got)
	}
	// After the expiration without growth, the most loaded member (0) is shed.
	setLoad(t, servers[0].Load, 0, 0)
	if got := s.Schedule(a, int64(time.Minute)+2); got != 0 {
		t.Fatalf("pick at expiry = %d, want 0 (least loaded before the shed)", got)
	}
	setLoad(t, servers[1].Load, 1, 0)
	if got := s.Schedule(a, int64(time.Minute)+3); got != 0 {
		t.Fatalf("pick after the shed = %d, want 0 (server 1 was the most loaded and left)", got)
	}
}

func sourceFlow(src string, port uint16) *Flow {
	return &Flow{Src: netip.MustParseAddr(src).As16(), Dst: netip.MustParseAddr("198.18.0.10").As16(),
		SrcPort: port, DstPort: 80, Proto: protoTCP}
}

func TestBucketCountsFollowWeights(t *testing.T) {
	tests := []struct {
		weights []int32
		want    []int
	}{
		{[]int32{1, 1, 1, 1}, []int{64, 64, 64, 64}},
		{[]int32{1, 3}, []int{64, 192}},
		{[]int32{2, 6}, []int{64, 192}},            // gcd-reduced to 1:3
		{[]int32{100, 300}, []int{64, 192}},        // IPVS would give 100 and 156
		{[]int32{1, 0, 1}, []int{128, 0, 128}},     // quiescent: no bucket
		{[]int32{0, 0}, []int{0, 0}},               // nothing to fill
		{[]int32{1, 2, 3}, []int{43, 86, 127}},     // 42 full rounds of 6, then 1+2+1
		{[]int32{255, 254, 3}, []int{128, 126, 2}}, // scaled down to fit 256
		{[]int32{1000, 1, 1}, []int{254, 1, 1}},    // scaled, every server keeps one bucket
		{[]int32{1, 1, 1, 1, 1, 1, 1}, []int{37, 37, 37, 37, 36, 36, 36}},
	}
	for _, name := range []string{"dh", "sh"} {
		for _, tt := range tests {
			p := mustBuild(t, Config{Name: name, Servers: newServers(t, tt.weights...)})
			got, err := p.BucketCounts()
			if err != nil {
				t.Fatal(err)
			}
			if !equalInts(got, tt.want) {
				t.Errorf("%s weights %v: buckets %v, want %v", name, tt.weights, got, tt.want)
			}
		}
	}
	if _, err := mustBuild(t, Config{Name: "wlc", Servers: newServers(t, 1)}).BucketCounts(); err == nil {
		t.Error("BucketCounts on wlc succeeded")
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSourceHashing: ip_vs_sh.c's hash and fill put 198.18.1.1 in bucket hash_32(0xC6120101, 8); sh-port mixes in
// the source port; a quiescent or overloaded server gets no client without sh-fallback, and its clients go to the
// next available bucket with it.
func TestSourceHashing(t *testing.T) {
	servers := newServers(t, 1, 1, 1, 1)
	p := mustBuild(t, Config{Name: "sh", Servers: servers})
	s := p.Instance()
	client := sourceFlow("198.18.1.1", 1000)
	addr := uint32(0xC6120101)
	wantBucket := addr * goldenRatio32 >> 24
	want := int(wantBucket % 4) // weights 1,1,1,1 fill buckets 0,1,2,3,0,1,...
	if got := s.Schedule(client, 0); got != want {
		t.Fatalf("sh 198.18.1.1 = %d, want %d (bucket %d)", got, want, wantBucket)
	}
	other := sourceFlow("198.18.1.1", 2000)
	if got := s.Schedule(other, 0); got != want {
		t.Errorf("sh ignores ports without sh-port: %d, want %d", got, want)
	}

	ported := mustBuild(t, Config{Name: "sh", Flags: FlagSHPort, Servers: servers}).Instance()
	seen := map[int]bool{}
	for port := range uint16(64) {
		seen[ported.Schedule(sourceFlow("198.18.1.1", port), 0)] = true
	}
	if len(seen) != 4 {
		t.Errorf("sh-port: one address over 64 ports reached %d servers, want all 4", len(seen))
	}

	// Quiesce the client's server by rebuilding with weight 0 would refill the table; overload it instead.
	overload(t, &servers[want])
	if got := s.Schedule(client, 0); got != -1 {
		t.Errorf("sh without fallback, server overloaded: %d, want -1", got)
	}
	fallback := mustBuild(t, Config{Name: "sh", Flags: FlagSHFallback, Servers: servers}).Instance()
	if got := fallback.Schedule(client, 0); got < 0 || got == want {
		t.Errorf("sh-fallback, server %d overloaded: %d, want another server", want, got)
	}
}

func TestSourceHashingStableAndIPv6(t *testing.T) {
	servers := newServers(t, 1, 2, 3)
	first := mustBuild(t, Config{Name: "sh", Servers: servers}).Instance()
	second := mustBuild(t, Config{Name: "sh", Servers: newServers(t, 1, 2, 3)}).Instance()
	for i := range 200 {
		for _, src := range []string{
			netip.AddrFrom4([4]byte{198, 18, 1, byte(i)}).String(),
			netip.AddrFrom16([16]byte{0x20, 0x01, 0, 2, 0, 1, 15: byte(i)}).String(),
		} {
			f := sourceFlow(src, 0)
			x := first.Schedule(f, 0)
			if x < 0 || x != second.Schedule(f, 0) || x != first.Schedule(f, 0) {
				t.Fatalf("%s: unstable or missing mapping", src)
			}
		}
	}
}

func TestDestinationHashing(t *testing.T) {
	servers := newServers(t, 1, 1)
	s := mustBuild(t, Config{Name: "dh", Servers: servers}).Instance()
	// ip_vs_dh_hashkey: (addr · 2654435761) & 255 → bucket; buckets alternate 0,1.
	dst := "198.18.0.7"
	addr := uint64(0xC6120007)
	bucket := addr * 2654435761 & 255
	want := int(bucket % 2)
	f := flowTo(dst)
	for range 3 {
		if got := s.Schedule(f, 0); got != want {
			t.Fatalf("dh %s = %d, want %d (bucket %d)", dst, got, want, bucket)
		}
	}
	f.Src[15]++ // another client, same destination
	if got := s.Schedule(f, 0); got != want {
		t.Errorf("dh follows the source: %d, want %d", got, want)
	}
	overload(t, &servers[want])
	if got := s.Schedule(f, 0); got != -1 {
		t.Errorf("dh with its server overloaded = %d, want -1 (no fallback in dh)", got)
	}
}

func TestMaglevFlags(t *testing.T) {
	servers := newServers(t, 1, 1, 1, 1, 1, 1, 1, 1)
	plain := mustBuild(t, Config{Name: "mh", Servers: servers}).Instance()
	client := sourceFlow("198.18.1.9", 1000)
	home := plain.Schedule(client, 0)
	if home < 0 {
		t.Fatal("mh: no server")
	}
	if got := plain.Schedule(sourceFlow("198.18.1.9", 2000), 0); got != home {
		t.Errorf("mh without mh-port depends on the port: %d vs %d", got, home)
	}
	ported := mustBuild(t, Config{Name: "mh", Flags: FlagMHPort, Servers: servers}).Instance()
	seen := map[int]bool{}
	for port := range uint16(200) {
		seen[ported.Schedule(sourceFlow("198.18.1.9", port), 0)] = true
	}
	if len(seen) != len(servers) {
		t.Errorf("mh-port: one address over 200 ports reached %d servers, want %d", len(seen), len(servers))
	}
	overload(t, &servers[home])
	if got := plain.Schedule(client, 0); got != -1 {
		t.Errorf("mh without fallback, server overloaded: %d, want -1", got)
	}
	fallback := mustBuild(t, Config{Name: "mh", Flags: FlagMHFallback, Servers: servers}).Instance()
	moved := fallback.Schedule(client, 0)
	if moved < 0 || moved == home {
		t.Errorf("mh-fallback with server %d overloaded: %d, want another server", home, moved)
	}
	if again := fallback.Schedule(client, 0); again != moved {
		t.Errorf("mh-fallback is not stable: %d then %d", moved, again)
	}
	// Every server down but one: the fallback still finds it.
	for i := range servers {
		if i != 3 && i != home {
			overload(t, &servers[i])
		}
	}
	if got := fallback.Schedule(client, 0); got != 3 {
		t.Errorf("mh-fallback with only server 3 available: %d, want 3", got)
	}
}

// TestMaglevQuiescentServerLeavesOthersInPlace: setting a weight to 0 moves only that server's clients.
func TestMaglevQuiescentServerLeavesOthersInPlace(t *testing.T) {
	servers := newServers(t, 1, 1, 1, 1, 1)
	before := mustBuild(t, Config{Name: "mh", Servers: servers}).Instance()
	servers[2].Weight = 0
	after := mustBuild(t, Config{Name: "mh", Servers: servers}).Instance()
	moved := 0
	for _, f := range benchFlows(2000) {
		x, y := before.Schedule(&f, 0), after.Schedule(&f, 0)
		if y == 2 {
			t.Fatal("quiescent server got a client")
		}
		if x != 2 && x != y {
			moved++
		}
	}
	if moved > 2000/50 {
		t.Errorf("%d of 2000 clients of other servers moved when server 2 was quiesced, want < 2%%", moved)
	}
}

func TestTwoChoices(t *testing.T) {
	servers := newServers(t, 1, 1, 0)
	s := mustBuild(t, Config{Name: "twos", Servers: servers}).Instance()
	// Server 0 busy: whenever both draws are made, the idler server 1 wins; server 0 wins only when drawn twice.
	setLoad(t, servers[0].Load, 10, 0)
	counts := [3]int{}
	for range 4000 {
		counts[s.Schedule(&Flow{}, 0)]++
	}
	if counts[2] != 0 {
		t.Errorf("quiescent server picked %d times", counts[2])
	}
	if counts[0] < 700 || counts[0] > 1300 { // drawn twice with probability 1/4
		t.Errorf("busy server picked %d of 4000 times, want about 1000", counts[0])
	}
	// Fed with its own picks, twos spreads in proportion to weight.
	weighted := newServers(t, 1, 3)
	s = mustBuild(t, Config{Name: "twos", Servers: weighted}).Instance()
	for range 4000 {
		weighted[s.Schedule(&Flow{}, 0)].Load.ConnStarted(true)
	}
	if got := weighted[1].Load.Active(); got < 2900 || got > 3100 {
		t.Errorf("weight 3 of 1+3 took %d of 4000 connections, want about 3000", got)
	}
	overload(t, &weighted[1])
	overload(t, &weighted[0])
	if got := s.Schedule(&Flow{}, 0); got != -1 {
		t.Errorf("twos with every server overloaded = %d, want -1", got)
	}
}

// TestTwoChoicesDrawsByWeight: the alias table's draws follow the weights.
func TestTwoChoicesDrawsByWeight(t *testing.T) {
	weights := []int32{1, 0, 2, 7, 3, 5}
	s := mustBuild(t, Config{Name: "twos", Servers: newServers(t, weights...)}).Instance().(*twoChoices)
	const draws = 180000
	counts := make([]int, len(weights))
	for range draws {
		counts[s.draw()]++
	}
	for i, w := range weights {
		want := float64(draws) * float64(w) / 18
		if diff := float64(counts[i]) - want; diff > want*0.03+1 || -diff > want*0.03+1 {
			t.Errorf("server %d (weight %d): drawn %d times, want %.0f ± 3%%", i, w, counts[i], want)
		}
	}
}
