package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"fastlvs/testbed"
)

// keepAlive is one long-lived HTTP/1.1 connection through the VIP.
type keepAlive struct {
	tb     testing.TB
	conn   net.Conn
	reader *bufio.Reader
	// timeout bounds one request (default 3 s).
	timeout time.Duration
}

func dialKeepAlive(tb testing.TB, client *testbed.Host, addr string) *keepAlive {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := client.DialContext(ctx, "tcp", addr)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return &keepAlive{tb: tb, conn: conn, reader: bufio.NewReader(conn)}
}

// get sends one request on the connection and returns the server's answer.
func (k *keepAlive) get() (response, error) {
	timeout := k.timeout
	if timeout == 0 {
		timeout = 3 * time.Second
	}
	_ = k.conn.SetDeadline(time.Now().Add(timeout))
	if _, err := fmt.Fprintf(k.conn, "GET / HTTP/1.1\r\nHost: vip\r\n\r\n"); err != nil {
		return response{}, err
	}
	resp, err := http.ReadResponse(k.reader, nil)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{}, err
	}
	return parseResponse(string(body))
}

// dialUntil opens keep-alive connections until one lands on server.
func dialUntil(tb testing.TB, topo *testbed.Topology, addr, server string) *keepAlive {
	tb.Helper()
	for range 50 {
		k := dialKeepAlive(tb, topo.Clients[0], addr)
		r, err := k.get()
		if err != nil {
			tb.Fatalf("request on a new keep-alive connection: %v", err)
		}
		if r.server == server {
			return k
		}
		k.conn.Close()
	}
	tb.Fatalf("no connection reached %s in 50 tries", server)
	return nil
}
