package synproxy

import (
	"testing"

	"fastlvs/header"
)

func testFlows() []Flow {
	return []Flow{
		{Src: client4.As16(), Dst: vip4.As16(), SrcPort: 40000, DstPort: 80},
		{Src: client6.As16(), Dst: vip6.As16(), SrcPort: 40000, DstPort: 443},
	}
}

func TestCookieRoundTrip(t *testing.T) {
	s := NewSecrets(testKey(1))
	for _, f := range testFlows() {
		for _, window := range []uint32{0, 1, 255, 256, 1 << 30, ^uint32(0)} {
			for _, isn := range []uint32{0, 1, 0x7fffffff, ^uint32(0)} {
				for idx := range NumMSSIndexes {
					now := Now{Window: window}
					c := s.Cookie(&f, isn, idx, now)
					got, ok := s.CheckCookie(&f, isn, c, now)
					if !ok || got != idx {
						t.Errorf("v6=%v window %d isn %#x index %d: check = %d, %v", f.IsIPv6(), window, isn, idx, got, ok)
					}
				}
			}
		}
	}
}

func TestCookieAge(t *testing.T) {
	s := NewSecrets(testKey(1))
	f := testFlows()[0]
	const window = 1000
	c := s.Cookie(&f, 42, 3, Now{Window: window})
	for age := uint32(0); age < 300; age++ {
		_, ok := s.CheckCookie(&f, 42, c, Now{Window: window + age})
		if want := age < MaxCookieAge; ok != want {
			t.Errorf("age %d windows: valid = %v, want %v", age, ok, want)
		}
	}
	// A cookie from the future (clock stepped back) is not valid either.
	if _, ok := s.CheckCookie(&f, 42, c, Now{Window: window - 1}); ok {
		t.Error("cookie from a later window accepted")
	}
}

func TestCookieRotation(t *testing.T) {
	s := NewSecrets(testKey(1))
	now := Now{Window: 77}
	for _, f := range testFlows() {
		before := s
		c := before.Cookie(&f, 9, 2, now)

		s1 := before
		s1.Rotate(testKey(100), now)
		if s1.Generation != before.Generation+1 {
			t.Fatalf("generation %d after rotate from %d", s1.Generation, before.Generation)
		}
		if idx, ok := s1.CheckCookie(&f, 9, c, now); !ok || idx != 2 {
			t.Errorf("cookie of the previous secret: %d, %v", idx, ok)
		}
		if idx, ok := s1.CheckCookie(&f, 9, c, Now{Window: now.Window + 1}); !ok || idx != 2 {
			t.Errorf("cookie of the previous secret one window later: %d, %v", idx, ok)
		}
		c1 := s1.Cookie(&f, 9, 1, now)
		if c1 == c {
			t.Error("rotation did not change the cookie")
		}
		if idx, ok := s1.CheckCookie(&f, 9, c1, now); !ok || idx != 1 {
			t.Errorf("cookie of the current secret: %d, %v", idx, ok)
		}

		s2 := s1
		s2.Rotate(testKey(200), now)
		if _, ok := s2.CheckCookie(&f, 9, c, now); ok {
			t.Error("cookie two rotations old accepted")
		}
		if _, ok := before.CheckCookie(&f, 9, c1, now); ok {
			t.Error("cookie of a newer secret accepted by the old one")
		}
	}
}

// The previous secret is consulted only while its cookies can be valid.
func TestPreviousSecretWindow(t *testing.T) {
	s := NewSecrets(testKey(1))
	if s.previousValid(0) {
		t.Error("fresh secrets have a previous key")
	}
	s.Rotate(testKey(2), Now{Window: 100})
	for w, want := range map[uint32]bool{99: true, 100: true, 101: true, 102: true, 103: false, 1 << 31: false} {
		if got := s.previousValid(w); got != want {
			t.Errorf("window %d: previous secret tried = %v, want %v", w, got, want)
		}
	}
	// Around the counter's wrap.
	s.Rotate(testKey(3), Now{Window: ^uint32(0)})
	if !s.previousValid(0) || !s.previousValid(1) || s.previousValid(2) {
		t.Error("previous secret window wrong across the counter wrap")
	}
}

func TestCookieTamperingRejected(t *testing.T) {
	s := NewSecrets(testKey(1))
	now := Now{Window: 5}
	for _, f := range testFlows() {
		c := s.Cookie(&f, 1234, 3, now)
		for bit := range 32 {
			if _, ok := s.CheckCookie(&f, 1234, c^1<<bit, now); ok {
				t.Errorf("cookie with bit %d flipped accepted", bit)
			}
		}
		if _, ok := s.CheckCookie(&f, 1235, c, now); ok {
			t.Error("cookie accepted for another client ISN")
		}
		for i, change := range []func(*Flow){
			func(g *Flow) { g.SrcPort++ },
			func(g *Flow) { g.DstPort++ },
			func(g *Flow) { g.Src[15]++ },
			func(g *Flow) { g.Dst[15]++ },
			func(g *Flow) { g.Src, g.Dst = g.Dst, g.Src },
		} {
			g := f
			change(&g)
			if _, ok := s.CheckCookie(&g, 1234, c, now); ok {
				t.Errorf("change %d of the flow: cookie accepted", i)
			}
		}
		other := NewSecrets(testKey(2))
		if _, ok := other.CheckCookie(&f, 1234, c, now); ok {
			t.Error("cookie accepted under another secret")
		}
	}
}

// A random guess validates with probability about NumMSSIndexes/2^24 per
// window tried; over many guesses that stays near zero.
func TestCookieGuessesRejected(t *testing.T) {
	s := NewSecrets(testKey(1))
	f := testFlows()[0]
	accepted := 0
	for guess := uint32(0); guess < 200_000; guess++ {
		if _, ok := s.CheckCookie(&f, 1, guess*21_474, Now{Window: 3}); ok {
			accepted++
		}
	}
	if accepted > 2 {
		t.Errorf("%d of 200000 guessed cookies accepted", accepted)
	}
}

func TestMSSIndex(t *testing.T) {
	for _, tc := range []struct {
		mss  uint16
		ipv6 bool
		want uint16
	}{
		{0, false, 536}, {535, false, 536}, {536, false, 536}, {1299, false, 536}, {1300, false, 1300},
		{1452, false, 1440}, {1460, false, 1460}, {9000, false, 1460},
		{0, true, 1220}, {1419, true, 1220}, {1420, true, 1420}, {1440, true, 1440}, {8939, true, 1440},
		{8940, true, 8940}, {65535, true, 8940},
	} {
		if got := MSSAt(MSSIndex(tc.mss, tc.ipv6), tc.ipv6); got != tc.want {
			t.Errorf("MSS %d (v6 %v) -> %d, want %d", tc.mss, tc.ipv6, got, tc.want)
		}
	}
}

func TestCookieTSVal(t *testing.T) {
	for _, tsNow := range []uint32{0, 1, 63, 64, 100, 1 << 20, ^uint32(0) - 5, ^uint32(0)} {
		for opts := uint32(0); opts < 1<<tsOptBits; opts++ {
			ts := cookieTSVal(tsNow, opts)
			if ts&(1<<tsOptBits-1) != opts {
				t.Fatalf("tsNow %d opts %#x: low bits of %#x", tsNow, opts, ts)
			}
			// Not after tsNow (mod 2^32) and less than 64 before it.
			if back := tsNow - ts; back >= 1<<tsOptBits {
				t.Fatalf("tsNow %d opts %#x: TSval %d is %d behind", tsNow, opts, ts, back)
			}
		}
	}
	if got := encodeTSOptions(false, 0, false, false); got != tsOptWScaleMask {
		t.Errorf("no options = %#x", got)
	}
	if got := encodeTSOptions(true, 20, true, true); got != header.TCPMaxWindowScale|tsOptSACK|tsOptECN {
		t.Errorf("wscale 20, sack, ecn = %#x", got)
	}
}
