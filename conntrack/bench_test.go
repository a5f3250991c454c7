package conntrack

import (
	"fmt"
	"testing"
	"time"
)

// benchTuple derives conn i's inbound tuple without storing keys (a key array would distort memory numbers):
// 16 client ports per client address, clients spread over 10/8 and 11/8.
func benchConn(i uint32) (Conn, Tuple, Tuple) {
	c := Conn{
		Client: addr4(10+byte(i>>28), i>>4), ClientPort: uint16(1024 + i&15),
		Virtual: addr4(198, 18<<16|10), VirtualPort: 80,
		Real: addr4(198, 18<<16|2<<8|i%50), RealPort: 8080, Proto: 6,
	}
	in := inTupleOf(&c)
	out := Tuple{Src: c.Real, Dst: c.Client, SrcPort: c.RealPort, DstPort: c.ClientPort, Proto: 6}
	return c, in, out
}

func fillTable(b *testing.B, entries int) *Table {
	b.Helper()
	tab, err := New(Config{Capacity: entries, TemplateCapacity: 64})
	if err != nil {
		b.Fatal(err)
	}
	for i := range uint32(entries) {
		c, in, out := benchConn(i)
		if _, err := tab.Insert(&c, &in, &out, 0); err != nil {
			b.Fatal(err)
		}
	}
	return tab
}

func reportBytesPerConn(b *testing.B, tab *Table) {
	b.ReportMetric(float64(tab.MemoryBytes())/float64(tab.Capacity()), "bytes/conn")
}

// BenchmarkConntrackLookup looks up random present keys (alternating directions) in a full table of NAT conns
// (two index slots each: the worst case for the index).
func BenchmarkConntrackLookup(b *testing.B) {
	for _, n := range []int{1 << 20, 10 << 20} {
		label := fmt.Sprintf("%dM", n>>20)
		if n == 1<<20 {
			label = "1M"
		}
		b.Run("entries="+label, func(b *testing.B) {
			tab := fillTable(b, n)
			b.ReportAllocs()
			x := uint64(0x9e3779b97f4a7c15)
			var found int
			for b.Loop() {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				_, in, out := benchConn(uint32(x % uint64(n)))
				key := &in
				if x&(1<<40) != 0 {
					key = &out
				}
				if ref, _ := tab.Lookup(key); ref != 0 {
					found++
				}
			}
			if found != b.N {
				b.Fatalf("found %d of %d", found, b.N)
			}
			reportBytesPerConn(b, tab)
		})
	}
}

// BenchmarkConntrackInsertExpire runs a table at a steady 1M conns: each op inserts one new conn and advances the
// clock so that, on average, one old conn expires per op, reaped by Expire with a per-batch budget.
func BenchmarkConntrackInsertExpire(b *testing.B) {
	b.Run("entries=1M", func(b *testing.B) {
		const n = 1 << 20
		const step = int64(100 * time.Microsecond)
		tab, err := New(Config{Capacity: n + n/8, TemplateCapacity: 64,
			Timeouts: Timeouts{None: time.Duration(n * step)}})
		if err != nil {
			b.Fatal(err)
		}
		now := int64(0)
		i := uint32(0)
		for ; i < n; i++ {
			c, in, out := benchConn(i)
			if _, err := tab.Insert(&c, &in, &out, now); err != nil {
				b.Fatal(err)
			}
			now += step
		}
		b.ReportAllocs()
		for b.Loop() {
			c, in, out := benchConn(i)
			if _, err := tab.Insert(&c, &in, &out, now); err != nil {
				b.Fatalf("insert %d at len %d: %v", i, tab.Len(), err)
			}
			tab.Expire(now, 64, nil)
			now += step
			i++
		}
		reportBytesPerConn(b, tab)
	})
}
