package dataplane

import (
	"testing"

	"fastlvs/conntrack"
	"fastlvs/header"
)

func fragKeyN(i int) fragKey {
	k := fragKey{src: header.As16From4([4]byte{198, 18, 1, byte(i)}), dst: header.As16From4([4]byte{198, 18, 0, 20}),
		id: uint32(i), proto: header.ProtocolUDP}
	return k
}

func newFragTable() *fragTable { return &fragTable{hash: conntrack.NewHasher(1)} }

func TestFragTableRememberLookupExpire(t *testing.T) {
	tab := newFragTable()
	k := fragKeyN(1)
	d := fragDecision{method: MethodNAT, in: true, realID: 7}
	if tab.lookup(&k, 10) != nil {
		t.Fatal("empty table found a decision")
	}
	if !tab.remember(&k, &d, 10) {
		t.Fatal("remember in an empty table failed")
	}
	if got := tab.lookup(&k, 10+fragTimeout-1); got == nil || got.realID != 7 {
		t.Fatalf("lookup before the timeout: %+v", got)
	}
	other := k
	other.id++
	if tab.lookup(&other, 11) != nil {
		t.Error("another id found the decision")
	}
	if tab.lookup(&k, 10+fragTimeout) != nil {
		t.Error("decision outlived its timeout")
	}
}

// TestFragTableBucketFull: a bucket takes fragWays live datagrams, refuses
// the next, and takes it once one has expired.
func TestFragTableBucketFull(t *testing.T) {
	tab := newFragTable()
	want := tab.bucket(ptr(fragKeyN(0)))
	var same []fragKey
	for i := 0; len(same) < fragWays+1; i++ {
		k := fragKeyN(i)
		k.id = uint32(i) << 8
		if tab.bucket(&k) == want {
			same = append(same, k)
		}
	}
	d := fragDecision{method: MethodDR}
	for i, k := range same[:fragWays] {
		if !tab.remember(&k, &d, int64(100+i)) {
			t.Fatalf("way %d refused", i)
		}
	}
	if tab.remember(&same[fragWays], &d, 200) {
		t.Fatal("a full bucket took one more datagram")
	}
	if !tab.remember(&same[0], &d, 200) {
		t.Error("a retransmitted first fragment could not decide again")
	}
	if !tab.remember(&same[fragWays], &d, 101+fragTimeout) {
		t.Error("an expired way was not reused")
	}
}

func TestFragHoldBounds(t *testing.T) {
	var h fragHold
	frame := make([]byte, 100)
	for i := range fragHeldPerFlow {
		if r := h.hold(ptr(fragKeyN(0)), frame, 1, 10); r != held {
			t.Fatalf("fragment %d: %v", i, r)
		}
	}
	k0 := fragKeyN(0)
	if r := h.hold(&k0, frame, 1, 10); r != holdFlowFull {
		t.Fatalf("fifth fragment of one datagram: %v", r)
	}
	for i := 1; h.used < fragHeldSlots; i++ {
		k := fragKeyN(i)
		h.hold(&k, frame, 1, 10)
	}
	k := fragKeyN(999)
	if r := h.hold(&k, frame, 1, 10); r != holdSlotsFull {
		t.Fatalf("full slots: %v", r)
	}
	if r := h.hold(&k, make([]byte, handoffFrameMax+1), 1, 10); r != holdTooLarge && r != holdSlotsFull {
		t.Fatalf("oversized: %v", r)
	}
	n := 0
	for s := h.next(&k0); s != nil; s = h.next(&k0) {
		if s.port != 1 || s.length != len(frame) {
			t.Fatalf("held slot %+v", s.key)
		}
		h.free(s)
		n++
	}
	if n != fragHeldPerFlow {
		t.Errorf("released %d, want %d", n, fragHeldPerFlow)
	}
	if got := h.expire(10 + fragTimeout); got != fragHeldSlots-fragHeldPerFlow || h.used != 0 {
		t.Errorf("expired %d, %d left", got, h.used)
	}
}

func TestFragTableAllocs(t *testing.T) {
	tab := newFragTable()
	var h fragHold
	frame := make([]byte, 1500)
	d := fragDecision{method: MethodNAT}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		k := fragKeyN(i)
		i++
		tab.remember(&k, &d, int64(i))
		tab.lookup(&k, int64(i))
		h.hold(&k, frame, 0, int64(i))
		if s := h.next(&k); s != nil {
			h.free(s)
		}
		h.expire(int64(i))
	}); n != 0 {
		t.Errorf("%v allocations per operation, want 0", n)
	}
}

// FuzzFragTable drives the table and the held slots with arbitrary
// operations and checks their invariants: a remembered decision is found
// until it expires, the held slots never exceed their bounds.
func FuzzFragTable(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{3, 3, 3, 3, 3, 3, 1, 1, 1, 2, 2, 200, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tab := newFragTable()
		var h fragHold
		frame := make([]byte, 64)
		now := int64(1)
		for i := 0; i+1 < len(ops); i += 2 {
			k := fragKeyN(int(ops[i+1] % 16))
			switch ops[i] % 5 {
			case 0:
				d := fragDecision{realID: uint32(ops[i+1])}
				if tab.remember(&k, &d, now) {
					if got := tab.lookup(&k, now); got == nil || got.realID != d.realID {
						t.Fatalf("remembered decision not found: %+v", got)
					}
				}
			case 1:
				h.hold(&k, frame, 0, now)
			case 2:
				for s := h.next(&k); s != nil; s = h.next(&k) {
					if s.key != k {
						t.Fatal("next returned another datagram's fragment")
					}
					h.free(s)
				}
			case 3:
				now += int64(ops[i+1]) * fragTimeout / 64
				h.expire(now)
			case 4:
				tab.lookup(&k, now)
			}
			live, perKey := 0, map[fragKey]int{}
			for j := range h.slots {
				if s := &h.slots[j]; s.expires != 0 {
					live++
					perKey[s.key]++
					if perKey[s.key] > fragHeldPerFlow {
						t.Fatalf("%d fragments held for one datagram", perKey[s.key])
					}
				}
			}
			if live != h.used || live > fragHeldSlots {
				t.Fatalf("%d live slots, used says %d", live, h.used)
			}
		}
	})
}
