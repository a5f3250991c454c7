package tunnel

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/google/gopacket/layers"
)

const xdpPass = 2

// testVIPs are the fixtures' inner destinations: a real server holds them
// on lo, so they are among its local addresses.
var testVIPs = []string{"198.18.0.10", "2001:2::10"}

// loadTestDecap loads the program (not attached) holding the given local
// addresses and the VIPs.
func loadTestDecap(t *testing.T, local ...string) *Decap {
	t.Helper()
	d, err := loadDecapProgram()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	var addrs []netip.Addr
	for _, a := range append(local, testVIPs...) {
		addrs = append(addrs, netip.MustParseAddr(a))
	}
	if err := d.SetLocalAddresses(addrs); err != nil {
		t.Fatal(err)
	}
	return d
}

// run passes frame through the program (BPF_PROG_TEST_RUN) and returns the
// frame the kernel would go on with.
func run(t *testing.T, d *Decap, frame []byte) []byte {
	t.Helper()
	ret, out := runVerdict(t, d, frame)
	if ret != xdpPass {
		t.Fatalf("verdict %d, want XDP_PASS", ret)
	}
	return out
}

// runVerdict is run returning the verdict too.
func runVerdict(t *testing.T, d *Decap, frame []byte) (uint32, []byte) {
	t.Helper()
	opts := &ebpf.RunOptions{Data: frame, DataOut: make([]byte, len(frame)+256)}
	ret, err := d.objects.FastlvsDecap.Run(opts)
	if err != nil {
		t.Fatalf("run decap program: %v", err)
	}
	return ret, opts.DataOut
}

const xdpDrop = 1

// TestDecapRefusesForeignSourcesAndDestinations: with allowed sources set,
// only those may tunnel to the host; an inner packet for an address the
// host does not hold is dropped whatever its source.
func TestDecapRefusesForeignSourcesAndDestinations(t *testing.T) {
	d := loadTestDecap(t, "198.18.2.12")
	tcp := inner{src: "198.18.1.11", dst: "198.18.0.10"}
	elsewhere := inner{src: "198.18.1.11", dst: "198.18.0.99"}
	if ret, _ := runVerdict(t, d, elsewhere.encapsulated(t, "198.18.2.1", "198.18.2.12", 3)); ret != xdpDrop || stats(t, d).DroppedInner != 1 {
		t.Fatalf("inner packet for another address: verdict %d, stats %+v; want dropped and counted", ret, stats(t, d))
	}
	if err := d.SetAllowedSources([]netip.Prefix{netip.MustParsePrefix("198.18.2.0/30")}); err != nil {
		t.Fatal(err)
	}
	run(t, d, tcp.encapsulated(t, "198.18.2.1", "198.18.2.12", 3)) // an allowed director
	if ret, _ := runVerdict(t, d, tcp.encapsulated(t, "198.18.2.9", "198.18.2.12", 3)); ret != xdpDrop || stats(t, d).DroppedSource != 1 {
		t.Fatalf("tunnel from a source not allowed: verdict %d, stats %+v; want dropped and counted", ret, stats(t, d))
	}
	if err := d.SetAllowedSources(nil); err != nil {
		t.Fatal(err)
	}
	run(t, d, tcp.encapsulated(t, "198.18.2.9", "198.18.2.12", 3)) // the filter is off again
	if s := stats(t, d); s.Decap4in4 != 2 {
		t.Fatalf("opened %d, want the allowed director's and the unfiltered one", s.Decap4in4)
	}
}

func stats(t *testing.T, d *Decap) DecapStats {
	t.Helper()
	s, err := d.Stats()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestDecapOpensWhatEncapsulateBuilt runs every encapsulation fixture
// through the real-server program: out comes the client's own frame.
func TestDecapOpensWhatEncapsulateBuilt(t *testing.T) {
	d := loadTestDecap(t, "198.18.2.12", "198.18.2.13", "2001:2:2::2")
	var want DecapStats
	for _, c := range encapCases {
		if c.in.vlan != 0 {
			continue // tagged frames: see TestDecapPassesOthersUntouched
		}
		t.Run(c.name, func(t *testing.T) {
			frame := c.in.frame(t)
			chunk := place(frame)
			src, dst := as16(c.src), as16(c.dst)
			start, length := Encapsulate(chunk, headroom, len(frame), c.l3Off, &src, &dst, 9)
			got := run(t, d, chunk[start:start+length])
			if want := c.in.unpadded(t, c.l3Off); !bytes.Equal(got, want) {
				t.Fatalf("decapsulated frame differs\n got: %x\nwant: %x", got, want)
			}
		})
		outer4 := netip.MustParseAddr(c.dst).Is4()
		inner4 := netip.MustParseAddr(c.in.src).Is4()
		switch {
		case outer4 && inner4:
			want.Decap4in4++
		case outer4:
			want.Decap6in4++
		case inner4:
			want.Decap4in6++
		default:
			want.Decap6in6++
		}
	}
	if got := stats(t, d); got != want {
		t.Fatalf("counters %+v, want %+v", got, want)
	}
}

func TestDecapPassesOthersUntouched(t *testing.T) {
	d := loadTestDecap(t, "198.18.2.12")
	tcp := inner{src: "198.18.1.11", dst: "198.18.0.10"}
	fragment := tcp.encapsulated(t, "198.18.2.1", "198.18.2.12", 3)
	fragment[14+6] |= 0x20 // MF
	wrongVersion := tcp.encapsulated(t, "198.18.2.1", "198.18.2.12", 3)
	wrongVersion[14+9] = byte(layers.IPProtocolIPv6) // says IPv6, carries IPv4
	for _, c := range []struct {
		name  string
		frame []byte
		count func(*DecapStats) *uint64
	}{
		{"plain tcp", tcp.frame(t), func(s *DecapStats) *uint64 { return &s.Passed }},
		{"bare arp header", append(bytes.Clone(realMAC), append(bytes.Clone(directorMAC), 0x08, 0x06)...), func(s *DecapStats) *uint64 { return &s.Passed }},
		{"tunnel to another host", tcp.encapsulated(t, "198.18.2.1", "198.18.2.99", 3),
			func(s *DecapStats) *uint64 { return &s.PassedNotLocal }},
		{"tunnel in a vlan tag", inner{src: "198.18.1.11", dst: "198.18.0.10", vlan: 7}.encapsulated(t, "198.18.2.1", "198.18.2.12", 3),
			func(s *DecapStats) *uint64 { return &s.Passed }},
		{"outer fragment", fragment, func(s *DecapStats) *uint64 { return &s.PassedMalformed }},
		{"inner version mismatch", wrongVersion, func(s *DecapStats) *uint64 { return &s.PassedMalformed }},
		{"truncated outer", tcp.encapsulated(t, "198.18.2.1", "198.18.2.12", 3)[:14+20],
			func(s *DecapStats) *uint64 { return &s.PassedMalformed }},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := stats(t, d)
			got := run(t, d, c.frame)
			if !bytes.Equal(got, c.frame) {
				t.Fatalf("frame changed\n got: %x\nwant: %x", got, c.frame)
			}
			want := before
			*c.count(&want)++
			if after := stats(t, d); after != want {
				t.Fatalf("counters %+v, want %+v", after, want)
			}
		})
	}
}

// TestSetLocalAddressesReplaces checks that a refresh removes addresses the
// host gave up: their tunnel packets pass unopened.
func TestSetLocalAddressesReplaces(t *testing.T) {
	d := loadTestDecap(t, "198.18.2.12", "198.18.2.13")
	if err := d.SetLocalAddresses([]netip.Addr{netip.MustParseAddr("198.18.2.13"), netip.MustParseAddr("198.18.0.10")}); err != nil {
		t.Fatal(err)
	}
	tcp := inner{src: "198.18.1.11", dst: "198.18.0.10"}
	run(t, d, tcp.encapsulated(t, "198.18.2.1", "198.18.2.12", 1))
	run(t, d, tcp.encapsulated(t, "198.18.2.1", "198.18.2.13", 1))
	if got, want := stats(t, d), (DecapStats{PassedNotLocal: 1, Decap4in4: 1}); got != want {
		t.Fatalf("counters %+v, want %+v", got, want)
	}
}

// TestDecapOpensGUE runs every GUE encapsulation through the program with
// the GUE port configured: out comes the client's own frame. Without the
// port, or to another port, the UDP packet passes untouched; a GUE control
// message passes too.
func TestDecapOpensGUE(t *testing.T) {
	d := loadTestDecap(t, "198.18.2.12", "198.18.2.13", "2001:2:2::2")
	if err := d.SetGUEPorts([]uint16{6080}); err != nil {
		t.Fatal(err)
	}
	opened := uint64(0)
	for _, c := range encapCases {
		if c.in.vlan != 0 {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			frame := c.in.frame(t)
			encap := func(port uint16) []byte {
				chunk := place(frame)
				src, dst := as16(c.src), as16(c.dst)
				start, length := EncapsulateGUE(chunk, headroom, len(frame), c.l3Off, &src, &dst, 9, 50001, port)
				return chunk[start : start+length]
			}
			got := run(t, d, encap(6080))
			if want := c.in.unpadded(t, c.l3Off); !bytes.Equal(got, want) {
				t.Fatalf("decapsulated frame differs\n got: %x\nwant: %x", got, want)
			}
			opened++
			other := encap(6081)
			if got := run(t, d, other); !bytes.Equal(got[:len(other)], other) {
				t.Fatal("UDP to another port was changed")
			}
			control := encap(6080)
			dst := as16(c.dst)
			control[c.l3Off+Overhead(&dst)+8] |= 0x20 // the GUE C bit: a control message
			if got := run(t, d, control); !bytes.Equal(got[:len(control)], control) {
				t.Fatal("a GUE control message was opened")
			}
		})
	}
	if s := stats(t, d); s.DecapGUE != opened || s.Decap4in4+s.Decap6in6+s.Decap4in6+s.Decap6in4 != 0 {
		t.Errorf("counters %+v, want %d GUE opened", s, opened)
	}
	if err := d.SetGUEPorts(nil); err != nil {
		t.Fatal(err)
	}
	c := encapCases[0]
	frame := c.in.frame(t)
	chunk := place(frame)
	src, dst := as16(c.src), as16(c.dst)
	start, length := EncapsulateGUE(chunk, headroom, len(frame), c.l3Off, &src, &dst, 9, 50001, 6080)
	pkt := append([]byte(nil), chunk[start:start+length]...)
	if got := run(t, d, pkt); !bytes.Equal(got[:len(pkt)], pkt) {
		t.Fatal("GUE opened after its port was removed")
	}
}
