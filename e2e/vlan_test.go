package e2e

import (
	"context"
	be "encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"fastlvs/testbed"
)

// The VLAN topology: the director's only interface, eth0, is a trunk to a
// switch (a bridge in namespace sw) that carries VLAN 100 (the client) and
// VLAN 200 (the real servers) tagged; the director's kernel holds its
// addresses, routes and neighbours on the devices standing for the two
// VLANs (v100, v200; vlanwire_test.go says why they are not eth0.100). The
// switch's trunk port puts tags in the frame (TX VLAN offload off), as a
// wire does.
//
//	client 198.18.1.11 [access 100] ─┐
//	reals 198.18.2.11/12 [access 200] ─ sw br0 ══ trunk ══ eth0 director (v100 198.18.1.1, v200 198.18.2.1)
const (
	vlanVIP           = "198.18.0.10"
	vlanClientID      = 100
	vlanRealID        = 200
	vlanClientAddress = "198.18.1.11"
	vlanLocal         = "198.18.3.1" // FULLNAT local address
	// IPv6 (NAT): the same picture in 2001:2::/48.
	vlanVIP6    = "2001:2::10"
	vlanClient6 = "2001:2:1::11"
)

// vlanReal6 is real server i's IPv6 address (1-based).
func vlanReal6(i int) string { return fmt.Sprintf("2001:2:2::%d", 10+i) }

// vlanCase is one run of TestVLANTrunk: a forwarding method over one family.
type vlanCase struct {
	name, forward string
	vip, client   string
	reals         [2]string
	seenAs        string // the client address the real servers see
}

var vlanCases = []vlanCase{
	{"nat", "nat", vlanVIP, vlanClientAddress, [2]string{testbed.RealAddr(1), testbed.RealAddr(2)}, vlanClientAddress},
	{"fullnat", "fullnat", vlanVIP, vlanClientAddress, [2]string{testbed.RealAddr(1), testbed.RealAddr(2)}, vlanLocal},
	{"dr", "dr", vlanVIP, vlanClientAddress, [2]string{testbed.RealAddr(1), testbed.RealAddr(2)}, vlanClientAddress},
	{"nat6", "nat", vlanVIP6, vlanClient6, [2]string{vlanReal6(1), vlanReal6(2)}, vlanClient6},
}

type vlanBed struct {
	client, sw, director *testbed.Host
	reals                []*testbed.Host
}

func buildVLANBed(t *testing.T, prefix, forward string) vlanBed {
	t.Helper()
	bed := testbed.ForTest(t, prefix)
	hosts := make([]*testbed.Host, 5)
	for i, name := range []string{"c1", "sw", "dir", "r1", "r2"} {
		var err error
		if hosts[i], err = bed.Host(name); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	b := vlanBed{client: hosts[0], sw: hosts[1], director: hosts[2], reals: hosts[3:]}
	one := testbed.LinkOptions{Queues: 1}
	must(bed.Bridge(b.sw, "br0"))
	must(bed.Connect(b.director, "eth0", b.sw, "eth0", one))
	must(bed.Attach(b.sw, "br0", "eth0"))
	mustRun(t, b.sw, "ethtool", "-K", "eth0", "txvlan", "off")
	vlanStandIn(t, bed, b.director, "eth0", "v100", vlanClientID)
	vlanStandIn(t, bed, b.director, "eth0", "v200", vlanRealID)
	must(b.director.AddAddr("v100", "198.18.1.1/24"))
	must(b.director.AddAddr("v200", "198.18.2.1/24"))
	must(b.director.AddAddr("v100", "2001:2:1::1/64"))
	must(b.director.AddAddr("v200", "2001:2:2::1/64"))
	must(b.director.Sysctl("net.ipv4.ip_forward", "1"))
	must(b.director.Sysctl("net.ipv6.conf.all.forwarding", "1"))

	must(bed.Connect(b.client, "eth0", b.sw, "c1", one))
	must(bed.Attach(b.sw, "br0", "c1"))
	accessPort(t, b.client, "eth0", vlanClientID)
	must(b.client.AddAddr("eth0", vlanClientAddress+"/24"))
	must(b.client.AddRoute("default", "198.18.1.1"))
	must(b.client.AddAddr("eth0", vlanClient6+"/64"))
	must(b.client.AddRoute("::/0", "2001:2:1::1"))
	for i, r := range b.reals {
		port := fmt.Sprintf("r%d", i+1)
		must(bed.Connect(r, "eth0", b.sw, port, one))
		must(bed.Attach(b.sw, "br0", port))
		accessPort(t, r, "eth0", vlanRealID)
		must(r.AddAddr("eth0", testbed.RealAddr(i+1)+"/24"))
		must(r.AddAddr("eth0", vlanReal6(i+1)+"/64"))
		must(r.AddRoute("::/0", "2001:2:2::1"))
		switch forward {
		case "fullnat":
			must(r.AddRoute("198.18.3.0/24", "198.18.2.1"))
		case "dr":
			mustRun(t, r, "ip", "addr", "add", vlanVIP+"/32", "dev", "lo")
			for _, iface := range []string{"all", "eth0"} {
				must(r.Sysctl("net.ipv4.conf."+iface+".arp_ignore", "1"))
				must(r.Sysctl("net.ipv4.conf."+iface+".arp_announce", "2"))
			}
			must(r.AddRoute("default", "198.18.2.1"))
		default:
			must(r.AddRoute("default", "198.18.2.1"))
		}
		if _, err := r.ServeHTTP(port, "[::]:80"); err != nil { // both families
			t.Fatal(err)
		}
		for _, addr := range []string{"0.0.0.0:7", "[::]:7"} {
			if _, err := r.ServeUDPEcho(port, addr); err != nil {
				t.Fatal(err)
			}
		}
	}
	if forward == "dr" { // the real servers answer from the VIP through the director's kernel
		must(b.director.Sysctl("net.ipv4.conf.all.accept_local", "1"))
	}
	return b
}

func vlanConfig(c vlanCase) string {
	extra := ""
	if c.forward == "fullnat" {
		extra = ", local_addresses: [" + vlanLocal + "]"
	}
	cfg := "interfaces: [eth0]\nvlans:\n  - {interface: eth0, id: 100, device: v100}\n  - {interface: eth0, id: 200, device: v200}\nservices:\n"
	for _, svc := range []string{"port: 80, protocol: tcp", "port: 7, protocol: udp"} {
		cfg += fmt.Sprintf("  - {vip: '%s', %s, scheduler: rr, forward: %s%s, health_check: {type: none}, real_servers: [{address: '%s'}, {address: '%s'}]}\n",
			c.vip, svc, c.forward, extra, c.reals[0], c.reals[1])
	}
	return cfg
}

// TestVLANTrunk: a director attached to one trunk balances HTTP and UDP
// from the clients' VLAN to real servers on another VLAN, for NAT, FULLNAT
// and DR, and NAT over IPv6; what it sends to the real servers carries their
// VLAN's tag and what it sends to the client the client's. For NAT, a ping
// to the VIP is answered and a datagram arriving with TTL 1 is answered with
// time exceeded, both tagged for the client's VLAN.
func TestVLANTrunk(t *testing.T) {
	for _, c := range vlanCases {
		t.Run(c.name, func(t *testing.T) {
			b := buildVLANBed(t, "vl"+c.name, c.forward)
			d := startDirectorOn(t, b.director, vlanConfig(c))
			var served map[string]int
			frames := captureTagged(t, b.sw, "eth0", func() {
				served = vlanTraffic(t, b.client, c)
				if c.name == "nat" {
					pingOnce(t, b.client, vlanVIP)
					sendUDP(t, b.client, 1, "expires")
				}
			})
			if served["r1"] == 0 || served["r2"] == 0 {
				t.Errorf("served %v: want both real servers", served)
			}
			checkVLANFrames(t, frames, c)
			if t.Failed() {
				t.Logf("director:\n%s", lastLines(d.output.String(), 5))
			}
		})
	}
}

// vlanTraffic makes 6 HTTP requests and 4 UDP requests to the VIP and
// counts the answers by real server.
func vlanTraffic(t *testing.T, client *testbed.Host, c vlanCase) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	served := map[string]int{}
	answer := func(body string, err error, what string) {
		if err != nil {
			t.Errorf("%s %s: %v", c.name, what, err)
			return
		}
		fields := strings.Fields(body)
		if len(fields) != 2 {
			t.Errorf("%s %s: answer %q", c.name, what, body)
			return
		}
		if seen, err := netip.ParseAddrPort(fields[1]); err != nil || seen.Addr().Unmap().String() != c.seenAs {
			t.Errorf("%s %s: the real server saw %s, want %s", c.name, what, fields[1], c.seenAs)
		}
		served[fields[0]]++
	}
	vip := netip.AddrPortFrom(netip.MustParseAddr(c.vip), 80)
	for range 6 {
		body, err := client.HTTPGet(ctx, "http://"+vip.String()+"/", "")
		answer(body, err, "http")
	}
	for i := range 4 {
		body, err := client.UDPRequest(ctx, netip.AddrPortFrom(vip.Addr(), 7).String(), "", []byte(fmt.Sprint("q", i)), 2*time.Second)
		answer(body, err, "udp")
	}
	return served
}

// checkVLANFrames looks at what the director sent on the trunk: every frame
// to a real server tagged 200, every frame to the client tagged 100, and
// among them (NAT over IPv4) the echo reply and the time exceeded from the
// VIP.
func checkVLANFrames(t *testing.T, frames []taggedFrame, c vlanCase) {
	t.Helper()
	toReal, toClient := 0, 0
	var echo, exceeded bool
	for _, f := range frames {
		p := gopacket.NewPacket(f.data, layers.LayerTypeEthernet, gopacket.Default)
		var src, dst string
		if ip, _ := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ip != nil {
			src, dst = ip.SrcIP.String(), ip.DstIP.String()
		} else if ip, _ := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ip != nil {
			src, dst = ip.SrcIP.String(), ip.DstIP.String()
		} else {
			continue
		}
		switch {
		case dst == c.reals[0] || dst == c.reals[1], c.forward == "dr" && dst == c.vip:
			toReal++
			if f.vlan != vlanRealID {
				t.Errorf("%s: frame to the real server %s tagged %d, want %d", c.name, dst, f.vlan, vlanRealID)
			}
		case dst == c.client:
			toClient++
			if f.vlan != vlanClientID {
				t.Errorf("%s: frame to the client from %s tagged %d, want %d", c.name, src, f.vlan, vlanClientID)
			}
			if icmp, _ := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); icmp != nil && src == c.vip {
				switch icmp.TypeCode.Type() {
				case layers.ICMPv4TypeEchoReply:
					echo = true
				case layers.ICMPv4TypeTimeExceeded:
					exceeded = true
				}
			}
		}
	}
	if toReal == 0 || toClient == 0 {
		t.Errorf("%s: captured %d frames to the real servers, %d to the client: want both", c.name, toReal, toClient)
	}
	if c.name == "nat" && (!echo || !exceeded) {
		t.Errorf("nat: echo reply seen %v, time exceeded seen %v: want both, tagged %d", echo, exceeded, vlanClientID)
	}
}

// pingOnce sends one ICMP echo request to addr from a raw socket in h and
// fails unless the reply comes back within two seconds.
func pingOnce(t *testing.T, h *testbed.Host, addr string) {
	t.Helper()
	var fd int
	err := h.Do(func() error {
		var err error
		fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP)
		return err
	})
	if err != nil {
		t.Fatalf("raw socket in %s: %v", h.Name, err)
	}
	defer unix.Close(fd)
	echo := []byte{8, 0, 0, 0, 0x12, 0x34, 0, 1, 'v', 'l', 'a', 'n'}
	var sum uint32
	for i := 0; i < len(echo); i += 2 {
		sum += uint32(be.BigEndian.Uint16(echo[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	be.BigEndian.PutUint16(echo[2:], ^uint16(sum))
	dst := unix.SockaddrInet4{Addr: netip.MustParseAddr(addr).As4()}
	if err := unix.Sendto(fd, echo, 0, &dst); err != nil {
		t.Fatalf("send echo to %s: %v", addr, err)
	}
	tv := unix.Timeval{Usec: 200_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil || n < 20 {
			continue
		}
		ip := buf[:n]
		icmp := ip[int(ip[0]&0x0f)*4:]
		if netip.AddrFrom4([4]byte(ip[12:16])).String() == addr && len(icmp) >= 8 && icmp[0] == 0 && be.BigEndian.Uint16(icmp[4:]) == 0x1234 {
			return
		}
	}
	t.Errorf("no echo reply from %s within 2s", addr)
}

// taggedFrame is a captured frame and its VLAN id (0: untagged).
type taggedFrame struct {
	data []byte
	vlan uint16
}

// captureTagged records the frames host's iface receives (not those it
// sends) while fn runs, with their VLAN ids.
func captureTagged(t *testing.T, h *testbed.Host, iface string, fn func()) []taggedFrame {
	t.Helper()
	var received []taggedFrame
	for _, f := range captureFrames(t, h, iface, fn) {
		if !f.outgoing {
			received = append(received, f.taggedFrame)
		}
	}
	return received
}

// auxVLAN is the VLAN id of a received frame: from the auxiliary data when
// the kernel took the tag out, else from the frame itself.
func auxVLAN(oob, frame []byte) uint16 {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err == nil {
		for _, m := range msgs {
			if m.Header.Level != unix.SOL_PACKET || m.Header.Type != unix.PACKET_AUXDATA || len(m.Data) < int(unsafe.Sizeof(unix.TpacketAuxdata{})) {
				continue
			}
			aux := (*unix.TpacketAuxdata)(unsafe.Pointer(&m.Data[0]))
			if aux.Status&unix.TP_STATUS_VLAN_VALID != 0 {
				return aux.Vlan_tci & 0x0fff
			}
		}
	}
	if len(frame) >= 18 && (be.BigEndian.Uint16(frame[12:]) == 0x8100 || be.BigEndian.Uint16(frame[12:]) == 0x88a8) {
		return be.BigEndian.Uint16(frame[14:]) & 0x0fff
	}
	return 0
}
