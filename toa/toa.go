// Package toa is the real server's side of client_address: toa. A fastlvs
// FULLNAT director adds the client's address and port to a connection's
// first segments as a TCP option (kind 254 for IPv4, 253 for IPv6, as
// Alibaba's LVS and DPVS do); a sock_ops eBPF program (toa.c) attached to a
// cgroup keeps it with each accepted socket of that cgroup, and an
// application asks "who is the client of this accepted connection" with a
// Reader:
//
//	r, _ := toa.OpenReader("/sys/fs/bpf/fastlvs/toa_clients")
//	conn, _ := listener.Accept()
//	client, ok, err := r.ClientOf(conn.(*net.TCPConn))
//
// The program is attached, and its map pinned, by the fastlvs-toa command.
package toa

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ProgramName is the kernel name of the sock_ops program.
const ProgramName = "fastlvs_toa"

// Program is the TOA reader attached to a cgroup: every socket created by a
// process of that cgroup (or its descendants) keeps the TOA of the
// connections it accepts.
type Program struct {
	objects toaObjects
	link    link.Link
}

// Attach loads the program and attaches it to the cgroup v2 directory
// cgroupPath.
func Attach(cgroupPath string) (*Program, error) {
	p := &Program{}
	if err := loadToaObjects(&p.objects, nil); err != nil {
		return nil, fmt.Errorf("load toa program: %w", err)
	}
	l, err := link.AttachCgroup(link.CgroupOptions{Path: cgroupPath, Attach: ebpf.AttachCGroupSockOps, Program: p.objects.FastlvsToa})
	if err != nil {
		p.objects.Close()
		return nil, fmt.Errorf("attach toa program to cgroup %s: %w (is it a cgroup v2 directory?)", cgroupPath, err)
	}
	p.link = l
	return p, nil
}

// Pin makes the clients map reachable at path (on a bpf file system) for
// applications' OpenReader. The pin outlives the program's process; Unpin
// removes it.
func (p *Program) Pin(path string) error {
	if err := p.objects.ToaClients.Pin(path); err != nil {
		return fmt.Errorf("pin toa map at %s: %w", path, err)
	}
	return nil
}

// Unpin removes the map's pin.
func (p *Program) Unpin() error { return p.objects.ToaClients.Unpin() }

// Reader reads the map of the running program.
func (p *Program) Reader() *Reader { return &Reader{clients: p.objects.ToaClients} }

// Close detaches the program.
func (p *Program) Close() error {
	return errors.Join(p.link.Close(), p.objects.Close())
}

// Reader answers which client an accepted connection belongs to.
type Reader struct {
	clients *ebpf.Map
	owned   bool
}

// OpenReader opens the map that fastlvs-toa pinned at path.
func OpenReader(path string) (*Reader, error) {
	m, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return nil, fmt.Errorf("open toa map %s: %w (is fastlvs-toa running?)", path, err)
	}
	return &Reader{clients: m, owned: true}, nil
}

// Close releases the map (a Reader from Program.Reader leaves it open).
func (r *Reader) Close() error {
	if r.owned {
		return r.clients.Close()
	}
	return nil
}

// ClientOf returns the client the director named in conn's TOA; ok is false
// when the connection carried none (it did not come through a director with
// client_address: toa, or its socket is not in the program's cgroup).
func (r *Reader) ClientOf(conn syscall.Conn) (client netip.AddrPort, ok bool, err error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, false, err
	}
	var v toaToaClient
	var lookupErr error
	if err := raw.Control(func(fd uintptr) {
		lookupErr = r.clients.Lookup(int32(fd), &v)
	}); err != nil {
		return netip.AddrPort{}, false, err
	}
	if errors.Is(lookupErr, ebpf.ErrKeyNotExist) {
		return netip.AddrPort{}, false, nil
	}
	if lookupErr != nil {
		return netip.AddrPort{}, false, fmt.Errorf("look up toa: %w", lookupErr)
	}
	return decodeClient(&v)
}

// decodeClient turns the program's record into an address and port.
func decodeClient(v *toaToaClient) (netip.AddrPort, bool, error) {
	port := uint16(v.Port>>8) | uint16(v.Port<<8) // stored in network order
	switch v.Family {
	case 4:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(v.Addr[:4])), port), true, nil
	case 6:
		return netip.AddrPortFrom(netip.AddrFrom16(v.Addr), port), true, nil
	}
	return netip.AddrPort{}, false, fmt.Errorf("toa record of family %d", v.Family)
}
