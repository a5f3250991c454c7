// Package testbed builds throw-away hosts for end-to-end tests, `fastlvs demo` and benchmarks: each host is a
// named network namespace (visible to `ip netns list`, so `ip netns exec` works), hosts are joined by veth pairs
// and bridges, and everything a Bed made is removed by Close.
//
// Names: every namespace is called <Prefix>-<run id>-<host>, where the run id is the creating process's PID in
// hex (plus "n<seq>" for the second and later Beds of one process), e.g. "flv-4f1a-dir". New sweeps namespaces of
// the same Prefix whose PID is dead, so a crashed run is cleaned up by the next one. Links are created directly
// inside the namespaces (never in the caller's namespace), so they need no prefix and die with their namespace.
//
// Network namespace membership is per OS thread: everything that must run inside a host goes through Host.Do,
// which locks a fresh goroutine to its thread and restores the thread (or lets it die) afterwards.
package testbed

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/vishvananda/netlink"
)

// Options configures a Bed.
type Options struct {
	// Prefix is the base of every namespace name, e.g. "flv". It must not contain "-" or "/".
	Prefix string
}

// LinkOptions shapes a veth pair made by Connect.
type LinkOptions struct {
	Queues int // numrxqueues and numtxqueues of both ends; 0 means the kernel default (1)
	MTU    int // 0 means the kernel default (1500)
}

// Bed is a set of hosts made for one run. It is safe for concurrent use.
type Bed struct {
	prefix string // Prefix + "-" + run id + "-"

	mu      sync.Mutex
	closed  bool
	hosts   []*Host
	byName  map[string]*Host
	links   []hostLink // veths and bridges, deleted explicitly so a socket holding a namespace cannot keep them
	servers []*Server
}

type hostLink struct {
	host *Host
	name string
}

// bedSeq distinguishes several Beds of one process.
var bedSeq atomic.Int64

// New makes an empty Bed and sweeps leftovers of opts.Prefix whose creating process is dead.
func New(opts Options) (*Bed, error) {
	if err := validPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if _, err := Sweep(opts.Prefix); err != nil {
		return nil, fmt.Errorf("sweep %s leftovers: %w", opts.Prefix, err)
	}
	runID := strconv.FormatInt(int64(os.Getpid()), 16)
	if seq := bedSeq.Add(1); seq > 1 {
		runID += "n" + strconv.FormatInt(seq, 10)
	}
	return &Bed{prefix: opts.Prefix + "-" + runID + "-", byName: map[string]*Host{}}, nil
}

func validPrefix(prefix string) error {
	if prefix == "" {
		return errors.New("testbed prefix is empty")
	}
	for _, r := range prefix {
		if r == '-' || r == '/' || r <= ' ' {
			return fmt.Errorf("testbed prefix %q: contains %q", prefix, r)
		}
	}
	return nil
}

// Prefix returns the run's name prefix, e.g. "flv-4f1a-": every namespace of this Bed starts with it.
func (b *Bed) Prefix() string { return b.prefix }

// Hosts returns the hosts made so far, in creation order.
func (b *Bed) Hosts() []*Host {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*Host(nil), b.hosts...)
}

// Lookup returns the host made with the short name (e.g. "dir", "c1"), or nil.
func (b *Bed) Lookup(name string) *Host {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.byName[name]
}

// Host makes a new host: a named namespace with lo up, ip_forward off, rp_filter 0, no ICMP redirects sent or
// accepted (a one-arm director forwards out of the interface a packet came in on; a redirect would let real
// servers bypass it) and IPv6 DAD off (addresses are usable at once).
func (b *Bed) Host(name string) (*Host, error) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, errors.New("testbed is closed")
	}
	if _, dup := b.byName[name]; dup {
		b.mu.Unlock()
		return nil, fmt.Errorf("host %s exists", name)
	}
	b.byName[name] = nil // reserve the name while the namespace is made
	b.mu.Unlock()

	host, err := newHost(b, b.prefix+name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if err != nil {
		delete(b.byName, name)
		return nil, err
	}
	b.byName[name] = host
	b.hosts = append(b.hosts, host)
	return host, nil
}

// Connect makes a veth pair with end aIf in host a and end cIf in host c, and sets both up.
func (b *Bed) Connect(a *Host, aIf string, c *Host, cIf string, opt LinkOptions) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = aIf
	attrs.NumTxQueues = opt.Queues
	attrs.NumRxQueues = opt.Queues
	attrs.MTU = opt.MTU
	veth := &netlink.Veth{LinkAttrs: attrs, PeerName: cIf, PeerTxQLen: -1, PeerNamespace: netlink.NsFd(c.ns)}
	if err := a.nl.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth %s/%s - %s/%s: %w", a.Name, aIf, c.Name, cIf, err)
	}
	b.track(a, aIf)
	if err := a.linkUp(aIf); err != nil {
		return err
	}
	if err := c.linkUp(cIf); err != nil {
		return err
	}
	// A veth with TX checksum offload hands its peer packets whose TCP/UDP
	// checksum holds only the pseudo-header sum (CHECKSUM_PARTIAL). AF_XDP
	// sees those bytes as they are, and a forwarder that updates checksums
	// incrementally (as fastlvs does, per RFC 1624) passes the partial sum on,
	// so the receiver drops the packet. Real wires always carry complete
	// checksums: turn the offload off so the test bed behaves like one.
	if err := a.setTxChecksumOffload(aIf, false); err != nil {
		return err
	}
	return c.setTxChecksumOffload(cIf, false)
}

// Bridge makes bridge name in host h and sets it up (STP off, so ports forward at once).
func (b *Bed) Bridge(h *Host, name string) error {
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := h.nl.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
		return fmt.Errorf("add bridge %s in %s: %w", name, h.Name, err)
	}
	b.track(h, name)
	return h.linkUp(name)
}

// Attach makes iface of host h a port of bridge in the same host.
func (b *Bed) Attach(h *Host, bridge, iface string) error {
	br, err := h.link(bridge)
	if err != nil {
		return err
	}
	port, err := h.link(iface)
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetMaster(port, br); err != nil {
		return fmt.Errorf("attach %s to bridge %s in %s: %w", iface, bridge, h.Name, err)
	}
	return nil
}

func (b *Bed) track(h *Host, link string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.links = append(b.links, hostLink{host: h, name: link})
}

func (b *Bed) trackServer(s *Server) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errors.New("testbed is closed")
	}
	b.servers = append(b.servers, s)
	return nil
}

// Close stops the servers the Bed started, deletes every link and namespace it made, and is idempotent.
// Sockets the caller made with Listen/ListenPacket keep their (now unnamed, link-less) namespace alive until
// they are closed.
func (b *Bed) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	servers, links, hosts := b.servers, b.links, b.hosts
	b.servers, b.links, b.hosts = nil, nil, nil
	b.mu.Unlock()

	var errs []error
	for _, s := range servers {
		if err := s.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	// Newest first: a bridge's ports go before the bridge. Deleting one end of a veth deletes both.
	for i := len(links) - 1; i >= 0; i-- {
		l := links[i]
		if err := l.host.deleteLink(l.name); err != nil {
			errs = append(errs, err)
		}
	}
	for _, h := range hosts {
		if err := h.close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
