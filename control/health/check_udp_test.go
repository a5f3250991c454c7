package health

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// udpServer answers every datagram with reply(datagram) until stopped; a nil
// reply means stay silent.
type udpServer struct {
	addr netip.AddrPort
	conn net.PacketConn
}

func newUDPServer(tb testing.TB, reply func([]byte) []byte) *udpServer {
	tb.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("listen udp: %v", err)
	}
	s := &udpServer{addr: netip.MustParseAddrPort(conn.LocalAddr().String()), conn: conn}
	tb.Cleanup(s.stop)
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			if out := reply(buf[:n]); out != nil {
				_, _ = conn.WriteTo(out, from)
			}
		}
	}()
	return s
}

func (s *udpServer) stop() { _ = s.conn.Close() }

func TestUDPPayloadAndExpect(t *testing.T) {
	echo := newUDPServer(t, func(b []byte) []byte { return append([]byte("echo: "), b...) })
	silent := newUDPServer(t, func([]byte) []byte { return nil })
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	spec := Spec{Type: TypeUDP, Interval: 40 * time.Millisecond, Timeout: time.Second, Fall: 2, Payload: []byte("ping")}
	good, wrong, any, quiet := spec, spec, spec, spec
	good.Expect = []byte("echo: ping")
	quiet.Timeout = 100 * time.Millisecond
	wrong.Expect = []byte("pong")
	m.Update([]Target{
		{Key: "good", Addr: echo.addr, Spec: good},
		{Key: "wrong", Addr: echo.addr, Spec: wrong},
		{Key: "any", Addr: echo.addr, Spec: any},
		{Key: "quiet", Addr: silent.addr, Spec: quiet},
	})
	waitUntil(t, 5*time.Second, "checks", func() bool {
		for _, st := range m.Statuses() {
			if st.Checks < 3 {
				return false
			}
		}
		return true
	})
	want := map[string]string{"good": "", "any": "", "wrong": "does not contain", "quiet": "no reply"}
	for key, errPart := range want {
		st, _ := m.Status(key)
		if (errPart == "") != st.Up || !strings.Contains(st.LastError, errPart) {
			t.Errorf("%s = %+v, want up=%v error containing %q", key, st, errPart == "", errPart)
		}
	}

	// A closed port answers with ICMP port unreachable: down well before the timeout.
	echo.stop()
	stopped := time.Now()
	var down Event
	for n := 1; down.Key != "good"; n++ {
		down = rec.waitFor(t, n, 5*time.Second)
	}
	if down.Up || !strings.Contains(down.Reason, "port unreachable") {
		t.Fatalf("event = %+v, want down for port unreachable", down)
	}
	if took := time.Since(stopped); took > 2*40*time.Millisecond+100*time.Millisecond {
		t.Errorf("down after %v: a refused port must not wait for timeouts", took)
	}
	if st, _ := m.Status("good"); st.LastLatency > 50*time.Millisecond {
		t.Errorf("refused check took %v", st.LastLatency)
	}
}

// dnsServer answers A queries with one record, or the configured rcode. It
// writes the reply's bytes by hand (RFC 1035 4.1), independently of the
// dnsmessage package the check uses.
func newDNSServer(tb testing.TB, rcode *atomic.Int32) *udpServer {
	const headerLen, flagQR, flagRD = 12, 1 << 15, 1 << 8
	return newUDPServer(tb, func(q []byte) []byte {
		if len(q) < headerLen {
			return nil
		}
		r := append([]byte(nil), q...)
		binary.BigEndian.PutUint16(r[2:], flagQR|flagRD|uint16(rcode.Load()))
		if rcode.Load() != 0 {
			return r
		}
		binary.BigEndian.PutUint16(r[6:], 1)                         // ANCOUNT
		r = append(r, 0xc0, headerLen)                               // name: pointer to the question
		r = append(r, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 2, 11) // A IN ttl 60 198.18.2.11
		return r
	})
}

func TestDNSCheck(t *testing.T) {
	var rcode atomic.Int32
	srv := newDNSServer(t, &rcode)
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	m.Update([]Target{{Key: "dns", Addr: srv.addr, Spec: Spec{Type: TypeDNS, Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, Fall: 2, DNSName: "www.example.test", StartDown: true}}})
	if e := rec.waitFor(t, 1, 5*time.Second); !e.Up {
		t.Fatalf("event = %+v, want up", e)
	}
	rcode.Store(2) // SERVFAIL
	if e := rec.waitFor(t, 2, 5*time.Second); e.Up || !strings.Contains(e.Reason, "rcode 2") {
		t.Fatalf("event = %+v, want down for SERVFAIL", e)
	}
}

func TestDNSQueryWireFormat(t *testing.T) {
	q, err := buildDNSQuery(0xbeef, "www.example.test.", dnsTypes["AAAA"])
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
		3, 'w', 'w', 'w', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0, 0, 28, 0, 1}
	if string(q) != string(want) {
		t.Errorf("query = %x, want %x", q, want)
	}
	if root, err := buildDNSQuery(1, ".", dnsTypes["A"]); err != nil || string(root[12:]) != "\x00\x00\x01\x00\x01" {
		t.Errorf("root query = %x, %v", root, err)
	}
	for _, bad := range []string{"a..b", strings.Repeat("x", 64) + ".test", strings.Repeat("abcdefg.", 40)} {
		if _, err := buildDNSQuery(1, bad, dnsTypes["A"]); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
}
