package steer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Endpoint is an (address, port, protocol) key of the services and reply
// sources maps. Addr is 16 bytes; IPv4 is v4-mapped (::ffff:a.b.c.d), which is
// what netip.Addr.As16 returns. Port is in host byte order; port 0 in a
// service means all ports. Proto is unix.IPPROTO_TCP or unix.IPPROTO_UDP.
type Endpoint struct {
	Addr  [16]byte
	Port  uint16
	Proto uint8
}

func (e Endpoint) String() string {
	return fmt.Sprintf("%v/%d", netip.AddrPortFrom(netip.AddrFrom16(e.Addr).Unmap(), e.Port), e.Proto)
}

// key converts e to the map key layout of steer.c (port in network order).
func (e Endpoint) key() (steerEndpoint, error) {
	if e.Proto != unix.IPPROTO_TCP && e.Proto != unix.IPPROTO_UDP {
		return steerEndpoint{}, fmt.Errorf("endpoint %v: protocol %d is not tcp or udp", e, e.Proto)
	}
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], e.Port)
	return steerEndpoint{Addr: e.Addr, Port: binary.NativeEndian.Uint16(port[:]), Proto: e.Proto}, nil
}

// present is the value of every set-like map; only the key matters.
const present uint8 = 1

// SetServices makes the services map hold exactly eps, plus for every
// address among them (VIP, 0, ICMP or ICMPv6): echo requests to a VIP are
// steered, for fastlvs answers them. The service addresses map (which
// steers fragments) gets their addresses.
func (p *Program) SetServices(eps []Endpoint) error {
	if err := p.setEndpoints(p.objects.Services, "services", eps, echoKeys(eps)...); err != nil {
		return err
	}
	return p.setEndpoints(p.objects.VipAddrs, "service addresses", addressesOf(eps))
}

// echoKeys are the services map's echo entries for the addresses of eps.
func echoKeys(eps []Endpoint) []steerEndpoint {
	var keys []steerEndpoint
	for _, e := range eps {
		proto := uint8(unix.IPPROTO_ICMPV6)
		if netip.AddrFrom16(e.Addr).Is4In6() {
			proto = unix.IPPROTO_ICMP
		}
		keys = append(keys, steerEndpoint{Addr: e.Addr, Proto: proto})
	}
	return keys
}

// SetReplySources makes the reply sources map (the real servers of NAT
// services) hold exactly eps; port 0 matches every source port. Frames from
// them are steered unless addressed to a host address.
func (p *Program) SetReplySources(eps []Endpoint) error {
	if err := p.setEndpoints(p.objects.ReplySources, "reply sources", eps); err != nil {
		return err
	}
	return p.setEndpoints(p.objects.ReplyAddrs, "reply addresses", addressesOf(eps))
}

// addressesOf is eps with every port 0: the keys of the maps that steer
// fragments, which carry no ports.
func addressesOf(eps []Endpoint) []Endpoint {
	out := make([]Endpoint, len(eps))
	for i, ep := range eps {
		out[i] = Endpoint{Addr: ep.Addr, Proto: ep.Proto}
	}
	return out
}

// SetLocalAddresses makes the FULLNAT local addresses map hold exactly addrs.
func (p *Program) SetLocalAddresses(addrs [][16]byte) error {
	return p.setAddresses(p.objects.LocalAddrs, "local addresses", addrs)
}

// SetHostAddresses makes the director's own addresses map hold exactly addrs.
// NAT-reply-shaped packets to these addresses (health-check replies) are
// passed to the kernel.
func (p *Program) SetHostAddresses(addrs [][16]byte) error {
	return p.setAddresses(p.objects.HostAddrs, "host addresses", addrs)
}

func (p *Program) setEndpoints(m *ebpf.Map, name string, eps []Endpoint, extra ...steerEndpoint) error {
	want := make(map[steerEndpoint]struct{}, len(eps)+len(extra))
	for _, key := range extra {
		want[key] = struct{}{}
	}
	for _, ep := range eps {
		key, err := ep.key()
		if err != nil {
			return fmt.Errorf("set %s: %w", name, err)
		}
		want[key] = struct{}{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return replaceKeys(m, name, want)
}

func (p *Program) setAddresses(m *ebpf.Map, name string, addrs [][16]byte) error {
	want := make(map[steerAddress]struct{}, len(addrs))
	for _, addr := range addrs {
		want[steerAddress{Addr: addr}] = struct{}{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return replaceKeys(m, name, want)
}

// replaceKeys makes m hold exactly the keys of want. Keys in both the old and
// the new content are never removed, so their traffic is never passed by
// mistake. Stale keys go first, so the map never holds more than
// max(old, new) entries.
func replaceKeys[K comparable](m *ebpf.Map, name string, want map[K]struct{}) error {
	if len(want) > int(m.MaxEntries()) {
		return fmt.Errorf("set %s: %d entries exceed the map's %d", name, len(want), m.MaxEntries())
	}
	var (
		stale []K
		key   K
		value uint8
	)
	iter := m.Iterate()
	for iter.Next(&key, &value) {
		if _, ok := want[key]; !ok {
			stale = append(stale, key)
		} else {
			delete(want, key) // already there: nothing to add
		}
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("set %s: list current entries: %w", name, err)
	}
	for _, key := range stale {
		if err := m.Delete(key); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("set %s: delete stale entry: %w", name, err)
		}
	}
	for key := range want {
		if err := m.Update(key, present, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("set %s: add entry: %w", name, err)
		}
	}
	return nil
}

// SetOverflowAccept turns steering of other sites' overflow tunnels on or
// off: IPIP, IPv6-in-IP and (guePort not 0) GUE whose inner packet is for a
// service.
func (p *Program) SetOverflowAccept(enabled bool, guePort uint16) error {
	var port [2]byte
	binary.BigEndian.PutUint16(port[:], guePort)
	cfg := steerOverflowAcceptConfig{GuePort: binary.NativeEndian.Uint16(port[:])}
	if enabled {
		cfg.Enabled = 1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := p.objects.OverflowAccept.Update(uint32(0), cfg, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("set overflow accept: %w", err)
	}
	return nil
}
