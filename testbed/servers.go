package testbed

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Server is a real server started inside a host. Every response names the server and the client address it saw,
// so a test can tell which real server answered and whether the client's address survived the director.
type Server struct {
	Name string
	Addr net.Addr // the bound address (useful with port 0)

	requests atomic.Int64
	mu       sync.Mutex
	clients  map[string]int64 // requests per client IP

	closeOnce sync.Once
	closeErr  error
	stop      func() error
	done      chan struct{} // closed when the serving goroutine returns
}

func newServer(name string, addr net.Addr, stop func() error) *Server {
	return &Server{Name: name, Addr: addr, clients: map[string]int64{}, stop: stop, done: make(chan struct{})}
}

// Requests returns how many requests the server answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Clients returns a copy of the request count per client IP.
func (s *Server) Clients() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.clients))
	for ip, n := range s.clients {
		out[ip] = n
	}
	return out
}

// Reset zeroes the counters.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests.Store(0)
	clear(s.clients)
}

func (s *Server) count(clientIP string) {
	s.mu.Lock()
	s.clients[clientIP]++
	s.mu.Unlock()
	s.requests.Add(1)
}

// Close stops the server and waits for its goroutine; it is idempotent.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = s.stop()
		<-s.done
	})
	return s.closeErr
}

// ServeHTTP serves HTTP inside the host on addr (e.g. "0.0.0.0:80"): every request gets status 200 and the body
// "<name> <remote ip:port>\n". The Bed stops the server on Close.
func (h *Host) ServeHTTP(name, addr string) (*Server, error) {
	l, err := h.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second}
	s := newServer(name, l.Addr(), srv.Close)
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
			s.count(ap.Addr().Unmap().String())
		}
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s %s\n", name, r.RemoteAddr)
	})
	if err := h.bed.trackServer(s); err != nil {
		l.Close()
		return nil, err
	}
	go func() {
		defer close(s.done)
		srv.Serve(l) // returns http.ErrServerClosed on Close
	}()
	return s, nil
}

// ServeUDPEcho answers every datagram on addr with "<name> <remote ip:port>", sent from the address the request
// was sent to (IP_PKTINFO), so a direct-routing real server answers from the VIP on its lo. An IPv4 or empty
// host listens on IPv4 only; an IPv6 host on IPv6 only.
func (h *Host) ServeUDPEcho(name, addr string) (*Server, error) {
	network := "udp4"
	if host, _, err := net.SplitHostPort(addr); err == nil && host != "" {
		if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
			network = "udp6"
		}
	}
	pc, err := h.ListenPacket(network, addr)
	if err != nil {
		return nil, err
	}
	conn := pc.(*net.UDPConn)
	if err := enablePktinfo(conn, network == "udp6"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("udp echo %s in %s: %w", addr, h.Name, err)
	}
	s := newServer(name, conn.LocalAddr(), conn.Close)
	if err := h.bed.trackServer(s); err != nil {
		conn.Close()
		return nil, err
	}
	go s.serveUDPEcho(conn, network == "udp6")
	return s, nil
}

func enablePktinfo(conn *net.UDPConn, v6 bool) error {
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		if v6 {
			sockErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			sockErr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
	})
	if err != nil {
		return err
	}
	if sockErr != nil {
		return fmt.Errorf("enable pktinfo: %w", sockErr)
	}
	return nil
}

func (s *Server) serveUDPEcho(conn *net.UDPConn, v6 bool) {
	defer close(s.done)
	buf := make([]byte, 64<<10)
	oob := make([]byte, 256)
	for {
		_, oobn, _, remote, err := conn.ReadMsgUDPAddrPort(buf, oob)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
		s.count(remote.Addr().String())
		reply := []byte(s.Name + " " + remote.String())
		conn.WriteMsgUDPAddrPort(reply, replyPktinfo(oob[:oobn], v6), remote)
	}
}

// replyPktinfo turns the received destination address into a control message that sends the reply from it.
func replyPktinfo(oob []byte, v6 bool) []byte {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	for _, m := range msgs {
		switch {
		case !v6 && m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_PKTINFO && len(m.Data) >= unix.SizeofInet4Pktinfo:
			var info unix.Inet4Pktinfo
			copy(info.Spec_dst[:], m.Data[8:12]) // Addr: the header's destination address
			return unix.PktInfo4(&info)
		case v6 && m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_PKTINFO && len(m.Data) >= unix.SizeofInet6Pktinfo:
			var info unix.Inet6Pktinfo
			copy(info.Addr[:], m.Data[0:16])
			return unix.PktInfo6(&info)
		}
	}
	return nil
}
