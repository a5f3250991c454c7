package synproxy

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/gopacket/layers"

	"fastlvs/header"
)

// A whole proxied handshake, IPv4 and IPv6, NAT-style (the real server sees
// the client's address): client SYN → cookie SYN/ACK → client ACK with data
// → SYN to the real server → its SYN/ACK → ACK to the server and Adjust →
// the buffered data and the server's answer translated.
func TestProxiedHandshake(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		client, vip, server  netip.Addr
		clientWS, serverWS   int // -1: no option
		serverTS             bool
		wantToClient, wantTo int8
	}{
		{"ipv4 same scale", client4, vip4, server4, 8, ProxyWindowScale, true, 0, 0},
		{"ipv4 server scales more", client4, vip4, server4, 8, 10, true, 3, 0},
		{"ipv4 server scales less", client4, vip4, server4, 2, 4, true, -3, 0},
		{"ipv4 server refuses scaling", client4, vip4, server4, 6, -1, true, -ProxyWindowScale, 6},
		{"ipv4 server without timestamps", client4, vip4, server4, 7, 7, false, 0, 0},
		{"ipv6", client6, vip6, server6, 9, 7, true, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSecrets(testKey(9))
			cfg := Config{MSS: 1400, Window: 65535, TTL: 64}
			const clientISN, serverISN = 0xfffffff0, 0x10
			const clientTS, serverTS = 50_000, 7_000_000

			syn := buildTCP(t, tcpSpec{src: tc.client, dst: tc.vip, sport: 45000, dport: 80, seq: clientISN, syn: true,
				window: 64240, options: synOptions(1460, tc.clientWS, true, true, clientTS)})
			n, r := AnswerSYN(parse(t, syn), &s, testNow, &cfg)
			if r != OK {
				t.Fatal(r)
			}
			synack := decode(t, syn[:n])
			cookie := synack.tcp.Seq
			proxyTS := binary.BigEndian.Uint32(synack.opts[layers.TCPOptionKindTimestamps])

			data := []byte("GET / HTTP/1.0\r\n\r\n")
			ack := clientACK(t, synack, clientTS+1, 1000, data)
			hs, r := CheckACK(parse(t, ack), &s, testNow)
			if r != OK {
				t.Fatal(r)
			}

			// The SYN to the real server.
			path := ServerPath{SrcMAC: header.MAC(proxyMAC), DstMAC: header.MAC(serverMAC),
				Src: tc.client.As16(), Dst: tc.server.As16(), SrcPort: 45000, DstPort: 8080}
			buf := make([]byte, 128)
			n = BuildServerSYN(buf, &hs, &path, &cfg)
			if n == 0 {
				t.Fatal("BuildServerSYN: no room")
			}
			ssyn := decode(t, buf[:n])
			if !bytes.Equal(ssyn.eth.SrcMAC, proxyMAC) || !bytes.Equal(ssyn.eth.DstMAC, serverMAC) {
				t.Errorf("server SYN MACs %v -> %v", ssyn.eth.SrcMAC, ssyn.eth.DstMAC)
			}
			if ssyn.srcIP() != tc.client || ssyn.dstIP() != tc.server || ssyn.tcp.SrcPort != 45000 || ssyn.tcp.DstPort != 8080 {
				t.Errorf("server SYN %v:%d -> %v:%d", ssyn.srcIP(), ssyn.tcp.SrcPort, ssyn.dstIP(), ssyn.tcp.DstPort)
			}
			if !ssyn.tcp.SYN || ssyn.tcp.ACK || ssyn.tcp.Seq != clientISN || int(ssyn.tcp.Window) != min(1000<<max(tc.clientWS, 0), 65535) {
				t.Errorf("server SYN flags/seq/window: %+v", ssyn.tcp)
			}
			if mss := binary.BigEndian.Uint16(ssyn.opts[layers.TCPOptionKindMSS]); mss != min(MSSIndexMSS(1460, tc.client.Is6()), cfg.MSS) {
				t.Errorf("server SYN MSS %d", mss)
			}
			if ws, ok := ssyn.opts[layers.TCPOptionKindWindowScale]; (tc.clientWS >= 0) != ok || ok && int(ws[0]) != tc.clientWS {
				t.Errorf("server SYN window scale %v, client's %d", ws, tc.clientWS)
			}
			if _, ok := ssyn.opts[layers.TCPOptionKindSACKPermitted]; !ok {
				t.Error("server SYN lacks SACK-permitted")
			}
			if ts := ssyn.opts[layers.TCPOptionKindTimestamps]; binary.BigEndian.Uint32(ts) != clientTS+1 || binary.BigEndian.Uint32(ts[4:]) != 0 {
				t.Errorf("server SYN timestamps % x", ts)
			}

			// The real server answers.
			var sopts []layers.TCPOption
			if tc.serverTS {
				sopts = append(sopts, tsOption(serverTS, clientTS+1))
			}
			if tc.serverWS >= 0 {
				sopts = append(sopts, layers.TCPOption{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3,
					OptionData: []byte{byte(tc.serverWS)}})
			}
			ssynack := buildTCP(t, tcpSpec{srcMAC: serverMAC, dstMAC: proxyMAC, src: tc.server, dst: tc.client,
				sport: 8080, dport: 45000, seq: serverISN, ack: clientISN + 1, syn: true, ack_: true, window: 29000, options: sopts})
			adj, n, r := ServerSYNACK(parse(t, ssynack), &hs, &cfg)
			if r != OK {
				t.Fatal(r)
			}
			if adj.ServerSeq != cookie-serverISN || adj.ClientSeq != 0 {
				t.Errorf("adjust %+v, want ServerSeq %#x", adj, cookie-serverISN)
			}
			if adj.ToClientWindowShift != tc.wantToClient || adj.ToServerWindowShift != tc.wantTo {
				t.Errorf("window shifts to client %d to server %d, want %d %d",
					adj.ToClientWindowShift, adj.ToServerWindowShift, tc.wantToClient, tc.wantTo)
			}
			sack := decode(t, ssynack[:n])
			if !bytes.Equal(sack.eth.SrcMAC, proxyMAC) || !bytes.Equal(sack.eth.DstMAC, serverMAC) ||
				sack.srcIP() != tc.client || sack.dstIP() != tc.server || sack.tcp.DstPort != 8080 {
				t.Errorf("ACK to server addressed %v -> %v", sack.srcIP(), sack.dstIP())
			}
			if !sack.tcp.ACK || sack.tcp.SYN || sack.tcp.Seq != clientISN+1 || sack.tcp.Ack != serverISN+1 {
				t.Errorf("ACK to server seq %#x ack %#x", sack.tcp.Seq, sack.tcp.Ack)
			}
			if ts, ok := sack.opts[layers.TCPOptionKindTimestamps]; ok != tc.serverTS ||
				ok && (binary.BigEndian.Uint32(ts) != clientTS+1 || binary.BigEndian.Uint32(ts[4:]) != serverTS) {
				t.Errorf("ACK to server timestamps % x", ts)
			}

			// The buffered ACK with data, replayed to the server.
			p := parse(t, ack)
			adj.ToServer(p.TCP())
			fwd := decode(t, ack)
			if fwd.tcp.Seq != clientISN+1 || fwd.tcp.Ack != serverISN+1 || !bytes.Equal(fwd.tcp.Payload, data) {
				t.Errorf("replayed seq %#x ack %#x", fwd.tcp.Seq, fwd.tcp.Ack)
			}
			if tc.serverTS {
				if ecr := binary.BigEndian.Uint32(fwd.opts[layers.TCPOptionKindTimestamps][4:]); ecr != serverTS {
					t.Errorf("replayed TSecr %d, want the server's %d", ecr, serverTS)
				}
			}

			// The server's answer, translated for the client: the client
			// sees the cookie's sequence space and the SYN/ACK's clock.
			reply := buildTCP(t, tcpSpec{srcMAC: serverMAC, dstMAC: proxyMAC, src: tc.server, dst: tc.client,
				sport: 8080, dport: 45000, seq: serverISN + 1, ack: clientISN + 1 + uint32(len(data)), ack_: true,
				window: 200, options: []layers.TCPOption{tsOption(serverTS+5, clientTS+1)}, payload: []byte("HTTP/1.0 200 OK\r\n")})
			p = parse(t, reply)
			adj.ToClient(p.TCP())
			back := decode(t, reply)
			if back.tcp.Seq != cookie+1 || back.tcp.Ack != clientISN+1+uint32(len(data)) {
				t.Errorf("to client seq %#x ack %#x, want %#x", back.tcp.Seq, back.tcp.Ack, cookie+1)
			}
			if tc.serverTS {
				if val := binary.BigEndian.Uint32(back.opts[layers.TCPOptionKindTimestamps]); val != proxyTS+5 {
					t.Errorf("to client TSval %d, want %d (the SYN/ACK's + 5)", val, proxyTS+5)
				}
			}
		})
	}
}

// MSSIndexMSS is the MSS a cookie carries for a client's mss.
func MSSIndexMSS(mss uint16, ipv6 bool) uint16 { return MSSAt(MSSIndex(mss, ipv6), ipv6) }

func TestServerSYNACKRefuses(t *testing.T) {
	hs := Handshake{ClientISN: 100, CookieISN: 5000}
	for _, tc := range []struct {
		name string
		spec tcpSpec
		want Result
	}{
		{"ack only", tcpSpec{ack: 101, ack_: true}, NotSYNACK},
		{"syn only", tcpSpec{syn: true}, NotSYNACK},
		{"rst", tcpSpec{ack: 101, ack_: true, syn: true, rst: true}, NotSYNACK},
		{"wrong ack", tcpSpec{ack: 102, ack_: true, syn: true}, WrongServerACK},
	} {
		spec := tc.spec
		spec.src, spec.dst, spec.sport, spec.dport = server4, client4, 80, 45000
		frame := buildTCP(t, spec)
		orig := append([]byte(nil), frame...)
		if _, _, r := ServerSYNACK(parse(t, frame), &hs, &testConfig); r != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, r, tc.want)
		}
		if !bytes.Equal(frame, orig) {
			t.Errorf("%s: frame changed", tc.name)
		}
	}
	if n := BuildServerSYN(make([]byte, 60), &Handshake{Timestamps: true}, &ServerPath{Src: server4.As16()}, &testConfig); n != 0 {
		t.Errorf("BuildServerSYN into 60 bytes wrote %d", n)
	}
}
