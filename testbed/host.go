package testbed

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Host is one network namespace of a Bed.
type Host struct {
	Name string // full namespace name, as `ip netns list` shows it

	bed *Bed
	ns  netns.NsHandle  // open for the host's lifetime: links are created and sockets opened through it
	nl  *netlink.Handle // netlink socket inside the namespace: no thread switching for link/addr/route work
}

// hostDefaults are the sysctls every new host gets; "default" keys reach interfaces made later.
var hostDefaults = [][2]string{
	{"net.ipv4.ip_forward", "0"},
	{"net.ipv4.conf.all.rp_filter", "0"},
	{"net.ipv4.conf.default.rp_filter", "0"},
	{"net.ipv4.conf.all.send_redirects", "0"},
	{"net.ipv4.conf.default.send_redirects", "0"},
	{"net.ipv4.conf.all.accept_redirects", "0"},
	{"net.ipv4.conf.default.accept_redirects", "0"},
	{"net.ipv6.conf.all.accept_dad", "0"},
	{"net.ipv6.conf.default.accept_dad", "0"},
	{"net.ipv6.conf.all.accept_redirects", "0"},
	{"net.ipv6.conf.default.accept_redirects", "0"},
}

func newHost(bed *Bed, name string) (*Host, error) {
	ns, err := createNamedNetns(name)
	if err != nil {
		return nil, fmt.Errorf("create netns %s: %w", name, err)
	}
	h := &Host{Name: name, bed: bed, ns: ns}
	if h.nl, err = netlink.NewHandleAt(ns); err != nil {
		return nil, errors.Join(fmt.Errorf("open netlink in %s: %w", name, err), h.close())
	}
	if err := h.linkUp("lo"); err != nil {
		return nil, errors.Join(err, h.close())
	}
	err = h.Do(func() error {
		for _, kv := range hostDefaults {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("set defaults in %s: %w", name, err), h.close())
	}
	return h, nil
}

// createNamedNetns makes a namespace bound at /run/netns/name. netns.NewNamed moves the calling thread into the
// new namespace, so it runs on a locked thread that is never unlocked: the thread exits with its goroutine.
func createNamedNetns(name string) (netns.NsHandle, error) {
	type result struct {
		ns  netns.NsHandle
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := netns.NewNamed(name)
		done <- result{ns, err}
	}()
	r := <-done
	return r.ns, r.err
}

// close releases the handles and removes the namespace's name; the kernel frees it once nothing holds it.
func (h *Host) close() error {
	if h.nl != nil {
		h.nl.Close()
		h.nl = nil
	}
	if h.ns.IsOpen() {
		h.ns.Close()
	}
	if err := netns.DeleteNamed(h.Name); err != nil && !errors.Is(err, os.ErrNotExist) && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("delete netns %s: %w", h.Name, err)
	}
	return nil
}

// Do runs fn on an OS thread inside the host's namespace and waits for it. Goroutines fn starts do NOT inherit
// the namespace; sockets fn opens stay in it and may be used from any goroutine afterwards.
func (h *Host) Do(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		origin, err := netns.Get()
		if err != nil {
			done <- fmt.Errorf("get current netns: %w", err)
			return // the locked thread exits with this goroutine
		}
		defer origin.Close()
		if err := netns.Set(h.ns); err != nil {
			done <- fmt.Errorf("enter netns %s: %w", h.Name, err)
			return
		}
		err = fn()
		if netns.Set(origin) == nil {
			runtime.UnlockOSThread() // restored: the thread may serve other goroutines again
		}
		done <- err
	}()
	return <-done
}

// Command returns a command, not started, that runs inside the host's namespace (via `ip netns exec`).
func (h *Host) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", h.Name, name}, args...)...)
}

// Run runs a command inside the host's namespace and returns its combined output; on failure the error
// carries the output too.
func (h *Host) Run(args ...string) ([]byte, error) {
	if len(args) == 0 {
		return nil, errors.New("run: no command")
	}
	out, err := h.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("run %q in %s: %w: %s", strings.Join(args, " "), h.Name, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// Sysctl sets a sysctl ("net.ipv4.ip_forward", "1") inside the host's namespace.
func (h *Host) Sysctl(key, value string) error {
	return h.Do(func() error { return writeSysctl(key, value) })
}

// SysctlValue reads a sysctl inside the host's namespace, without the trailing newline.
func (h *Host) SysctlValue(key string) (string, error) {
	var value string
	err := h.Do(func() error {
		b, err := os.ReadFile(sysctlPath(key))
		value = strings.TrimSpace(string(b))
		if err != nil {
			return fmt.Errorf("read sysctl %s: %w", key, err)
		}
		return nil
	})
	return value, err
}

// writeSysctl must run inside the namespace: /proc/sys/net resolves against the calling thread's namespace.
func writeSysctl(key, value string) error {
	if err := os.WriteFile(sysctlPath(key), []byte(value), 0o644); err != nil {
		return fmt.Errorf("set sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func sysctlPath(key string) string {
	return "/proc/sys/" + strings.ReplaceAll(key, ".", "/")
}

func (h *Host) link(name string) (netlink.Link, error) {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		return nil, fmt.Errorf("find link %s in %s: %w", name, h.Name, err)
	}
	return l, nil
}

func (h *Host) linkUp(name string) error {
	l, err := h.link(name)
	if err != nil {
		return err
	}
	if err := h.nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up in %s: %w", name, h.Name, err)
	}
	return nil
}

// deleteLink deletes a link; one already gone (the other end of a deleted veth) is not an error.
func (h *Host) deleteLink(name string) error {
	l, err := h.nl.LinkByName(name)
	if err != nil {
		var notFound netlink.LinkNotFoundError
		if errors.As(err, &notFound) {
			return nil
		}
		return fmt.Errorf("find link %s in %s: %w", name, h.Name, err)
	}
	if err := h.nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s in %s: %w", name, h.Name, err)
	}
	return nil
}

// SetUp sets a link up.
func (h *Host) SetUp(iface string) error { return h.linkUp(iface) }

// MAC returns an interface's hardware address.
func (h *Host) MAC(iface string) (net.HardwareAddr, error) {
	l, err := h.link(iface)
	if err != nil {
		return nil, err
	}
	return l.Attrs().HardwareAddr, nil
}

// Ifindex returns an interface's index inside the host's namespace.
func (h *Host) Ifindex(iface string) (int, error) {
	l, err := h.link(iface)
	if err != nil {
		return 0, err
	}
	return l.Attrs().Index, nil
}

// AddAddr adds an address in CIDR form ("198.18.1.1/24", "2001:2::1/64") to iface. IPv6 addresses skip DAD.
func (h *Host) AddAddr(iface, cidr string) error {
	l, err := h.link(iface)
	if err != nil {
		return err
	}
	addr, err := netlink.ParseAddr(cidr)
	if err != nil {
		return fmt.Errorf("parse address %s: %w", cidr, err)
	}
	if addr.IP.To4() == nil {
		addr.Flags |= unix.IFA_F_NODAD
	}
	if err := h.nl.AddrAdd(l, addr); err != nil {
		return fmt.Errorf("add %s to %s in %s: %w", cidr, iface, h.Name, err)
	}
	return nil
}

// AddRoute adds a route to dst (a CIDR, a bare address meaning a host route, or "default") via gateway via.
func (h *Host) AddRoute(dst, via string) error {
	gw := net.ParseIP(via)
	if gw == nil {
		return fmt.Errorf("add route to %s in %s: bad gateway %q", dst, h.Name, via)
	}
	route := &netlink.Route{Gw: gw}
	if err := setRouteDst(route, dst, gw.To4() != nil); err != nil {
		return err
	}
	if err := h.nl.RouteAdd(route); err != nil {
		return fmt.Errorf("add route %s via %s in %s: %w", dst, via, h.Name, err)
	}
	return nil
}

// AddRouteDev adds an on-link route (scope link) to dst out of iface, e.g. "198.18.1.0/24 dev eth0".
func (h *Host) AddRouteDev(dst, iface string) error {
	l, err := h.link(iface)
	if err != nil {
		return err
	}
	route := &netlink.Route{LinkIndex: l.Attrs().Index, Scope: netlink.SCOPE_LINK}
	if err := setRouteDst(route, dst, !strings.Contains(dst, ":")); err != nil {
		return err
	}
	if err := h.nl.RouteAdd(route); err != nil {
		return fmt.Errorf("add route %s dev %s in %s: %w", dst, iface, h.Name, err)
	}
	return nil
}

func setRouteDst(route *netlink.Route, dst string, v4 bool) error {
	if dst == "default" {
		route.Family = netlink.FAMILY_V6
		if v4 {
			route.Family = netlink.FAMILY_V4
		}
		return nil
	}
	if !strings.Contains(dst, "/") {
		if ip := net.ParseIP(dst); ip != nil && ip.To4() != nil {
			dst += "/32"
		} else {
			dst += "/128"
		}
	}
	_, ipnet, err := net.ParseCIDR(dst)
	if err != nil {
		return fmt.Errorf("parse route destination %s: %w", dst, err)
	}
	route.Dst = ipnet
	return nil
}

// AddNeighbor adds a permanent neighbour entry (ARP/ND) for ip on iface.
func (h *Host) AddNeighbor(iface, ip string, mac net.HardwareAddr) error {
	l, err := h.link(iface)
	if err != nil {
		return err
	}
	addr := net.ParseIP(ip)
	if addr == nil {
		return fmt.Errorf("add neighbour on %s: bad address %q", iface, ip)
	}
	family := netlink.FAMILY_V6
	if addr.To4() != nil {
		family = netlink.FAMILY_V4
	}
	neigh := &netlink.Neigh{LinkIndex: l.Attrs().Index, Family: family, State: netlink.NUD_PERMANENT, IP: addr, HardwareAddr: mac}
	if err := h.nl.NeighAdd(neigh); err != nil {
		return fmt.Errorf("add neighbour %s on %s in %s: %w", ip, iface, h.Name, err)
	}
	return nil
}

// Netlink returns the host's netlink handle, for what this package does not wrap. Do not close it.
func (h *Host) Netlink() *netlink.Handle { return h.nl }

// NsHandle returns the host's namespace handle (e.g. for netlink.NsFd). Do not close it.
func (h *Host) NsHandle() netns.NsHandle { return h.ns }
