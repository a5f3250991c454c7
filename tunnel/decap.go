package tunnel

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/vishvananda/netlink"
)

// DecapProgramName is the kernel name of the real-server decap program.
const DecapProgramName = "fastlvs_decap"

// Indexes of the per-CPU counters array; they mirror enum counter in decap.c.
const (
	counterDecap4in4 = iota
	counterDecap6in4
	counterDecap4in6
	counterDecap6in6
	counterPassed
	counterPassedNotLocal
	counterPassedMalformed
	counterDecapGUE
	counterDroppedSource
	counterDroppedInner
	counterCount
)

// DecapStats are the decap program's outcome counters summed over all CPUs.
// Every frame counts once.
type DecapStats struct {
	Decap4in4       uint64 // IPv4 in IPv4 (IPIP) opened
	Decap6in4       uint64 // IPv6 in IPv4 opened
	Decap4in6       uint64 // IPv4 in IPv6 opened
	Decap6in6       uint64 // IPv6 in IPv6 opened
	Passed          uint64 // not a tunnel packet
	PassedNotLocal  uint64 // a tunnel packet for an address this host does not hold
	PassedMalformed uint64 // truncated, fragmented, or the inner version is wrong
	DecapGUE        uint64 // GUE (UDP to a GUE port) opened, any families
	DroppedSource   uint64 // a tunnel packet from a source not allowed (SetAllowedSources)
	DroppedInner    uint64 // a tunnel packet whose inner destination is not this host's
}

// Decapsulated sums the frames opened, whatever the families.
func (s DecapStats) Decapsulated() uint64 {
	return s.Decap4in4 + s.Decap6in4 + s.Decap4in6 + s.Decap6in6 + s.DecapGUE
}

// Decap is the decap program attached to one interface of a real server.
type Decap struct {
	mu      sync.Mutex
	objects decapObjects
	link    link.Link
	ifindex int
	mode    string
	closed  bool
}

// AttachDecap loads the decap program, fills its map with the addresses the
// kernel holds in the calling thread's network namespace, and attaches it to
// the interface (native XDP, else generic) with a bpf_link, so it goes away
// with the process.
func AttachDecap(ifindex int) (*Decap, error) {
	d, err := loadDecapProgram()
	if err != nil {
		return nil, err
	}
	d.ifindex = ifindex
	if err := d.RefreshLocalAddresses(); err != nil {
		d.objects.Close()
		return nil, err
	}
	if err := d.attach(); err != nil {
		d.objects.Close()
		return nil, err
	}
	return d, nil
}

// loadDecapProgram loads the program and its maps without attaching them.
func loadDecapProgram() (*Decap, error) {
	d := &Decap{}
	if err := loadDecapObjects(&d.objects, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load decap program: %w\n%+v", err, verr)
		}
		return nil, fmt.Errorf("load decap program: %w", err)
	}
	return d, nil
}

func (d *Decap) attach() error {
	var err error
	for _, m := range []struct {
		flags link.XDPAttachFlags
		name  string
	}{{link.XDPDriverMode, "native"}, {link.XDPGenericMode, "generic"}} {
		var l link.Link
		l, err = link.AttachXDP(link.XDPOptions{Program: d.objects.FastlvsDecap, Interface: d.ifindex, Flags: m.flags})
		if err == nil {
			d.link, d.mode = l, m.name
			return nil
		}
	}
	return fmt.Errorf("attach xdp to ifindex %d: %w (is another XDP program attached?)", d.ifindex, err)
}

// Mode reports the XDP attach mode in use: "native" or "generic".
func (d *Decap) Mode() string { return d.mode }

// RefreshLocalAddresses reloads the addresses tunnel packets may be sent to
// from the kernel (every address of the calling thread's namespace).
func (d *Decap) RefreshLocalAddresses() error {
	addrs, err := netlink.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list local addresses: %w", err)
	}
	local := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			local = append(local, ip)
		}
	}
	return d.SetLocalAddresses(local)
}

// SetLocalAddresses makes addrs the only outer destinations the program
// opens tunnel packets for. Keys that stay are never removed, so no packet
// to them passes unopened during the change.
func (d *Decap) SetLocalAddresses(addrs []netip.Addr) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := make(map[decapAddress]bool, len(addrs))
	for _, a := range addrs {
		want[decapAddress{Addr: a.Unmap().As16()}] = true
	}
	var stale []decapAddress
	var key decapAddress
	var value uint8
	iter := d.objects.LocalAddrs.Iterate()
	for iter.Next(&key, &value) {
		if !want[key] {
			stale = append(stale, key)
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("list decap addresses: %w", err)
	}
	for _, k := range stale {
		if err := d.objects.LocalAddrs.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove decap address: %w", err)
		}
	}
	for k := range want {
		if err := d.objects.LocalAddrs.Put(k, uint8(1)); err != nil {
			return fmt.Errorf("add decap address %s: %w", netip.AddrFrom16(k.Addr).Unmap(), err)
		}
	}
	return nil
}

// SetGUEPorts makes ports the UDP ports GUE packets are opened on (none:
// GUE is not opened).
func (d *Decap) SetGUEPorts(ports []uint16) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	want := map[uint16]bool{}
	for _, p := range ports {
		want[p] = true
	}
	var key, stale []uint16
	var k uint16
	var value uint8
	iter := d.objects.GuePorts.Iterate()
	for iter.Next(&k, &value) {
		key = append(key, k)
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("list gue ports: %w", err)
	}
	for _, k := range key {
		if !want[bigEndianPort(k)] {
			stale = append(stale, k)
		}
	}
	for _, k := range stale {
		if err := d.objects.GuePorts.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove gue port: %w", err)
		}
	}
	for p := range want {
		if err := d.objects.GuePorts.Put(bigEndianPort(p), uint8(1)); err != nil {
			return fmt.Errorf("add gue port %d: %w", p, err)
		}
	}
	return nil
}

// bigEndianPort converts a port between host order and the network order
// the map keys hold, as a native integer (its own inverse).
func bigEndianPort(p uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], p)
	return binary.NativeEndian.Uint16(b[:])
}

// SetAllowedSources limits the outer sources tunnel packets may come from
// (the directors) to prefixes; none allows every source.
func (d *Decap) SetAllowedSources(prefixes []netip.Prefix) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var keys []decapSourceKey
	iter := d.objects.AllowedSources.Iterate()
	var k decapSourceKey
	var v uint8
	for iter.Next(&k, &v) {
		keys = append(keys, k)
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("list allowed sources: %w", err)
	}
	for _, k := range keys {
		if err := d.objects.AllowedSources.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("remove allowed source: %w", err)
		}
	}
	for _, p := range prefixes {
		p = p.Masked()
		bits := p.Bits()
		if p.Addr().Is4() {
			bits += 96
		}
		key := decapSourceKey{Prefixlen: uint32(bits), Addr: p.Addr().As16()}
		if err := d.objects.AllowedSources.Put(key, uint8(1)); err != nil {
			return fmt.Errorf("allow source %s: %w", p, err)
		}
	}
	on := uint8(0)
	if len(prefixes) > 0 {
		on = 1
	}
	if err := d.objects.SourceFilter.Put(uint32(0), on); err != nil {
		return fmt.Errorf("switch the source filter: %w", err)
	}
	return nil
}

// Stats reads the counters, summing the per-CPU values.
func (d *Decap) Stats() (DecapStats, error) {
	var sums [counterCount]uint64
	var perCPU []uint64
	for index := range sums {
		if err := d.objects.Counters.Lookup(uint32(index), &perCPU); err != nil {
			return DecapStats{}, fmt.Errorf("read decap counter %d: %w", index, err)
		}
		for _, v := range perCPU {
			sums[index] += v
		}
	}
	return DecapStats{
		Decap4in4:       sums[counterDecap4in4],
		Decap6in4:       sums[counterDecap6in4],
		Decap4in6:       sums[counterDecap4in6],
		Decap6in6:       sums[counterDecap6in6],
		Passed:          sums[counterPassed],
		PassedNotLocal:  sums[counterPassedNotLocal],
		PassedMalformed: sums[counterPassedMalformed],
		DecapGUE:        sums[counterDecapGUE],
		DroppedSource:   sums[counterDroppedSource],
		DroppedInner:    sums[counterDroppedInner],
	}, nil
}

// Close detaches the program and closes its maps. It is safe to call twice.
func (d *Decap) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.link != nil {
		if err := d.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach xdp from ifindex %d: %w", d.ifindex, err))
		}
		d.link = nil
	}
	if err := d.objects.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close decap objects: %w", err))
	}
	return errors.Join(errs...)
}
