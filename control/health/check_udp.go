package health

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
)

// maxDatagram is the largest reply a UDP or DNS check reads.
const maxDatagram = 4096

// udpCheck sends a payload and waits for a reply containing expect (any
// reply when expect is empty). A connected socket turns the ICMP port
// unreachable of a closed port into ECONNREFUSED: down at once.
type udpCheck struct {
	addr    netip.AddrPort
	source  netip.Addr
	payload []byte
	expect  []byte
}

func (c *udpCheck) run(ctx context.Context) result {
	reply, err := exchangeUDP(ctx, c.addr, c.source, c.payload, func(b []byte) bool { return true })
	if err != nil {
		return failure(fmt.Errorf("udp: %w", err))
	}
	if !bytes.Contains(reply, c.expect) {
		return failure(fmt.Errorf("udp reply %q does not contain %q", truncate(reply, 64), c.expect))
	}
	return success()
}

// exchangeUDP sends query from a fresh connected socket and returns the
// first reply accepted by match, skipping others until ctx ends.
func exchangeUDP(ctx context.Context, addr netip.AddrPort, source netip.Addr, query []byte, match func([]byte) bool) ([]byte, error) {
	dialer := net.Dialer{LocalAddr: localAddr("udp", source)}
	conn, err := dialer.DialContext(ctx, "udp", addr.String())
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(query); err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, maxDatagram)
	for {
		n, err := conn.Read(buf)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				return nil, errors.New("port unreachable")
			}
			return nil, fmt.Errorf("no reply: %w", err)
		}
		if match(buf[:n]) {
			return buf[:n], nil
		}
	}
}
