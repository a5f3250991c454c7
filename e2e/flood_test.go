package e2e

import (
	"context"
	endian "encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

// spoofedNet is where flood sources come from: the upper half of the
// benchmarking range, which no host of a topology uses.
const spoofedNet = "198.18.128.0/17"

// spoofer sends IPv4 packets with forged sources from inside a host, through
// a raw socket (IPPROTO_RAW: the test writes the IP header itself).
type spoofer struct {
	fd  int
	rng *rand.Rand
}

// newSpoofer opens the raw socket in host and makes the forged sources
// routable: the director sends what comes back for them (real servers'
// SYN/ACKs and answers) towards host, and host drops it. Nothing leaves the
// topology: every spoofed address stays inside spoofedNet.
func newSpoofer(tb testing.TB, topo *testbed.Topology, host *testbed.Host, hostAddr string) *spoofer {
	tb.Helper()
	if _, err := topo.Director.Run("ip", "route", "add", spoofedNet, "via", hostAddr); err != nil {
		tb.Fatal(err)
	}
	if _, err := host.Run("ip", "route", "add", "blackhole", spoofedNet); err != nil {
		tb.Fatal(err)
	}
	s := &spoofer{rng: rand.New(rand.NewPCG(1, 2))}
	err := host.Do(func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_RAW)
		s.fd = fd
		return err
	})
	if err != nil {
		tb.Fatalf("raw socket in %s: %v", host.Name, err)
	}
	tb.Cleanup(func() { unix.Close(s.fd) })
	return s
}

// spoofedSource is a random address of spoofedNet.
func (s *spoofer) spoofedSource() [4]byte {
	r := s.rng.Uint32()
	return [4]byte{198, 18, 128 | byte(r>>8)&0x7f, byte(r)}
}

// flood sends up to count packets of proto (unix.IPPROTO_TCP: SYNs;
// unix.IPPROTO_UDP: 16-byte datagrams) to dst, each from a random address
// and port of spoofedNet, as fast as it can — or at most rate a second if
// rate > 0 — until count is reached, duration has passed or ctx ends. It
// returns how many it sent.
func (s *spoofer) flood(ctx context.Context, proto int, dst netip.AddrPort, count, rate int, duration time.Duration) int {
	var pkt [20 + 20 + 16]byte
	size := 20 + 20
	if proto == unix.IPPROTO_UDP {
		size = 20 + 8 + 16
	}
	to := &unix.SockaddrInet4{Addr: dst.Addr().As4()}
	end := time.Now().Add(duration)
	start := time.Now()
	sent := 0
	for sent < count {
		if sent%32 == 0 { // paced in bursts of 32
			if ctx.Err() != nil || time.Now().After(end) {
				break
			}
			if rate > 0 {
				if ahead := time.Duration(sent)*time.Second/time.Duration(rate) - time.Since(start); ahead > 0 {
					time.Sleep(ahead)
				}
			}
		}
		src := s.spoofedSource()
		sport := uint16(1024 + s.rng.IntN(64000))
		buildSpoofed(pkt[:size], proto, src, dst, sport, s.rng.Uint32())
		if err := unix.Sendto(s.fd, pkt[:size], 0, to); err != nil {
			// A full device queue: the flood is as fast as the path allows.
			time.Sleep(50 * time.Microsecond)
			continue
		}
		sent++
	}
	return sent
}

// buildSpoofed writes an IPv4 packet from src:sport to dst into pkt: a TCP
// SYN (seq) or a UDP datagram. The kernel fills in the IP checksum.
func buildSpoofed(pkt []byte, proto int, src [4]byte, dst netip.AddrPort, sport uint16, seq uint32) {
	clear(pkt)
	ip := pkt[:20]
	ip[0] = 0x45
	endian.BigEndian.PutUint16(ip[2:], uint16(len(pkt)))
	ip[6] = 0x40 // DF
	ip[8] = 64
	ip[9] = byte(proto)
	copy(ip[12:16], src[:])
	d := dst.Addr().As4()
	copy(ip[16:20], d[:])
	l4 := pkt[20:]
	endian.BigEndian.PutUint16(l4[0:], sport)
	endian.BigEndian.PutUint16(l4[2:], dst.Port())
	checksumAt := 6
	if proto == unix.IPPROTO_TCP {
		endian.BigEndian.PutUint32(l4[4:], seq)
		l4[12] = 5 << 4 // data offset: 20 bytes
		l4[13] = 0x02   // SYN
		endian.BigEndian.PutUint16(l4[14:], 64240)
		checksumAt = 16
	} else {
		endian.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		copy(l4[8:], "spoofed flood 16")
	}
	sum := uint32(endian.BigEndian.Uint16(src[0:])) + uint32(endian.BigEndian.Uint16(src[2:])) +
		uint32(endian.BigEndian.Uint16(d[0:])) + uint32(endian.BigEndian.Uint16(d[2:])) +
		uint32(proto) + uint32(len(l4))
	for i := 0; i+1 < len(l4); i += 2 {
		sum += uint32(endian.BigEndian.Uint16(l4[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	check := ^uint16(sum)
	if check == 0 && proto == unix.IPPROTO_UDP {
		check = 0xffff
	}
	endian.BigEndian.PutUint16(l4[checksumAt:], check)
}
