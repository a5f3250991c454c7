package testbed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
)

// Mode says how the real servers route their replies.
type Mode int

const (
	// ModeNAT: real servers reply through the director (default route via 198.18.2.1).
	ModeNAT Mode = iota
	// ModeDR: real servers hold every VIP on lo (ARP-silent) and reply to clients directly.
	ModeDR
)

func (m Mode) String() string {
	switch m {
	case ModeNAT:
		return "nat"
	case ModeDR:
		return "dr"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// The address plan (198.18.0.0/15 only): VIPs 198.18.0.0/24, clients 198.18.1.0/24, real servers 198.18.2.0/24.
const (
	DefaultVIP    = "198.18.0.10"
	ClientGateway = "198.18.1.1" // the director on the client segment
	RealGateway   = "198.18.2.1" // the director on the real-server segment
	ClientNet     = "198.18.1.0/24"
	RealNet       = "198.18.2.0/24"
)

// ClientAddr returns client i's address (1-based): c1 is 198.18.1.11.
func ClientAddr(i int) string { return "198.18.1." + strconv.Itoa(10+i) }

// RealAddr returns real server i's address (1-based): r1 is 198.18.2.11.
func RealAddr(i int) string { return "198.18.2." + strconv.Itoa(10+i) }

// TopologyOptions chooses the shape of a Topology; zero values take the defaults.
type TopologyOptions struct {
	Mode    Mode
	Clients int      // default 2
	Reals   int      // default 3
	Queues  int      // rx/tx queues of the director's veths (and their peers), default 1
	TwoArm  bool     // clients and real servers on separate segments
	VIPs    []string // default ["198.18.0.10"]
}

// Topology is a director between clients and real servers.
//
// One-arm: namespace "lan" holds bridge br0; the director's eth1 (198.18.1.1/24, 198.18.2.1/24, VIPs /32), the
// clients' eth0 (198.18.1.1x/24, default via 198.18.1.1) and the real servers' eth0 (198.18.2.1x/24) are its ports.
//
// Two-arm: bridge br0 in "lanc" joins the clients and the director's eth0 (198.18.1.1/24 + VIPs); bridge br0 in
// "lans" joins the real servers and the director's eth1 (198.18.2.1/24).
//
// DR two-arm cannot be done physically (DR needs the real servers on the segment the director receives VIP
// traffic on); here the real servers hold the VIPs on lo and route replies via 198.18.2.1, and the director's
// kernel forwards them to the clients (with accept_local=1 on the director, since the replies come from a VIP
// that is local to it).
type Topology struct {
	Bed            *Bed
	Director       *Host
	Clients, Reals []*Host
	ClientAddrs    []string
	RealAddrs      []string
	DirectorIfaces []string // ["eth1"] one-arm, ["eth0", "eth1"] two-arm
	VIPs           []string
	Mode           Mode
	TwoArm         bool
	LANs           []*Host // the bridge namespaces: ["lan"] or ["lanc", "lans"]
}

// BuildTopology builds the topology in b. Host names: "dir", "c1".."cN", "r1".."rN", "lan" (or "lanc", "lans").
func BuildTopology(b *Bed, opt TopologyOptions) (*Topology, error) {
	opt = opt.withDefaults()
	if err := opt.validate(); err != nil {
		return nil, err
	}
	t := &Topology{Bed: b, VIPs: append([]string(nil), opt.VIPs...), Mode: opt.Mode, TwoArm: opt.TwoArm}
	var err error
	if t.Director, err = b.Host("dir"); err != nil {
		return nil, err
	}
	if opt.TwoArm {
		err = t.wireTwoArm(opt)
	} else {
		err = t.wireOneArm(opt)
	}
	if err != nil {
		return nil, err
	}
	if err := t.Director.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		return nil, err
	}
	for i := 1; i <= opt.Clients; i++ {
		if err := t.addClient(i); err != nil {
			return nil, err
		}
	}
	for i := 1; i <= opt.Reals; i++ {
		if err := t.addReal(i, opt); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func (o TopologyOptions) withDefaults() TopologyOptions {
	if o.Clients == 0 {
		o.Clients = 2
	}
	if o.Reals == 0 {
		o.Reals = 3
	}
	if o.Queues == 0 {
		o.Queues = 1
	}
	if len(o.VIPs) == 0 {
		o.VIPs = []string{DefaultVIP}
	}
	return o
}

func (o TopologyOptions) validate() error {
	if o.Clients < 0 || o.Clients > 200 || o.Reals < 0 || o.Reals > 200 {
		return fmt.Errorf("topology: %d clients, %d reals (each must be 0..200)", o.Clients, o.Reals)
	}
	if o.Mode != ModeNAT && o.Mode != ModeDR {
		return fmt.Errorf("topology: unknown %v", o.Mode)
	}
	for _, vip := range o.VIPs {
		ip := net.ParseIP(vip)
		if ip == nil || ip.To4() == nil {
			return fmt.Errorf("topology: vip %q is not an IPv4 address", vip)
		}
	}
	return nil
}

// lan makes a bridge namespace with br0.
func (t *Topology) lan(name string) (*Host, error) {
	lan, err := t.Bed.Host(name)
	if err != nil {
		return nil, err
	}
	if err := t.Bed.Bridge(lan, "br0"); err != nil {
		return nil, err
	}
	t.LANs = append(t.LANs, lan)
	return lan, nil
}

// plug connects host's iface to br0 of lan through a veth whose bridge-side end is called port.
func (t *Topology) plug(lan, host *Host, iface, port string, opt LinkOptions) error {
	if err := t.Bed.Connect(host, iface, lan, port, opt); err != nil {
		return err
	}
	return t.Bed.Attach(lan, "br0", port)
}

func (t *Topology) wireOneArm(opt TopologyOptions) error {
	lan, err := t.lan("lan")
	if err != nil {
		return err
	}
	if err := t.plug(lan, t.Director, "eth1", "dir", LinkOptions{Queues: opt.Queues}); err != nil {
		return err
	}
	t.DirectorIfaces = []string{"eth1"}
	return t.addDirectorAddrs("eth1", []string{ClientGateway + "/24", RealGateway + "/24"})
}

func (t *Topology) wireTwoArm(opt TopologyOptions) error {
	lanc, err := t.lan("lanc")
	if err != nil {
		return err
	}
	lans, err := t.lan("lans")
	if err != nil {
		return err
	}
	if err := t.plug(lanc, t.Director, "eth0", "dir", LinkOptions{Queues: opt.Queues}); err != nil {
		return err
	}
	if err := t.plug(lans, t.Director, "eth1", "dir", LinkOptions{Queues: opt.Queues}); err != nil {
		return err
	}
	t.DirectorIfaces = []string{"eth0", "eth1"}
	if err := t.addDirectorAddrs("eth0", []string{ClientGateway + "/24"}); err != nil {
		return err
	}
	if opt.Mode == ModeDR {
		// DR replies come back from the VIP, an address local to the director: accept them for forwarding.
		if err := t.Director.Sysctl("net.ipv4.conf.all.accept_local", "1"); err != nil {
			return err
		}
		if err := t.Director.Sysctl("net.ipv4.conf.eth1.accept_local", "1"); err != nil {
			return err
		}
	}
	return t.Director.AddAddr("eth1", RealGateway+"/24")
}

// addDirectorAddrs puts the given addresses and every VIP (/32, so the kernel answers ARP and ping) on iface.
func (t *Topology) addDirectorAddrs(iface string, addrs []string) error {
	for _, a := range addrs {
		if err := t.Director.AddAddr(iface, a); err != nil {
			return err
		}
	}
	for _, vip := range t.VIPs {
		if err := t.Director.AddAddr(iface, vip+"/32"); err != nil {
			return err
		}
	}
	return nil
}

func (t *Topology) clientLAN() *Host { return t.LANs[0] }
func (t *Topology) realLAN() *Host   { return t.LANs[len(t.LANs)-1] }

func (t *Topology) addClient(i int) error {
	name := "c" + strconv.Itoa(i)
	c, err := t.Bed.Host(name)
	if err != nil {
		return err
	}
	addr := ClientAddr(i)
	if err := t.plug(t.clientLAN(), c, "eth0", name, LinkOptions{}); err != nil {
		return err
	}
	if err := c.AddAddr("eth0", addr+"/24"); err != nil {
		return err
	}
	if err := c.AddRoute("default", ClientGateway); err != nil {
		return err
	}
	t.Clients = append(t.Clients, c)
	t.ClientAddrs = append(t.ClientAddrs, addr)
	return nil
}

func (t *Topology) addReal(i int, opt TopologyOptions) error {
	name := "r" + strconv.Itoa(i)
	r, err := t.Bed.Host(name)
	if err != nil {
		return err
	}
	addr := RealAddr(i)
	if err := t.plug(t.realLAN(), r, "eth0", name, LinkOptions{}); err != nil {
		return err
	}
	if err := r.AddAddr("eth0", addr+"/24"); err != nil {
		return err
	}
	if opt.Mode == ModeDR {
		if err := makeDRReal(r, t.VIPs, !opt.TwoArm); err != nil {
			return err
		}
	}
	if err := r.AddRoute("default", RealGateway); err != nil {
		return err
	}
	t.Reals = append(t.Reals, r)
	t.RealAddrs = append(t.RealAddrs, addr)
	return nil
}

// makeDRReal puts the VIPs on lo without answering ARP for them, and (one-arm) routes replies straight to the
// clients on the shared segment.
func makeDRReal(r *Host, vips []string, clientsOnLink bool) error {
	for _, kv := range [][2]string{
		{"net.ipv4.conf.all.arp_ignore", "1"},
		{"net.ipv4.conf.eth0.arp_ignore", "1"},
		{"net.ipv4.conf.all.arp_announce", "2"},
		{"net.ipv4.conf.eth0.arp_announce", "2"},
	} {
		if err := r.Sysctl(kv[0], kv[1]); err != nil {
			return err
		}
	}
	for _, vip := range vips {
		if err := r.AddAddr("lo", vip+"/32"); err != nil {
			return err
		}
	}
	if clientsOnLink {
		return r.AddRouteDev(ClientNet, "eth0")
	}
	return nil
}

// StartServers starts ServeHTTP (if httpPort > 0) and ServeUDPEcho (if udpPort > 0) on 0.0.0.0 of every real
// server, named after the host ("r1", ...). The Bed stops them on Close.
func (t *Topology) StartServers(httpPort, udpPort int) (httpServers, udpServers []*Server, err error) {
	for i, r := range t.Reals {
		name := "r" + strconv.Itoa(i+1)
		if httpPort > 0 {
			s, err := r.ServeHTTP(name, net.JoinHostPort("0.0.0.0", strconv.Itoa(httpPort)))
			if err != nil {
				return nil, nil, errors.Join(err, closeServers(httpServers), closeServers(udpServers))
			}
			httpServers = append(httpServers, s)
		}
		if udpPort > 0 {
			s, err := r.ServeUDPEcho(name, net.JoinHostPort("0.0.0.0", strconv.Itoa(udpPort)))
			if err != nil {
				return nil, nil, errors.Join(err, closeServers(httpServers), closeServers(udpServers))
			}
			udpServers = append(udpServers, s)
		}
	}
	return httpServers, udpServers, nil
}

func closeServers(servers []*Server) error {
	var errs []error
	for _, s := range servers {
		errs = append(errs, s.Close())
	}
	return errors.Join(errs...)
}
