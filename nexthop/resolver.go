package nexthop

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"fastlvs/header"
)

// Port is one dataplane interface as the resolver sees it.
type Port struct {
	Name  string
	Index int
	MAC   header.MAC
	// A VLAN sub-interface's (vlan.go): the socket port carrying its
	// frames, its tag (TPID 0: an attached interface itself), and whether
	// it was deleted.
	Parent     int
	TPID, VLAN uint16
	Gone       bool
	Named      bool // from the config, not found as an 802.1Q device
}

// Resolver keeps the current Snapshot in step with the kernel.
type Resolver struct {
	ports []Port
	cur   atomic.Pointer[Snapshot]

	mu    sync.Mutex
	wants []*WantQueue // one per worker; workers push, RoutineResolve pops
	// kick wakes RoutineResolve: a worker pushed a want, or Prefetch probed.
	kick chan struct{}

	// Polls counts the times the resolver woke to look again; it stays
	// still while nothing changes and nothing is wanted.
	Rebuilds, Probes, Polls atomic.Uint64
	lastProbe               atomic.Int64 // unix nanoseconds
}

// NewResolver looks the named interfaces and VLAN devices up and builds a
// first snapshot.
func NewResolver(ifaces []string, vlans []VLANDevice) (*Resolver, error) {
	r := &Resolver{kick: make(chan struct{}, 1)}
	for _, name := range ifaces {
		link, err := netlink.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("find interface %s: %w", name, err)
		}
		var mac header.MAC
		copy(mac[:], link.Attrs().HardwareAddr)
		r.ports = append(r.ports, Port{Name: name, Index: link.Attrs().Index, MAC: mac, Parent: len(r.ports)})
	}
	if err := r.addNamedVLANs(vlans); err != nil {
		return nil, err
	}
	if err := r.rebuild(); err != nil {
		return nil, err
	}
	return r, nil
}

// Ports lists the interfaces in port-index order.
func (r *Resolver) Ports() []Port { return r.ports }

// Snapshot is the current frozen view; never nil after NewResolver.
func (r *Resolver) Snapshot() *Snapshot { return r.cur.Load() }

// WantQueue gives a worker its own queue of addresses to resolve.
func (r *Resolver) WantQueue() *WantQueue {
	q := NewWantQueue()
	q.wake = r.kick
	r.mu.Lock()
	r.wants = append(r.wants, q)
	r.mu.Unlock()
	return q
}

// Prefetch makes the kernel resolve addrs now (real servers at table build),
// so the first packet to each finds a MAC.
func (r *Resolver) Prefetch(addrs []netip.Addr) {
	for _, a := range addrs {
		if _, want, ok := r.Snapshot().Lookup(a.As16()); !ok && want != ([16]byte{}) {
			r.probe(want)
		}
	}
	r.wake() // watch for the answers
}

// wake makes RoutineResolve look again soon.
func (r *Resolver) wake() { notify(r.kick) }

// RoutineResolve follows the kernel's route and neighbour changes and
// answers the workers' requests until ctx ends.
func (r *Resolver) RoutineResolve(ctx context.Context) {
	slog.Info("nexthop resolver started", "ports", len(r.ports))
	defer slog.Info("nexthop resolver stopped")
	neighUpdates := make(chan netlink.NeighUpdate, 256)
	routeUpdates := make(chan netlink.RouteUpdate, 256)
	done := make(chan struct{})
	defer close(done)
	alwaysPoll := false
	if err := netlink.NeighSubscribe(neighUpdates, done); err != nil {
		slog.Error("subscribe to neighbour changes; falling back to polling", "err", err)
		alwaysPoll = true
	}
	if err := netlink.RouteSubscribe(routeUpdates, done); err != nil {
		slog.Error("subscribe to route changes; falling back to polling", "err", err)
		alwaysPoll = true
	}
	// Changes between the first snapshot and the subscriptions were missed.
	if err := r.rebuild(); err != nil {
		slog.Warn("rebuild next hops", "err", err)
	}
	// The poll runs only while there is something to look at again: changes
	// to coalesce, wants, or a probe whose answer may come as an event we
	// coalesce or, on some kernels, as none at all. A director whose
	// neighbours are all resolved then sleeps here instead of waking fifty
	// times a second (on a 2-core bench, beside the client and server).
	poll := time.NewTimer(resolvePoll)
	defer poll.Stop()
	polling := true
	arm := func() {
		if !polling {
			poll.Reset(resolvePoll)
			polling = true
		}
	}
	refresh := time.NewTicker(5 * time.Second)
	defer refresh.Stop()
	dirty := false
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-neighUpdates:
			if !ok { // the subscription ended (its socket failed): poll instead
				slog.Error("neighbour change subscription ended; falling back to polling")
				neighUpdates, alwaysPoll = nil, true
			}
			dirty = true
			arm()
		case _, ok := <-routeUpdates:
			if !ok {
				slog.Error("route change subscription ended; falling back to polling")
				routeUpdates, alwaysPoll = nil, true
			}
			dirty = true
			arm()
		case <-refresh.C:
			dirty = true
			arm()
		case <-r.kick:
			arm()
		case <-poll.C:
			polling = false
			r.Polls.Add(1)
			if dirty || r.probedWithin(probeWatch) {
				if err := r.rebuild(); err != nil {
					slog.Warn("rebuild next hops", "err", err)
				}
				dirty = false
			}
			r.serveWants()
			if alwaysPoll || r.probedWithin(probeWatch) {
				arm()
			}
		}
	}
}

const (
	// resolvePoll is how soon the resolver looks again while it has
	// something to look at: the delay a want waits before its probe.
	resolvePoll = 20 * time.Millisecond
	// probeWatch is how long after a probe the resolver keeps looking for
	// its answer.
	probeWatch = 2 * time.Second
)

// probedWithin says the last probe went out less than d ago.
func (r *Resolver) probedWithin(d time.Duration) bool {
	return time.Since(time.Unix(0, r.lastProbe.Load())) < d
}

func (r *Resolver) serveWants() {
	r.mu.Lock()
	queues := r.wants
	r.mu.Unlock()
	seen := map[[16]byte]bool{}
	for _, q := range queues {
		var a [16]byte
		for q.Pop(&a) {
			if seen[a] {
				continue
			}
			seen[a] = true
			if _, _, ok := r.Snapshot().Lookup(a); !ok {
				r.probe(a)
			}
		}
	}
}

// probe makes the kernel resolve addr's link-layer address: a datagram to
// the discard port sent by the kernel's own stack makes it ARP (or send a
// neighbour solicitation) exactly as for any local traffic.
func (r *Resolver) probe(addr [16]byte) {
	r.Probes.Add(1)
	r.lastProbe.Store(time.Now().UnixNano())
	ap := netip.AddrPortFrom(netip.AddrFrom16(addr).Unmap(), 9)
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return
	}
	_, _ = conn.Write([]byte{0})
	_ = conn.Close()
}

func (r *Resolver) portOf(ifindex int) int {
	for i, p := range r.ports {
		if p.Index == ifindex && !p.Gone {
			return i
		}
	}
	return -1
}

func (r *Resolver) rebuild() error {
	if err := r.discoverVLANs(); err != nil {
		return fmt.Errorf("list vlan interfaces: %w", err)
	}
	s := &Snapshot{neighbors: map[[16]byte]neighbor{}, links: r.portLinks()}
	for _, p := range r.ports {
		s.portMACs = append(s.portMACs, p.MAC)
	}
	routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return fmt.Errorf("list routes: %w", err)
	}
	for _, rt := range routes {
		port := r.portOf(rt.LinkIndex)
		if port < 0 {
			continue
		}
		var prefix netip.Prefix
		if rt.Dst == nil {
			if rt.Family == unix.AF_INET6 {
				prefix = netip.MustParsePrefix("::/0")
			} else {
				prefix = netip.MustParsePrefix("0.0.0.0/0")
			}
		} else {
			a, _ := netip.AddrFromSlice(rt.Dst.IP)
			bits, _ := rt.Dst.Mask.Size()
			prefix = netip.PrefixFrom(a.Unmap(), bits)
		}
		out := newRoute(prefix, port)
		out.priority = rt.Priority
		if rt.Gw != nil {
			gw, _ := netip.AddrFromSlice(rt.Gw)
			out.gateway, out.hasGW = gw.As16(), true
		}
		s.routes = append(s.routes, out)
	}
	sort.SliceStable(s.routes, func(i, j int) bool {
		a, b := s.routes[i], s.routes[j]
		if a.prefix.Bits() != b.prefix.Bits() {
			return a.prefix.Bits() > b.prefix.Bits()
		}
		return a.priority < b.priority
	})
	for port, p := range r.ports {
		if p.Gone {
			continue
		}
		neighs, err := netlink.NeighList(p.Index, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("list neighbours of %s: %w", p.Name, err)
		}
		for _, n := range neighs {
			if len(n.HardwareAddr) != 6 || n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) != 0 || n.State == netlink.NUD_NONE {
				continue
			}
			a, ok := netip.AddrFromSlice(n.IP)
			if !ok {
				continue
			}
			var mac header.MAC
			copy(mac[:], n.HardwareAddr)
			s.neighbors[a.Unmap().As16()] = neighbor{mac: mac, port: port}
		}
	}
	s.resolveGateways()
	if s, err = r.withKernelSources(s); err != nil {
		return err
	}
	r.cur.Store(s)
	r.Rebuilds.Add(1)
	return nil
}
