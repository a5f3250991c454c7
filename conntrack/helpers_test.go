package conntrack

import (
	"encoding/binary"
	"testing"
	"time"
)

const sec = int64(time.Second)

// addr4 returns ::ffff:a.b.c.d with the last three bytes taken from n.
func addr4(a byte, n uint32) [16]byte {
	var x [16]byte
	x[10], x[11] = 0xff, 0xff
	x[12] = a
	x[13], x[14], x[15] = byte(n>>16), byte(n>>8), byte(n)
	return x
}

func addr6(n uint64) [16]byte {
	var x [16]byte
	x[0], x[1], x[2], x[3] = 0x20, 0x01, 0x00, 0x02
	binary.BigEndian.PutUint64(x[8:], n)
	return x
}

// natConn builds conn number i of a NAT service: client 10.x.y.z:port → VIP 198.18.0.10:80, real 198.18.2.2:8080.
func natConn(i uint32, proto uint8) (Conn, Tuple, Tuple) {
	c := Conn{
		Client: addr4(10, i>>4), ClientPort: uint16(1024 + i&15),
		Virtual: addr4(198, 18<<16|10), VirtualPort: 80,
		Real: addr4(198, 18<<16|2<<8|2), RealPort: 8080,
		Proto: proto, ServiceID: 7, RealID: 3,
	}
	in := Tuple{Src: c.Client, Dst: c.Virtual, SrcPort: c.ClientPort, DstPort: c.VirtualPort, Proto: proto}
	out := Tuple{Src: c.Real, Dst: c.Client, SrcPort: c.RealPort, DstPort: c.ClientPort, Proto: proto}
	return c, in, out
}

func newTable(tb testing.TB, capacity int) *Table {
	tb.Helper()
	tab, err := New(Config{Capacity: capacity, TemplateCapacity: 64})
	if err != nil {
		tb.Fatal(err)
	}
	return tab
}

func mustInsert(tb testing.TB, tab *Table, c *Conn, in, out *Tuple, now int64) Ref {
	tb.Helper()
	ref, err := tab.Insert(c, in, out, now)
	if err != nil {
		tb.Fatalf("insert: %v", err)
	}
	return ref
}

// collect runs Expire with an unlimited budget and returns the expired refs in order.
func collect(tab *Table, now int64) []Ref {
	var got []Ref
	tab.Expire(now, 1<<30, func(ref Ref, c *Conn) { got = append(got, ref) })
	return got
}
