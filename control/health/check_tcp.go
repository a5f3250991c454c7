package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// tcpCheck succeeds when a TCP handshake completes (keepalived TCP_CHECK).
type tcpCheck struct {
	addr   netip.AddrPort
	source netip.Addr
}

func (c *tcpCheck) run(ctx context.Context) result {
	dialer := net.Dialer{LocalAddr: localAddr("tcp", c.source)}
	conn, err := dialer.DialContext(ctx, "tcp", c.addr.String())
	if err != nil {
		return failure(fmt.Errorf("tcp connect: %w", err))
	}
	// Reset instead of FIN: thousands of checks every few seconds would
	// otherwise leave the checker's side full of TIME_WAIT sockets.
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
	return success()
}
