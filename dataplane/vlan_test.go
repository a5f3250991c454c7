package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"

	"fastlvs/header"
	"fastlvs/nexthop"
)

// withTag is frame with an 802.1Q (or tpid) tag inserted after the MACs,
// built by hand so the code under test does not check itself.
func withTag(frame []byte, tpid, vlan, pcp uint16) []byte {
	out := append([]byte(nil), frame[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, pcp<<13|vlan)
	return append(out, frame[12:]...)
}

func tag1q(frame []byte, vlan uint16) []byte { return withTag(frame, header.EtherTypeVLAN, vlan, 0) }

func TestRetag(t *testing.T) {
	plain := natSyn.frame(t)
	for _, c := range []struct {
		name       string
		in         []byte
		tpid, vlan uint16
		want       []byte
	}{
		{"untagged stays", plain, 0, 0, plain},
		{"push", plain, header.EtherTypeVLAN, 100, tag1q(plain, 100)},
		{"push 802.1ad", plain, header.EtherTypeQinQ, 7, withTag(plain, header.EtherTypeQinQ, 7, 0)},
		{"rewrite keeps the priority", withTag(plain, header.EtherTypeVLAN, 100, 5), header.EtherTypeVLAN, 200,
			withTag(plain, header.EtherTypeVLAN, 200, 5)},
		{"rewrite the tpid", tag1q(plain, 100), header.EtherTypeQinQ, 100, withTag(plain, header.EtherTypeQinQ, 100, 0)},
		{"pop", tag1q(plain, 100), 0, 0, plain},
	} {
		const headroom = 8
		buf := make([]byte, headroom+len(c.in))
		copy(buf[headroom:], c.in)
		pkt := &packet{buf: buf, off: headroom, size: len(c.in)}
		if needs := needsRetag(c.in, c.tpid, c.vlan); needs == bytes.Equal(c.in, c.want) {
			t.Errorf("%s: needsRetag %v", c.name, needs)
		}
		if !retagInPlace(pkt, c.tpid, c.vlan) || !bytes.Equal(pkt.frame(), c.want) {
			t.Errorf("%s in place:\n got %x\nwant %x", c.name, pkt.frame(), c.want)
		}
		dst := make([]byte, 2048)
		if n := copyRetagged(dst, c.in, c.tpid, c.vlan); !bytes.Equal(dst[:n], c.want) {
			t.Errorf("%s copied:\n got %x\nwant %x", c.name, dst[:n], c.want)
		}
		if n := copyRetagged(dst[:len(c.want)-1], c.in, c.tpid, c.vlan); n != 0 {
			t.Errorf("%s: copied %d bytes into too small a buffer", c.name, n)
		}
	}
	// A push without headroom leaves the frame alone and says so.
	pkt := &packet{buf: append([]byte(nil), plain...), size: len(plain)}
	if retagInPlace(pkt, header.EtherTypeVLAN, 100) || !bytes.Equal(pkt.frame(), plain) {
		t.Fatal("push without headroom: want false and the frame untouched")
	}
}

// The real servers' port in vlanNextHops: socket port 1 untagged, VLAN 200
// on the trunk (socket port 0) with the client's VLAN, or VLAN 200 of socket
// port 1.
const (
	realsUntagged  = 1
	realsOnTrunk   = 3
	realsTaggedOn1 = 4
)

// vlanNextHops is a trunk on socket port 0 carrying VLAN 100 (port 2, the
// clients) and VLAN 200 (port 3); socket port 1 carries VLAN 200 too (port
// 4). The real servers are on realPort.
func vlanNextHops(realPort int) *nexthop.Snapshot {
	neighbors := map[netip.Addr]nexthop.StaticNeighbor{
		addr("198.18.1.5"): {MAC: clientMAC, Port: 2},
		addr("198.18.2.2"): {MAC: realMAC2, Port: realPort},
		addr("198.18.2.3"): {MAC: realMAC3, Port: realPort},
	}
	return nexthop.NewStaticSnapshot([]header.MAC{portMAC0, portMAC1},
		[]nexthop.StaticRoute{
			{Prefix: netip.MustParsePrefix("198.18.1.0/24"), Port: 2},
			{Prefix: netip.MustParsePrefix("198.18.2.0/24"), Port: realPort},
		}, neighbors).WithVLANPorts([]nexthop.VLANPort{
		{Parent: 0, TPID: header.EtherTypeVLAN, ID: 100, MAC: portMAC0},
		{Parent: 0, TPID: header.EtherTypeVLAN, ID: 200, MAC: portMAC1},
		{Parent: 1, TPID: header.EtherTypeVLAN, ID: 200, MAC: portMAC1},
	})
}

// exchange delivers in on socket port and returns the one frame sent, on
// socket port out.
func (d *ringDataplane) exchange(tb testing.TB, port int, in []byte, out int) []byte {
	tb.Helper()
	d.deliver(tb, 0, port, in)
	d.Workers[0].poll()
	got := d.sent(0, out)
	if len(got) != 1 {
		tb.Fatalf("socket %d sent %d frames, want 1 (drops %v)", out, len(got), dropCounts(d.Workers[0]))
	}
	return got[0]
}

// TestPollVLANNAT: a NAT connection from a client on VLAN 100 of the trunk
// (socket port 0) to a real server on VLAN 200 of the same trunk, on the
// other, untagged interface, or on VLAN 200 of the other interface: each
// frame leaves with the tag of the port it leaves by. The real server's
// reply arriving on the clients' VLAN is a forgery.
func TestPollVLANNAT(t *testing.T) {
	tagged := func(vlan uint16) func([]byte) []byte {
		return func(f []byte) []byte { return tag1q(f, vlan) }
	}
	untagged := func(f []byte) []byte { return f }
	for _, c := range []struct {
		name       string
		realPort   int
		realSocket int
		realTag    func([]byte) []byte
	}{
		{"one trunk", realsOnTrunk, 0, tagged(200)},
		{"trunk to untagged interface", realsUntagged, 1, untagged},
		{"two trunks", realsTaggedOn1, 1, tagged(200)},
	} {
		d := newRingDataplane(t, testSpec(), 1, 64)
		d.hops = vlanNextHops(c.realPort)
		toReal := natSyn.toReal("198.18.2.2", 8080, realMAC2).routed()
		if got, want := d.exchange(t, 0, tag1q(natSyn.frame(t), 100), c.realSocket), c.realTag(toReal.frame(t)); !bytes.Equal(got, want) {
			t.Fatalf("%s: SYN to the real server:\n got %x\nwant %x", c.name, got, want)
		}
		reply := toReal.fromReal(synAck)
		back := natSyn.with(func(p *pkt) { p.flags = synAck }).reply().routed()
		if got, want := d.exchange(t, c.realSocket, c.realTag(reply.frame(t)), 0), tag1q(back.frame(t), 100); !bytes.Equal(got, want) {
			t.Fatalf("%s: SYN/ACK to the client:\n got %x\nwant %x", c.name, got, want)
		}
		d.deliver(t, 0, 0, tag1q(reply.frame(t), 100))
		d.Workers[0].poll()
		if n := d.Workers[0].Stats.Drops[DropSpoofedReply].Load(); n != 1 {
			t.Fatalf("%s: spoofed_reply %d after a reply on the clients' VLAN, want 1", c.name, n)
		}
		d.checkNoLeak(t)
	}
}

func TestPollVLANGeneratedAnswersCarryTheTag(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	d.hops = vlanNextHops(realsOnTrunk)
	echo := icmpPkt{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20",
		typ: header.ICMPv4EchoRequest, word: 7<<16 | 1, payload: []byte("ping")}
	wantEcho := icmpPkt{srcMAC: portMAC0, dstMAC: clientMAC, src: "198.18.0.20", dst: "198.18.1.5",
		typ: header.ICMPv4EchoReply, word: 7<<16 | 1, payload: []byte("ping"), ttl: icmpTTL}
	if got, want := d.exchange(t, 0, tag1q(echo.frame(t), 100), 0), tag1q(wantEcho.frame(t), 100); !bytes.Equal(got, want) {
		t.Fatalf("echo reply:\n got %x\nwant %x", got, want)
	}
	// Time exceeded is built untagged in front of the packet: the tag is
	// pushed on the way out.
	expiring := natSyn.with(func(p *pkt) { p.routedBy = 63 })
	got := d.exchange(t, 0, tag1q(expiring.frame(t), 100), 0)
	if binary.BigEndian.Uint16(got[12:]) != header.EtherTypeVLAN || header.VLAN(got[14:]).ID() != 100 {
		t.Fatalf("time exceeded left with ethertype %#x: want VLAN 100", binary.BigEndian.Uint16(got[12:]))
	}
	var p header.Packet
	if p.Parse(got) != header.ParseOK || p.Proto != header.ProtocolICMPv4 || p.ICMPv4()[0] != header.ICMPv4TimeExceeded {
		t.Fatalf("want time exceeded, got %x", got)
	}
	d.checkNoLeak(t)
}

func TestPollVLANSynProxyAnswersOnTheClientsVLAN(t *testing.T) {
	d := newRingDataplane(t, proxySpec(), 1, 64)
	d.hops = vlanNextHops(realsOnTrunk)
	syn := segment{srcMAC: clientMAC, dstMAC: portMAC0, src: "198.18.1.5", dst: "198.18.0.20", sport: 40000, dport: 80,
		seq: 1000, syn: true, withOptions: true, tsVal: 111}
	got := d.exchange(t, 0, tag1q(syn.frame(t), 100), 0)
	if binary.BigEndian.Uint16(got[12:]) != header.EtherTypeVLAN || header.VLAN(got[14:]).ID() != 100 {
		t.Fatalf("SYN/ACK left with ethertype %#x: want VLAN 100", binary.BigEndian.Uint16(got[12:]))
	}
	if answer := decode(t, got); !answer.tcp.SYN || !answer.tcp.ACK || answer.tcp.Ack != 1001 {
		t.Fatalf("answer %+v, want the cookie SYN/ACK", answer.tcp)
	}
}

func TestPollVLANDrops(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	d.hops = vlanNextHops(realsOnTrunk)
	w := d.Workers[0]
	plain := natSyn.frame(t)
	for _, c := range []struct {
		name   string
		socket int
		in     []byte
		want   Drop
	}{
		{"a VLAN without a sub-interface", 0, tag1q(plain, 300), DropVLANUnknown},
		{"VLAN 100 on the other interface", 1, tag1q(plain, 100), DropVLANUnknown},
		{"802.1ad where the sub-interface is 802.1Q", 0, withTag(plain, header.EtherTypeQinQ, 100, 0), DropVLANUnknown},
		{"two tags", 0, withTag(tag1q(plain, 100), header.EtherTypeQinQ, 10, 0), DropVLANStacked},
	} {
		before := w.Stats.Drops[c.want].Load()
		d.deliver(t, 0, c.socket, c.in)
		w.poll()
		if got := w.Stats.Drops[c.want].Load() - before; got != 1 {
			t.Errorf("%s: %s counted %d, want 1", c.name, c.want, got)
		}
	}
	if n := len(d.sent(0, 0)) + len(d.sent(0, 1)); n != 0 {
		t.Fatalf("%d frames sent, want none", n)
	}
	d.checkNoLeak(t)
}

func TestPollVLANAllocatesNothing(t *testing.T) {
	d := newRingDataplane(t, testSpec(), 1, 64)
	d.hops = vlanNextHops(realsOnTrunk)
	w := d.Workers[0]
	d.deliver(t, 0, 0, tag1q(natSyn.frame(t), 100))
	w.poll()
	est := tag1q(natSyn.with(func(p *pkt) { p.flags = ack }).frame(t), 100)
	allocs := testing.AllocsPerRun(200, func() {
		d.kernels[0][0].Deliver(est)
		w.poll()
		d.kernels[0][0].Drain()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per tagged packet, want 0", allocs)
	}
}

func TestAttachingToAVLANSubInterfaceNamesItsParent(t *testing.T) {
	vlan := &netlink.Vlan{LinkAttrs: netlink.LinkAttrs{Name: "eth1.100", ParentIndex: 1 << 30}, VlanId: 100}
	err := vlanInterfaceError(vlan)
	for _, want := range []string{"eth1.100 is VLAN 100 of", "attach fastlvs to", "trunk mode"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v does not say %q", err, want)
		}
	}
}
