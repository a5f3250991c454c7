package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Protocol numbers icmp.ParseMessage takes.
const (
	protocolICMP   = 1
	protocolICMPv6 = 58
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
	network, bind := "ip4:icmp", "0.0.0.0"
	if addr.Is6() {
		network, bind = "ip6:ipv6-icmp", "::"
	}
	if c.source.IsValid() {
		bind = c.source.Unmap().String()
	}
	conn, err := icmp.ListenPacket(network, bind)
	if err != nil {
		return failure(fmt.Errorf("icmp socket: %w", err))
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	id, seq := int(uint16(rand.Uint32())), int(uint16(rand.Uint32()))
	echo, err := buildEcho(addr.Is6(), id, seq)
	if err != nil {
		return failure(fmt.Errorf("icmp echo: %w", err))
	}
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

// buildEcho returns an echo request carrying icmpPayload. Marshal fills the
// checksum for ICMPv4; the kernel fills it for ICMPv6 raw sockets (it needs
// the pseudo-header).
func buildEcho(v6 bool, id, seq int) ([]byte, error) {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	if v6 {
		typ = ipv6.ICMPTypeEchoRequest
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: seq, Data: icmpPayload}}
	return msg.Marshal(nil)
}

// isEchoReply reports whether b (an ICMP message without IP header) is the
// reply to our echo.
func isEchoReply(b []byte, v6 bool, id, seq int) bool {
	protocol, want := protocolICMP, icmp.Type(ipv4.ICMPTypeEchoReply)
	if v6 {
		protocol, want = protocolICMPv6, ipv6.ICMPTypeEchoReply
	}
	msg, err := icmp.ParseMessage(protocol, b)
	if err != nil || msg.Type != want || msg.Code != 0 {
		return false
	}
	echo, ok := msg.Body.(*icmp.Echo)
	return ok && echo.ID == id && echo.Seq == seq
}
