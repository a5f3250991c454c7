package steer

import (
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"
)

const (
	xdpPass     = 2
	xdpRedirect = 4
)

const (
	tcp = uint8(layers.IPProtocolTCP)
	udp = uint8(layers.IPProtocolUDP)
)

func endpoint(addr netip.Addr, port uint16, proto uint8) Endpoint {
	return Endpoint{Addr: addr.As16(), Port: port, Proto: proto}
}

// loadTestProgram loads the program unattached, with the test director's
// services, NAT real servers, FULLNAT local addresses and host addresses.
func loadTestProgram(tb testing.TB) *Program {
	tb.Helper()
	prog, err := load()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { prog.Close() })
	must(tb, prog.SetServices([]Endpoint{
		endpoint(vip, servicePort, tcp),
		endpoint(vip, dnsPort, udp),
		endpoint(vipAllPorts, 0, tcp),
		endpoint(vip6, servicePort, tcp),
	}))
	must(tb, prog.SetReplySources([]Endpoint{
		endpoint(realServer, realServerPort, tcp),
		endpoint(realServer6, realServerPort, tcp),
	}))
	must(tb, prog.SetLocalAddresses([][16]byte{localAddr.As16(), localAddr6.As16()}))
	must(tb, prog.SetHostAddresses([][16]byte{directorIn.As16(), directorIn6.As16()}))
	return prog
}

func must(tb testing.TB, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
}

// run runs the program once on frame and returns its verdict and the change
// of the counters.
func run(tb testing.TB, prog *Program, frame []byte) (uint32, Stats) {
	tb.Helper()
	before, err := prog.Stats()
	must(tb, err)
	verdict, err := prog.objects.FastlvsSteer.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		tb.Fatalf("run steering program on %d bytes: %v", len(frame), err)
	}
	after, err := prog.Stats()
	must(tb, err)
	return verdict, Stats{
		SteeredService:      after.SteeredService - before.SteeredService,
		SteeredNATReply:     after.SteeredNATReply - before.SteeredNATReply,
		SteeredFullNATReply: after.SteeredFullNATReply - before.SteeredFullNATReply,
		SteeredICMPError:    after.SteeredICMPError - before.SteeredICMPError,
		Passed:              after.Passed - before.Passed,
		SteeredFragment:     after.SteeredFragment - before.SteeredFragment,
		SteeredTunnel:       after.SteeredTunnel - before.SteeredTunnel,
		PassedFragment:      after.PassedFragment - before.PassedFragment,
		NoSocket:            after.NoSocket - before.NoSocket,
	}
}

// Expected counter changes. With no socket registered, a steered frame also
// counts as NoSocket and falls back to XDP_PASS.
var (
	service  = Stats{SteeredService: 1, NoSocket: 1}
	natReply = Stats{SteeredNATReply: 1, NoSocket: 1}
	fullNAT  = Stats{SteeredFullNATReply: 1, NoSocket: 1}
	icmpErr  = Stats{SteeredICMPError: 1, NoSocket: 1}
	passed   = Stats{Passed: 1}
	fragment = Stats{PassedFragment: 1}
	steeredF = Stats{SteeredFragment: 1, NoSocket: 1}
)

type classifyCase struct {
	name  string
	frame []byte
	want  Stats
}

func classifyCases(tb testing.TB) []classifyCase {
	vipSYN := frame(tb, client, clientPort, vip, servicePort, layers.IPProtocolTCP)
	vip6SYN := frame(tb, client6, clientPort, vip6, servicePort, layers.IPProtocolTCP)
	vipSYNQinQ := vlanFrame(tb, []uint16{100, 200}, client, clientPort, vip, servicePort, layers.IPProtocolTCP)
	icmpAboutVIPReply := icmpError(tb, router, vip, 3, 4, // fragmentation needed
		quoted(tb, vip, servicePort, client, clientPort, layers.IPProtocolTCP))
	return []classifyCase{
		// Rule 1: virtual services.
		{"tcp to vip:port", vipSYN, service},
		{"udp to vip:port", frame(tb, client, clientPort, vip, dnsPort, layers.IPProtocolUDP), service},
		{"tcp to vip, other port", frame(tb, client, clientPort, vip, servicePort+1, layers.IPProtocolTCP), passed},
		{"udp to a tcp-only vip:port", frame(tb, client, clientPort, vip, servicePort, layers.IPProtocolUDP), passed},
		{"tcp to all-ports vip", frame(tb, client, clientPort, vipAllPorts, 4242, layers.IPProtocolTCP), service},
		{"udp to tcp all-ports vip", frame(tb, client, clientPort, vipAllPorts, 4242, layers.IPProtocolUDP), passed},
		{"ipv6 tcp to vip:port", vip6SYN, service},
		{"ipv6 tcp to vip, other port", frame(tb, client6, clientPort, vip6, servicePort+1, layers.IPProtocolTCP), passed},
		{"ipv4 with options to vip:port", withIPv4Options(tb, vip, servicePort), service},
		{"vlan tagged to vip:port", vlanFrame(tb, []uint16{100}, client, clientPort, vip, servicePort, layers.IPProtocolTCP), service},
		{"qinq tagged to vip:port", vipSYNQinQ, service},
		{"qinq tagged ipv6 to vip:port", vlanFrame(tb, []uint16{100, 200}, client6, clientPort, vip6, servicePort, layers.IPProtocolTCP), service},
		{"three vlan tags", vlanFrame(tb, []uint16{1, 2, 3}, client, clientPort, vip, servicePort, layers.IPProtocolTCP), passed},
		// A trunk: every rule below holds behind a tag (802.1Q or 802.1ad).
		{"vlan tagged nat reply", tagged(frame(tb, realServer, realServerPort, client, clientPort, layers.IPProtocolTCP), 0x8100, 200), natReply},
		{"802.1ad tagged real server, udp", tagged(frame(tb, realServer, realServerPort, client, clientPort, layers.IPProtocolUDP), 0x88a8, 200), passed},
		{"802.1ad tagged tcp nat reply", tagged(frame(tb, realServer, realServerPort, client, clientPort, layers.IPProtocolTCP), 0x88a8, 200), natReply},
		{"vlan tagged ipv6 nat reply", tagged(frame(tb, realServer6, realServerPort, client6, clientPort, layers.IPProtocolTCP), 0x8100, 200), natReply},
		{"vlan tagged fullnat reply", tagged(frame(tb, realServer, realServerPort, localAddr, localPort, layers.IPProtocolTCP), 0x8100, 200), fullNAT},
		{"vlan tagged frag needed about a vip reply", tagged(icmpAboutVIPReply, 0x8100, 100), icmpErr},
		{"vlan tagged echo to vip", tagged(echoRequest(tb, client, vip), 0x8100, 100), service},
		{"vlan tagged fragment to vip", tagged(fragment4(tb, vip, dnsPort, layers.IPv4MoreFragments, 100), 0x8100, 100), steeredF},
		{"vlan tagged ssh to director", tagged(frame(tb, client, clientPort, directorIn, 22, layers.IPProtocolTCP), 0x8100, 100), passed},
		{"vlan tagged arp for vip", tagged(arpRequest(tb, vip), 0x8100, 100), passed},

		// The kernel's traffic.
		{"arp for vip", arpRequest(tb, vip), passed},
		{"icmp echo to director", echoRequest(tb, client, directorIn), passed},
		{"icmpv6 echo to director", echoRequest(tb, client6, directorIn6), passed},
		{"icmp echo reply to vip", withICMPType(echoRequest(tb, client, vip), 14+20, 0), passed},
		{"icmpv6 echo reply to vip", withICMPType(echoRequest(tb, client6, vip6), 14+40, 129), passed},
		{"ssh to director", frame(tb, client, clientPort, directorIn, 22, layers.IPProtocolTCP), passed},
		{"ipv6 hop-by-hop to vip:port", withHopByHop(tb, vip6, servicePort), passed},

		// Rule 3 of the brief: NAT replies, unless they are health-check replies.
		{"nat reply", frame(tb, realServer, realServerPort, client, clientPort, layers.IPProtocolTCP), natReply},
		{"ipv6 nat reply", frame(tb, realServer6, realServerPort, client6, clientPort, layers.IPProtocolTCP), natReply},
		{"nat reply shape to director (health check)", frame(tb, realServer, realServerPort, directorIn, clientPort, layers.IPProtocolTCP), passed},
		{"ipv6 health check reply", frame(tb, realServer6, realServerPort, directorIn6, clientPort, layers.IPProtocolTCP), passed},
		{"real server, other port", frame(tb, realServer, 22, client, clientPort, layers.IPProtocolTCP), passed},
		{"real server, udp", frame(tb, realServer, realServerPort, client, clientPort, layers.IPProtocolUDP), passed},

		// FULLNAT replies to local addresses, TCP and UDP only.
		{"fullnat reply", frame(tb, realServer, realServerPort, localAddr, localPort, layers.IPProtocolTCP), fullNAT},
		{"fullnat udp reply", frame(tb, realServer, 53, localAddr, localPort, layers.IPProtocolUDP), fullNAT},
		{"ipv6 fullnat reply", frame(tb, realServer6, realServerPort, localAddr6, localPort, layers.IPProtocolTCP), fullNAT},
		{"icmp echo to local address", echoRequest(tb, realServer, localAddr), passed},

		// Rule 5: fragments, by addresses and protocol.
		{"first fragment to vip:port", fragment4(tb, vip, dnsPort, layers.IPv4MoreFragments, 0), steeredF},
		{"later fragment to vip", fragment4(tb, vip, dnsPort, layers.IPv4MoreFragments, 100), steeredF},
		{"last fragment to vip", fragment4(tb, vip, dnsPort, 0, 200), steeredF},
		{"udp fragment to a tcp-only vip", fragment4(tb, vipAllPorts, dnsPort, 0, 200), fragment},
		{"fragment to the director", fragment4(tb, directorIn, dnsPort, 0, 200), fragment},
		{"fragment to a fullnat local address", fragment4(tb, localAddr, dnsPort, 0, 200), steeredF},
		{"tcp fragment from a nat real server", tcp4(withAddrs4(fragment4(tb, vip, dnsPort, 0, 200), realServer, client)), steeredF},
		{"udp fragment from a tcp nat real server", withAddrs4(fragment4(tb, vip, dnsPort, 0, 200), realServer, client), fragment},
		{"tcp fragment from a nat real server to the director", tcp4(withAddrs4(fragment4(tb, vip, dnsPort, 0, 200), realServer, directorIn)), fragment},
		{"ipv6 udp fragment to a tcp-only vip6", fragment6(tb, vip6, dnsPort), fragment},
		{"ipv6 fragment to a fullnat local address", fragment6(tb, localAddr6, dnsPort), steeredF},
		{"ipv6 fragment header cut", fragment6(tb, localAddr6, dnsPort)[:14+40+4], fragment},
		// Rule 5: echo requests to a VIP (any of its services) are fastlvs's.
		{"icmp echo to vip", echoRequest(tb, client, vip), service},
		{"icmp echo to all-ports vip", echoRequest(tb, client, vipAllPorts), service},
		{"icmpv6 echo to vip", echoRequest(tb, client6, vip6), service},
		{"icmp echo to vip, header cut", echoRequest(tb, client, vip)[:14+20+3], passed},

		{"dont-fragment flag is no fragment", func() []byte {
			f := fragment4(tb, vip, dnsPort, layers.IPv4DontFragment, 0)
			return f
		}(), service},

		// ICMP errors about packets fastlvs sent.
		{"frag needed about a vip reply", icmpAboutVIPReply, icmpErr},
		{"time exceeded toward a nat real server", icmpError(tb, router, client, 11, 0,
			quoted(tb, client, clientPort, realServer, realServerPort, layers.IPProtocolTCP)), icmpErr},
		{"unreachable about a director health check", icmpError(tb, realServer, directorIn, 3, 3,
			quoted(tb, directorIn, clientPort, realServer, realServerPort, layers.IPProtocolTCP)), passed},
		{"unreachable about a fullnat packet", icmpError(tb, router, localAddr, 3, 1,
			quoted(tb, localAddr, localPort, realServer, realServerPort, layers.IPProtocolUDP)), icmpErr},
		{"unreachable about other traffic", icmpError(tb, router, directorIn, 3, 1,
			quoted(tb, directorIn, clientPort, client, 22, layers.IPProtocolTCP)), passed},
		{"redirect about a vip reply", icmpError(tb, router, vip, 5, 1,
			quoted(tb, vip, servicePort, client, clientPort, layers.IPProtocolTCP)), passed},
		{"packet too big about a vip6 reply", icmpError(tb, router6, vip6, 2, 0,
			quoted(tb, vip6, servicePort, client6, clientPort, layers.IPProtocolTCP)), icmpErr},
		{"ipv6 time exceeded toward a nat real server", icmpError(tb, directorIn6, client6, 3, 0,
			quoted(tb, client6, clientPort, realServer6, realServerPort, layers.IPProtocolTCP)), icmpErr},
		{"ipv6 unreachable about a fullnat packet", icmpError(tb, realServer6, localAddr6, 1, 4,
			quoted(tb, localAddr6, localPort, realServer6, realServerPort, layers.IPProtocolTCP)), icmpErr},
		{"ipv6 unreachable about other traffic", icmpError(tb, realServer6, directorIn6, 1, 4,
			quoted(tb, directorIn6, clientPort, realServer6, 22, layers.IPProtocolTCP)), passed},

		// Truncated frames are passed; the verifier proves no read beyond the end.
		{"ethernet header only", vipSYN[:14], passed},
		{"ipv4 header cut", vipSYN[:14+19], passed},
		{"ipv4 ports cut", vipSYN[:14+20+3], passed},
		{"ipv4 ports only", vipSYN[:14+20+4], service},
		{"ihl beyond the frame", withIHL(vipSYN, 15)[:14+40], passed},
		{"ihl below 5", withIHL(vipSYN, 4), passed},
		{"vlan tag cut", vipSYNQinQ[:14+6], passed},
		{"ipv6 header cut", vip6SYN[:14+39], passed},
		{"ipv6 ports cut", vip6SYN[:14+40+3], passed},
		{"icmp header cut", icmpAboutVIPReply[:14+20+7], passed},
		{"icmp quote ports cut", icmpAboutVIPReply[:14+20+8+20+3], passed},
		{"icmp quote ports only", icmpAboutVIPReply[:14+20+8+20+4], icmpErr},
	}
}

// withICMPType returns frame with the ICMP type at off changed (the
// checksum is not fixed: the program does not read it).
func withICMPType(frame []byte, off int, typ uint8) []byte {
	frame[off] = typ
	return frame
}

func TestClassify(t *testing.T) {
	prog := loadTestProgram(t)
	for _, tc := range classifyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			verdict, got := run(t, prog, tc.frame)
			if verdict != xdpPass {
				t.Errorf("verdict %d, want XDP_PASS (%d): no socket is registered", verdict, xdpPass)
			}
			if got != tc.want {
				t.Errorf("counters changed by %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestClassifyRedirectsToRegisteredSocket registers an AF_XDP socket for queue
// 0 (the queue of BPF_PROG_TEST_RUN) and checks steered frames are redirected.
func TestClassifyRedirectsToRegisteredSocket(t *testing.T) {
	prog := loadTestProgram(t)
	must(t, prog.RegisterSocket(0, newXSK(t)))
	for _, tc := range classifyCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			verdict, got := run(t, prog, tc.frame)
			want := tc.want
			wantVerdict := uint32(xdpPass)
			if want.NoSocket != 0 {
				want.NoSocket = 0
				wantVerdict = xdpRedirect
			}
			if verdict != wantVerdict {
				t.Errorf("verdict %d, want %d", verdict, wantVerdict)
			}
			if got != want {
				t.Errorf("counters changed by %+v, want %+v", got, want)
			}
		})
	}

	must(t, prog.UnregisterSocket(0))
	verdict, got := run(t, prog, frame(t, client, clientPort, vip, servicePort, layers.IPProtocolTCP))
	if verdict != xdpPass || got != service {
		t.Errorf("after unregistering: verdict %d counters %+v, want %d %+v", verdict, got, xdpPass, service)
	}
}

func TestRegisterSocketRejectsQueueOutOfRange(t *testing.T) {
	prog := loadTestProgram(t)
	for _, queue := range []int{-1, 256} {
		if err := prog.RegisterSocket(queue, newXSK(t)); err == nil {
			t.Errorf("RegisterSocket(%d) succeeded, want an error", queue)
		}
	}
}

// withAddrs4 is an IPv4 frame with its addresses replaced (the header
// checksum is left stale: the steering program does not read it).
func withAddrs4(frame []byte, src, dst netip.Addr) []byte {
	s, d := src.As4(), dst.As4()
	copy(frame[14+12:], s[:])
	copy(frame[14+16:], d[:])
	return frame
}

// tcp4 is an IPv4 frame with its protocol set to TCP.
func tcp4(frame []byte) []byte {
	frame[14+9] = tcp
	return frame
}
