package nexthop

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// DefaultMTU is a port's MTU when the snapshot does not know it.
const DefaultMTU = 1500

// sources is what a packet the director originates needs besides the next
// hop: the source address to put on it (tunnel outer headers) and the
// port's MTU.
type sources struct {
	route []routeSource // parallel to Snapshot.routes
	mtu   []int         // by port
	// smallestMTU is the least of the ports' MTUs (0: DefaultMTU): a
	// packet within it fits every port, so the workers check no further.
	smallestMTU int
}

type routeSource struct {
	addr [16]byte
	ok   bool
}

// Source returns the director's address for packets it sends to dst: the
// address, on the port the route to dst leaves by, whose subnet holds the
// route's gateway or on-link prefix (as the kernel picks a connected
// route's preferred source), else the port's first address of dst's
// family. ok is false when no route matches or the port has no such
// address. It allocates nothing.
func (s *Snapshot) Source(dst [16]byte) (src [16]byte, ok bool) {
	if s == nil {
		return src, false
	}
	hi, lo := binary.BigEndian.Uint64(dst[:8]), binary.BigEndian.Uint64(dst[8:])
	is4 := hi == 0 && lo>>32 == 0xffff
	for i := range s.routes {
		r := &s.routes[i]
		if r.is4 != is4 || hi&r.mask[0] != r.net[0] || lo&r.mask[1] != r.net[1] {
			continue
		}
		if i >= len(s.sources.route) {
			return src, false
		}
		rs := s.sources.route[i]
		return rs.addr, rs.ok
	}
	return src, false
}

// MTU returns a port's MTU (DefaultMTU when unknown).
func (s *Snapshot) MTU(port int) int {
	if s == nil || port < 0 || port >= len(s.sources.mtu) || s.sources.mtu[port] <= 0 {
		return DefaultMTU
	}
	return s.sources.mtu[port]
}

// SmallestMTU returns the least MTU of the snapshot's ports: a packet no
// larger fits whichever port it leaves by.
func (s *Snapshot) SmallestMTU() int {
	if s == nil || s.sources.smallestMTU == 0 {
		return DefaultMTU
	}
	return s.sources.smallestMTU
}

// WithPortAddresses returns a copy of s that knows the ports' addresses
// (addrs[port]) and MTUs (mtus[port], 0 = DefaultMTU), for Source and MTU.
// The resolver uses it with the kernel's view; tests with their own.
func (s *Snapshot) WithPortAddresses(addrs [][]netip.Prefix, mtus []int) *Snapshot {
	out := *s
	out.sources = sources{route: make([]routeSource, len(s.routes)), mtu: append([]int(nil), mtus...)}
	for i := range s.routes {
		r := &s.routes[i]
		if r.port < len(addrs) {
			if a, ok := pickSource(r, addrs[r.port]); ok {
				out.sources.route[i] = routeSource{addr: a.As16(), ok: true}
			}
		}
	}
	for port := range max(len(s.portMACs), len(mtus)) {
		if m := out.MTU(port); out.sources.smallestMTU == 0 || m < out.sources.smallestMTU {
			out.sources.smallestMTU = m
		}
	}
	return &out
}

// pickSource chooses the address a route's packets leave with. Host
// addresses (/32, /128: VIPs the director also holds) and IPv6 link-local
// addresses are the last resort.
func pickSource(r *route, addrs []netip.Prefix) (netip.Addr, bool) {
	target := r.prefix.Addr()
	if r.hasGW {
		target = netip.AddrFrom16(r.gateway).Unmap()
	}
	var fallback netip.Prefix
	for _, p := range addrs {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
		if p.Addr().Is4() != r.is4 || p.Addr().IsLinkLocalUnicast() && !r.is4 {
			continue
		}
		if p.Contains(target) && (r.hasGW || p.Bits() <= r.prefix.Bits()) {
			return p.Addr(), true
		}
		if !fallback.IsValid() || fallback.IsSingleIP() && !p.IsSingleIP() {
			fallback = p
		}
	}
	return fallback.Addr(), fallback.IsValid()
}

// withKernelSources reads every port's addresses and MTU from the kernel.
func (r *Resolver) withKernelSources(s *Snapshot) (*Snapshot, error) {
	addrs := make([][]netip.Prefix, len(r.ports))
	mtus := make([]int, len(r.ports))
	for i, p := range r.ports {
		if p.Gone {
			continue
		}
		link, err := netlink.LinkByIndex(p.Index)
		if err != nil {
			return nil, fmt.Errorf("find interface %s: %w", p.Name, err)
		}
		mtus[i] = link.Attrs().MTU
		list, err := netlink.AddrList(link, netlink.FAMILY_ALL)
		if err != nil {
			return nil, fmt.Errorf("list addresses of %s: %w", p.Name, err)
		}
		for _, a := range list {
			ip, ok := netip.AddrFromSlice(a.IP)
			if !ok || a.IPNet == nil {
				continue
			}
			bits, _ := a.Mask.Size()
			addrs[i] = append(addrs[i], netip.PrefixFrom(ip.Unmap(), bits))
		}
	}
	return s.WithPortAddresses(addrs, mtus), nil
}
