package testbed

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// HTTPGet fetches url from inside the host on a new connection (no keep-alive, no proxy), optionally from
// localIP, and returns the body. A status other than 200 is an error.
func (h *Host) HTTPGet(ctx context.Context, url string, localIP string) (string, error) {
	transport := &http.Transport{
		Proxy:             nil,
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return h.DialFrom(ctx, network, localIP, addr)
		},
	}
	defer transport.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", fmt.Errorf("http get %s: %w", url, err)
	}
	resp, err := (&http.Client{Transport: transport}).Do(req)
	if err != nil {
		return "", fmt.Errorf("http get %s from %s: %w", url, h.Name, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("http get %s from %s: read body: %w", url, h.Name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return string(body), fmt.Errorf("http get %s from %s: status %s", url, h.Name, resp.Status)
	}
	return string(body), nil
}

// UDPRequest sends payload once to addr from inside the host (optionally from localIP) and returns the first
// reply. It waits at most timeout (and not past ctx); it does not retransmit.
func (h *Host) UDPRequest(ctx context.Context, addr, localIP string, payload []byte, timeout time.Duration) (string, error) {
	network := "udp4"
	if host, _, err := net.SplitHostPort(addr); err == nil && strings.Contains(host, ":") {
		network = "udp6"
	}
	conn, err := h.DialFrom(ctx, network, localIP, addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := conn.Write(payload); err != nil {
		return "", fmt.Errorf("udp request to %s from %s: %w", addr, h.Name, err)
	}
	buf := make([]byte, 64<<10)
	n, err := conn.Read(buf)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return "", fmt.Errorf("udp request to %s from %s: %w", addr, h.Name, err)
	}
	return string(buf[:n]), nil
}
