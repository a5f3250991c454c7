package nexthop

import (
	"fmt"

	"github.com/vishvananda/netlink"

	"fastlvs/header"
)

// VLAN ports. A port is either an interface fastlvs is attached to (it owns
// the AF_XDP sockets; ports 0..n-1 in --iface order, socket index = port) or
// an 802.1Q / 802.1ad sub-interface of one (eth1.100), which the resolver
// finds by itself: nothing in the config names it. Where the kernel's side
// of a VLAN is some other device (a kernel without 802.1Q support), the
// config names it (VLANDevice); those come first, in config order. A VLAN port's routes,
// neighbours, addresses and MTU are the sub-interface's own, as the kernel
// keeps them; its frames travel on the parent's sockets carrying its tag.
// Port numbers stay fixed while the resolver runs (a deleted sub-interface
// keeps its number, unused), so a port held across snapshots keeps its
// meaning.

// VLANDevice names the kernel device standing for VLAN ID (802.1Q) of the
// attached interface Parent.
type VLANDevice struct {
	Parent string
	ID     uint16
	Device string
}

// addNamedVLANs adds the configured VLAN devices as ports.
func (r *Resolver) addNamedVLANs(vlans []VLANDevice) error {
	for _, v := range vlans {
		parent := -1
		for i, p := range r.ports {
			if p.Name == v.Parent && p.TPID == 0 {
				parent = i
			}
		}
		if parent < 0 {
			return fmt.Errorf("vlan %d of %s: %s is not an attached interface", v.ID, v.Parent, v.Parent)
		}
		link, err := netlink.LinkByName(v.Device)
		if err != nil {
			return fmt.Errorf("find vlan %d device %s: %w", v.ID, v.Device, err)
		}
		var mac header.MAC
		copy(mac[:], link.Attrs().HardwareAddr)
		r.ports = append(r.ports, Port{Name: v.Device, Index: link.Attrs().Index, MAC: mac,
			Parent: parent, TPID: header.EtherTypeVLAN, VLAN: v.ID, Named: true})
	}
	return nil
}

// portLink is how a port's frames travel: on which socket, with which tag.
type portLink struct {
	socket int
	tpid   uint16 // 0: untagged
	vlan   uint16
}

// VLANPort is a VLAN sub-interface of a socket port, for snapshots built by
// hand (WithVLANPorts).
type VLANPort struct {
	Parent int    // the socket port carrying its frames
	TPID   uint16 // header.EtherTypeVLAN or header.EtherTypeQinQ
	ID     uint16
	MAC    header.MAC
}

// Link says how frames of port travel: the socket port they use and the tag
// they carry (tpid 0: none). A port the snapshot does not know is its own
// socket, untagged. It allocates nothing.
func (s *Snapshot) Link(port int) (socket int, tpid, vlan uint16) {
	if s == nil || port < 0 || port >= len(s.links) {
		return port, 0, 0
	}
	l := &s.links[port]
	return l.socket, l.tpid, l.vlan
}

// PortOfTag is the VLAN port whose frames arrive on socket with the tag
// (tpid, vlan); false when no sub-interface of that socket's interface has
// it.
func (s *Snapshot) PortOfTag(socket int, tpid, vlan uint16) (int, bool) {
	if s == nil {
		return 0, false
	}
	for i := range s.links {
		if l := &s.links[i]; l.socket == socket && l.vlan == vlan && l.tpid == tpid {
			return i, true
		}
	}
	return 0, false
}

// WithVLANPorts returns a copy of s with the VLAN ports appended after its
// ports, numbered in order: for tests and benchmarks.
func (s *Snapshot) WithVLANPorts(vlans []VLANPort) *Snapshot {
	out := *s
	out.portMACs = append([]header.MAC(nil), s.portMACs...)
	out.links = append([]portLink(nil), s.links...)
	for _, v := range vlans {
		out.portMACs = append(out.portMACs, v.MAC)
		out.links = append(out.links, portLink{socket: v.Parent, tpid: v.TPID, vlan: v.ID})
	}
	return &out
}

// socketLinks is the links of n socket ports, untagged.
func socketLinks(n int) []portLink {
	links := make([]portLink, n)
	for i := range links {
		links[i].socket = i
	}
	return links
}

// discoverVLANs adds the VLAN sub-interfaces of the socket ports that are
// new since the last rebuild, and marks those deleted since as gone.
func (r *Resolver) discoverVLANs() error {
	links, err := netlink.LinkList()
	if err != nil {
		return err
	}
	present := map[int]bool{}
	for _, l := range links {
		present[l.Attrs().Index] = true
		vlan, ok := l.(*netlink.Vlan)
		if !ok {
			continue
		}
		parent := r.portOf(vlan.ParentIndex)
		if parent < 0 || r.ports[parent].TPID != 0 { // stacked tags are not supported
			continue
		}
		if r.portOf(vlan.Index) >= 0 {
			continue
		}
		tpid := uint16(header.EtherTypeVLAN)
		if vlan.VlanProtocol == netlink.VLAN_PROTOCOL_8021AD {
			tpid = header.EtherTypeQinQ
		}
		var mac header.MAC
		copy(mac[:], vlan.HardwareAddr)
		r.ports = append(r.ports, Port{Name: vlan.Name, Index: vlan.Index, MAC: mac,
			Parent: parent, TPID: tpid, VLAN: uint16(vlan.VlanId)})
	}
	for i := range r.ports {
		if p := &r.ports[i]; p.TPID != 0 {
			p.Gone = !present[p.Index]
		}
	}
	return nil
}

// portLinks is the links of the resolver's ports.
func (r *Resolver) portLinks() []portLink {
	links := make([]portLink, len(r.ports))
	for i, p := range r.ports {
		links[i] = portLink{socket: p.Parent, tpid: p.TPID, vlan: p.VLAN}
		if p.TPID == 0 {
			links[i].socket = i
		}
	}
	return links
}
