package health

import (
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// recorder collects events from a Manager and lets a test wait for them.
type recorder struct {
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

func newRecorder() *recorder { return &recorder{signal: make(chan struct{}, 1)} }

func (r *recorder) onChange(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

func (r *recorder) all() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// waitFor returns the n-th event (1-based) or fails after limit.
func (r *recorder) waitFor(tb testing.TB, n int, limit time.Duration) Event {
	tb.Helper()
	deadline := time.After(limit)
	for {
		if events := r.all(); len(events) >= n {
			return events[n-1]
		}
		select {
		case <-r.signal:
		case <-deadline:
			tb.Fatalf("event %d did not arrive within %v; got %+v", n, limit, r.all())
		}
	}
}

// newTestManager returns a Manager closed at the end of the test.
func newTestManager(tb testing.TB, opts Options) *Manager {
	tb.Helper()
	m := NewManagerWithOptions(opts)
	tb.Cleanup(m.Close)
	return m
}

// tcpServer is a loopback listener that can be stopped and restarted on the same port.
type tcpServer struct {
	tb   testing.TB
	addr netip.AddrPort
	ln   net.Listener
}

func newTCPServer(tb testing.TB) *tcpServer {
	tb.Helper()
	s := &tcpServer{tb: tb}
	s.listen("127.0.0.1:0")
	s.addr = netip.MustParseAddrPort(s.ln.Addr().String())
	tb.Cleanup(s.stop)
	return s
}

func (s *tcpServer) listen(addr string) {
	s.tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		s.tb.Fatalf("listen %s: %v", addr, err)
	}
	s.ln = ln
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			_ = conn.Close()
		}
	}()
}

func (s *tcpServer) stop() {
	if s.ln != nil {
		_ = s.ln.Close()
		s.ln = nil
	}
}

func (s *tcpServer) restart() { s.listen(s.addr.String()) }

func waitUntil(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, limit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func mustAddrPort(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
