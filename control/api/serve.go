package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// DefaultAddress is where the daemon listens and fastlvsadm connects unless
// told otherwise.
const DefaultAddress = "unix:///run/fastlvs.sock"

// ParseAddress splits "unix:///path" or "tcp://host:port" into a network and
// an address for net.Listen / net.Dial. A client may also name
// "tls://host:port": TCP with TLS (the daemon's tcp:// API with api_tls).
func ParseAddress(addr string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(addr, "tls://"):
		return ParseAddress("tcp://" + strings.TrimPrefix(addr, "tls://"))
	case strings.HasPrefix(addr, "unix://"):
		path := strings.TrimPrefix(addr, "unix://")
		if path == "" {
			return "", "", fmt.Errorf("api address %q: empty socket path", addr)
		}
		return "unix", path, nil
	case strings.HasPrefix(addr, "tcp://"):
		hostport := strings.TrimPrefix(addr, "tcp://")
		if _, _, err := net.SplitHostPort(hostport); err != nil {
			return "", "", fmt.Errorf("api address %q: %w", addr, err)
		}
		return "tcp", hostport, nil
	}
	return "", "", fmt.Errorf("api address %q: want unix:///path, tcp://host:port or tls://host:port", addr)
}

// Listen opens the API listener. A unix socket replaces a stale socket file
// and is made mode 0600; TCP requires a token, since anyone who reaches the
// port could otherwise rewrite the table.
func Listen(addr, token string) (net.Listener, error) {
	network, address, err := ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	if network == "tcp" {
		if token == "" {
			return nil, fmt.Errorf("listen on %s: a TCP api needs a bearer token", addr)
		}
		return net.Listen(network, address)
	}
	if info, err := os.Lstat(address); err == nil {
		if info.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("listen on %s: %s exists and is not a socket", addr, address)
		}
		if conn, err := net.Dial("unix", address); err == nil {
			conn.Close()
			return nil, fmt.Errorf("listen on %s: another process serves this socket", addr)
		}
		if err := os.Remove(address); err != nil {
			return nil, fmt.Errorf("remove stale socket %s: %w", address, err)
		}
	}
	listener, err := net.Listen(network, address)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(address, 0o600); err != nil {
		listener.Close()
		return nil, fmt.Errorf("chmod api socket %s: %w", address, err)
	}
	return listener, nil
}

// Server timeouts: a client that opens a connection and sends nothing, or
// trickles its request, or never reads the answer, is cut off rather than
// holding a socket forever. The write timeout covers the handler too, so it
// leaves room for a listing of a large connection table.
const (
	serverReadHeaderTimeout = 10 * time.Second
	serverReadTimeout       = 30 * time.Second
	serverWriteTimeout      = 2 * time.Minute
	serverIdleTimeout       = time.Minute
)

// NewServer is an http.Server for h with the API's timeouts.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: serverReadHeaderTimeout,
		ReadTimeout:       serverReadTimeout,
		WriteTimeout:      serverWriteTimeout,
		IdleTimeout:       serverIdleTimeout,
	}
}

// Serve answers API requests on addr until ctx ends, then shuts down
// gracefully (in-flight requests get five seconds). A non-nil tlsConfig
// serves TLS (the daemon passes api_tls's certificate).
func Serve(ctx context.Context, addr, token string, tlsConfig *tls.Config, h http.Handler) error {
	listener, err := Listen(addr, token)
	if err != nil {
		return err
	}
	if tlsConfig != nil {
		listener = tls.NewListener(listener, tlsConfig)
	}
	server := NewServer(h)
	errs := make(chan error, 1)
	go func() { errs <- server.Serve(listener) }()
	select {
	case err := <-errs:
		return fmt.Errorf("serve api on %s: %w", addr, err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = server.Shutdown(shutdownCtx)
	if serveErr := <-errs; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
