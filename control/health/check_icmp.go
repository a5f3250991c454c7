package health

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"
)

// ICMP echo (RFC 792, RFC 4443):
//
//	| type | code | checksum |
//	|  identifier | sequence |
//	| data ...               |
const (
	icmpEchoRequestV4 = 8
	icmpEchoReplyV4   = 0
	icmpEchoRequestV6 = 128
	icmpEchoReplyV6   = 129
	icmpHeaderLen     = 8
)

// icmpPayload marks our echoes so a reply is recognised even if another
// pinger chose the same identifier.
var icmpPayload = []byte("fastlvs-health-check")

// icmpCheck sends one echo request from a raw socket (we run as root; ping
// sockets are usually disabled by net.ipv4.ping_group_range) and waits for
// the reply with our identifier and sequence from the target.
type icmpCheck struct {
	addr   netip.Addr
	source netip.Addr
}

func (c *icmpCheck) run(ctx context.Context) result {
	addr := c.addr.Unmap()
	network, bind, request := "ip4:icmp", "0.0.0.0", byte(icmpEchoRequestV4)
	if addr.Is6() {
		network, bind, request = "ip6:ipv6-icmp", "::", icmpEchoRequestV6
	}
	if c.source.IsValid() {
		bind = c.source.Unmap().String()
	}
	conn, err := net.ListenPacket(network, bind)
	if err != nil {
		return failure(fmt.Errorf("icmp socket: %w", err))
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	id, seq := uint16(rand.Uint32()), uint16(rand.Uint32())
	echo := buildEcho(request, id, seq)
	if _, err := conn.WriteTo(echo, &net.IPAddr{IP: addr.AsSlice()}); err != nil {
		return failure(fmt.Errorf("icmp send: %w", err))
	}
	buf := make([]byte, 1500)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return failure(fmt.Errorf("icmp no reply: %w", err))
		}
		ip, ok := from.(*net.IPAddr)
		if !ok {
			continue
		}
		fromAddr, _ := netip.AddrFromSlice(ip.IP)
		if fromAddr.Unmap() == addr && isEchoReply(buf[:n], addr.Is6(), id, seq) {
			return success()
		}
	}
}

// buildEcho returns an echo request. The checksum is filled for ICMPv4; the
// kernel fills it for ICMPv6 raw sockets (it needs the pseudo-header).
func buildEcho(typ byte, id, seq uint16) []byte {
	b := make([]byte, icmpHeaderLen, icmpHeaderLen+len(icmpPayload))
	b[0] = typ
	binary.BigEndian.PutUint16(b[4:], id)
	binary.BigEndian.PutUint16(b[6:], seq)
	b = append(b, icmpPayload...)
	if typ == icmpEchoRequestV4 {
		binary.BigEndian.PutUint16(b[2:], internetChecksum(b))
	}
	return b
}

// isEchoReply reports whether b (an ICMP message without IP header) is the
// reply to our echo.
func isEchoReply(b []byte, v6 bool, id, seq uint16) bool {
	want := byte(icmpEchoReplyV4)
	if v6 {
		want = icmpEchoReplyV6
	}
	return len(b) >= icmpHeaderLen && b[0] == want && b[1] == 0 &&
		binary.BigEndian.Uint16(b[4:]) == id && binary.BigEndian.Uint16(b[6:]) == seq
}

// internetChecksum is the RFC 1071 one's-complement sum of b.
func internetChecksum(b []byte) uint16 {
	var sum uint32
	for len(b) >= 2 {
		sum += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
