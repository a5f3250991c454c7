package testbed

import (
	"context"
	"fmt"
	"net"
	"strings"
)

// Listen opens a listening socket inside the host's namespace. The socket stays in the namespace and may be
// used from any goroutine.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	var l net.Listener
	err := h.Do(func() error {
		var err error
		l, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, addr, h.Name, err)
	}
	return l, nil
}

// ListenPacket opens a packet socket inside the host's namespace, usable from any goroutine.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := h.Do(func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, addr, h.Name, err)
	}
	return c, nil
}

// DialContext connects from inside the host's namespace.
func (h *Host) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return h.DialFrom(ctx, network, "", addr)
}

// DialFrom connects from inside the host's namespace, binding the local end to laddr first: "" (the kernel
// chooses), an address ("198.18.1.11") or an address and port ("198.18.1.11:40000").
func (h *Host) DialFrom(ctx context.Context, network, laddr, raddr string) (net.Conn, error) {
	dialer := net.Dialer{}
	if laddr != "" {
		local, err := localAddr(network, laddr)
		if err != nil {
			return nil, err
		}
		dialer.LocalAddr = local
	}
	var conn net.Conn
	err := h.Do(func() error {
		var err error
		conn, err = dialer.DialContext(ctx, network, raddr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s in %s: %w", network, raddr, orAny(laddr), h.Name, err)
	}
	return conn, nil
}

func localAddr(network, laddr string) (net.Addr, error) {
	host, port := laddr, "0"
	if h, p, err := net.SplitHostPort(laddr); err == nil {
		host, port = h, p
	}
	hostPort := net.JoinHostPort(host, port)
	switch {
	case strings.HasPrefix(network, "tcp"):
		return net.ResolveTCPAddr(network, hostPort)
	case strings.HasPrefix(network, "udp"):
		return net.ResolveUDPAddr(network, hostPort)
	}
	return nil, fmt.Errorf("local address for network %s: unsupported", network)
}

func orAny(laddr string) string {
	if laddr == "" {
		return "any"
	}
	return laddr
}
