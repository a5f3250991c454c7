package dataplane

import (
	"testing"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// clientAddrBench is one established FULLNAT connection of a service with
// the given client_address, and its frames: a client data segment and the
// real server's answer.
type clientAddrBench struct {
	w              *Worker
	conn           *conntrack.Conn
	toReal, toBack []byte
	buf            []byte
}

func newClientAddrBench(b testing.TB, way ClientAddress) *clientAddrBench {
	d := newMemDataplane(b, clientAddrSpec(way), 1, 1024)
	w := d.Workers[0]
	d.beginBatch()
	const client, vip, real, local = "198.18.1.5", "198.18.0.30", "198.18.2.2", "198.18.3.1"
	run := func(frame []byte, port int) {
		buf := make([]byte, 2048)
		if v, _ := w.processIn(buf, 0, copy(buf, frame), port); v.action != actionTransmit {
			b.Fatalf("handshake dropped: %v", dropCounts(w))
		}
	}
	run(tcpSegment(b, client, vip, 40001, 80, 1000, 0, syn, 1460, nil), 0)
	run(tcpSegment(b, real, local, 8080, 1024, 5000, 1001, synAck, 1460, nil), 1)
	run(tcpSegment(b, client, vip, 40001, 80, 1001, 5001, ack, 0, nil), 0)
	tuple := conntrack.Tuple{Src: addr(client).As16(), Dst: addr(vip).As16(), SrcPort: 40001, DstPort: 80, Proto: header.ProtocolTCP}
	ref, _ := w.conns.Lookup(&tuple)
	if ref == 0 {
		b.Fatal("no connection")
	}
	payload := make([]byte, 512)
	return &clientAddrBench{w: w, conn: w.conns.Conn(ref), buf: make([]byte, 2048),
		toReal: tcpSegment(b, client, vip, 40001, 80, 1001, 5001, pshAck, 0, payload),
		toBack: tcpSegment(b, real, local, 8080, 1024, 5001, 1513, pshAck, 0, payload)}
}

func (c *clientAddrBench) send(b testing.TB, frame []byte, port int) {
	if v, _ := c.w.processIn(c.buf, 0, copy(c.buf, frame), port); v.action != actionTransmit {
		b.Fatalf("dropped: %v", dropCounts(c.w))
	}
}

// BenchmarkClientAddress: a 512-byte client segment and the server's answer
// on one established FULLNAT connection, plain and shifted by a PROXY
// header, and the client's first data segment, which gets the header
// written in front of its payload (the connection's flags and adjustment
// are put back to what they were after the handshake before each: two
// stores).
func BenchmarkClientAddress(b *testing.B) {
	for _, way := range []ClientAddress{ClientAddressNone, ClientAddressProxyV1, ClientAddressProxyV2} {
		b.Run(way.String()+"/established", func(b *testing.B) {
			c := newClientAddrBench(b, way)
			c.send(b, c.toReal, 0) // the first data: writes the header
			b.ReportAllocs()
			for b.Loop() {
				c.send(b, c.toReal, 0)
				c.send(b, c.toBack, 1)
			}
			reportMpps(b, 2)
		})
		if way == ClientAddressNone {
			continue
		}
		b.Run(way.String()+"/first-data", func(b *testing.B) {
			c := newClientAddrBench(b, way)
			pending, seq := c.conn.Flags, c.conn.Seq
			b.ReportAllocs()
			for b.Loop() {
				c.conn.Flags, c.conn.Seq = pending, seq
				c.send(b, c.toReal, 0)
			}
			reportMpps(b, 1)
		})
	}
}

func TestClientAddressAllocatesNothing(t *testing.T) {
	for _, way := range []ClientAddress{ClientAddressProxyV1, ClientAddressProxyV2} {
		c := newClientAddrBench(t, way)
		pending, seq := c.conn.Flags, c.conn.Seq
		if n := testing.AllocsPerRun(100, func() {
			c.conn.Flags, c.conn.Seq = pending, seq
			c.send(t, c.toReal, 0)
			c.send(t, c.toReal, 0)
			c.send(t, c.toBack, 1)
		}); n != 0 {
			t.Fatalf("%s: %v allocations per first data, shifted segment and answer", way, n)
		}
		if c.w.tally.counts[CountProxyHeaders] < 100 {
			t.Fatalf("%s: %d headers written, want one per run", way, c.w.tally.counts[CountProxyHeaders])
		}
	}
}
