package header

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// Property tests: after every incremental update the checksum field equals a
// full recomputation, over many random headers and segments.

func randBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func rand4(rng *rand.Rand) [4]byte { return [4]byte(randBytes(rng, 4)) }

// randIPv4 returns a random IPv4 header (options included) with a correct
// checksum, followed by payloadLen random bytes.
func randIPv4(rng *rand.Rand, payloadLen int) IPv4 {
	hlen := 4 * (5 + rng.IntN(11))
	b := IPv4(randBytes(rng, hlen+payloadLen))
	b[ipv4VersIHL] = 4<<4 | byte(hlen/4)
	b.SetTotalLength(uint16(hlen + payloadLen))
	b.SetChecksum(b.CalculateChecksum())
	return b
}

func TestIPv4IncrementalMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 791))
	for range 5000 {
		ip := randIPv4(rng, 0)
		if !ip.IsValid(len(ip)) || !ip.IsChecksumValid() {
			t.Fatalf("random header %x is not valid", []byte(ip))
		}
		for range 8 {
			switch rng.IntN(3) {
			case 0:
				ip.SetSourceAddressWithChecksumUpdate(rand4(rng))
			case 1:
				ip.SetDestinationAddressWithChecksumUpdate(rand4(rng))
			case 2:
				ip.DecTTLWithChecksumUpdate()
			}
			if got, want := ip.Checksum(), ip.CalculateChecksum(); got != want || !ip.IsChecksumValid() {
				t.Fatalf("header %x: incremental %#04x, full %#04x", []byte(ip), got, want)
			}
		}
	}
}

// l4Case is a random TCP or UDP segment behind a random IPv4 or IPv6 header.
type l4Case struct {
	v6       bool
	src, dst []byte
	l4       []byte
	proto    uint8
}

func (c *l4Case) pseudo() uint16 {
	return PseudoHeaderChecksum(c.proto, c.src, c.dst, uint16(len(c.l4)))
}

// full returns the checksum field a full recomputation gives.
func (c *l4Case) full() uint16 {
	if c.proto == ProtocolTCP {
		return TCP(c.l4).CalculateChecksum(c.pseudo())
	}
	return UDP(c.l4).CalculateChecksum(c.pseudo())
}

func (c *l4Case) field() uint16 { return binary.BigEndian.Uint16(c.l4[c.checksumOffset():]) }

func (c *l4Case) checksumOffset() int {
	if c.proto == ProtocolTCP {
		return tcpChecksum
	}
	return udpChecksum
}

func randL4Case(rng *rand.Rand) *l4Case {
	c := &l4Case{v6: rng.IntN(2) == 0, proto: ProtocolTCP}
	n := 4
	if c.v6 {
		n = 16
	}
	c.src, c.dst = randBytes(rng, n), randBytes(rng, n)
	if rng.IntN(2) == 0 {
		c.proto = ProtocolUDP
		c.l4 = randBytes(rng, UDPMinimumSize+rng.IntN(64))
		UDP(c.l4).SetLength(uint16(len(c.l4)))
		UDP(c.l4).SetChecksum(c.full())
	} else {
		hlen := 4 * (5 + rng.IntN(11))
		c.l4 = randBytes(rng, hlen+rng.IntN(64))
		c.l4[tcpDataOffset] = byte(hlen/4) << 4
		if hlen >= 24 && rng.IntN(2) == 0 {
			// An MSS option at a random (possibly odd) offset after NOPs.
			at := TCPMinimumSize + rng.IntN(hlen-TCPMinimumSize-3)
			for i := TCPMinimumSize; i < at; i++ {
				c.l4[i] = tcpOptionNOP
			}
			copy(c.l4[at:], []byte{tcpOptionMSS, 4, 5, 0xb4})
		}
		TCP(c.l4).SetChecksum(c.full())
	}
	return c
}

// rewrite applies one random incremental update to the case.
func (c *l4Case) rewrite(rng *rand.Rand) string {
	tcp, udp := TCP(c.l4), UDP(c.l4)
	isTCP := c.proto == ProtocolTCP
	switch op := rng.IntN(7); {
	case op <= 1: // address in the pseudo-header
		addr := &c.src
		if op == 1 {
			addr = &c.dst
		}
		repl := randBytes(rng, len(*addr))
		if isTCP {
			tcp.UpdateChecksumPseudoHeaderAddress(*addr, repl)
		} else {
			udp.UpdateChecksumPseudoHeaderAddress(*addr, repl)
		}
		*addr = repl
		return "address"
	case op == 2:
		port := uint16(rng.Uint32())
		if isTCP {
			tcp.SetSourcePortWithChecksumUpdate(port)
		} else {
			udp.SetSourcePortWithChecksumUpdate(port)
		}
		return "source port"
	case op == 3:
		port := uint16(rng.Uint32())
		if isTCP {
			tcp.SetDestinationPortWithChecksumUpdate(port)
		} else {
			udp.SetDestinationPortWithChecksumUpdate(port)
		}
		return "destination port"
	case op == 4 && isTCP:
		tcp.SetSequenceNumberWithChecksumUpdate(rng.Uint32())
		tcp.SetAckNumberWithChecksumUpdate(rng.Uint32())
		return "seq/ack"
	case op == 5 && isTCP:
		tcp.SetMSSWithChecksumUpdate(uint16(rng.Uint32()))
		return "mss"
	case op == 6 && isTCP:
		tcp.SetWindowSizeWithChecksumUpdate(uint16(rng.Uint32()))
		return "window"
	}
	return "none"
}

func TestL4IncrementalMatchesFull(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 1624))
	for range 5000 {
		c := randL4Case(rng)
		for range 8 {
			op := c.rewrite(rng)
			if got, want := c.field(), c.full(); got != want {
				t.Fatalf("proto %d v6 %v after %s: incremental %#04x, full %#04x\nsegment %x", c.proto, c.v6, op, got, want, c.l4)
			}
		}
	}
}

func TestUDPChecksumZeroIsLeftAlone(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 768))
	for range 1000 {
		c := randL4Case(rng)
		if c.proto != ProtocolUDP {
			continue
		}
		UDP(c.l4).SetChecksum(0)
		for range 8 {
			op := c.rewrite(rng)
			if got := c.field(); got != 0 {
				t.Fatalf("after %s: checksum %#04x, want 0 (no checksum)", op, got)
			}
		}
	}
}

// TestUDPComputedZeroBecomesFFFF builds datagrams whose checksum after a port
// rewrite computes to 0, which RFC 768 sends as 0xFFFF.
func TestUDPComputedZeroBecomesFFFF(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 768))
	for range 200 {
		src, dst := randBytes(rng, 4), randBytes(rng, 4)
		udp := UDP(randBytes(rng, 16))
		udp.SetLength(16)
		newPort := uint16(rng.Uint32())
		// Choose the last payload word so that, with the new port, the
		// one's complement sum is 0xFFFF (checksum field computes to 0).
		oldPort := udp.DestinationPort()
		udp.SetDestinationPort(newPort)
		binary.BigEndian.PutUint16(udp[14:], 0)
		udp.SetChecksum(0)
		partial := Checksum(udp, PseudoHeaderChecksum(ProtocolUDP, src, dst, 16))
		binary.BigEndian.PutUint16(udp[14:], ^partial)
		if got := UDP(udp).CalculateChecksum(PseudoHeaderChecksum(ProtocolUDP, src, dst, 16)); got != 0xffff {
			t.Fatalf("constructed datagram checksums to %#04x, want 0xffff", got)
		}
		udp.SetDestinationPort(oldPort)
		udp.SetChecksum(udp.CalculateChecksum(PseudoHeaderChecksum(ProtocolUDP, src, dst, 16)))

		udp.SetDestinationPortWithChecksumUpdate(newPort)
		if got := udp.Checksum(); got != 0xffff {
			t.Fatalf("incremental checksum %#04x, want 0xffff", got)
		}
	}
}
