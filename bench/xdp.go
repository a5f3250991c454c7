package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"fastlvs/testbed"
)

// The benchmark's XDP programs are written with cilium/ebpf's asm package, so
// the harness needs no C compiler: a counting drop program (the sink), a pass
// program (a veth peer that must have XDP for XDP_REDIRECT to reach it) and a
// MAC-rewriting redirect (the in-kernel forwarding peer).

const (
	xdpDrop = 1
	xdpPass = 2
)

// xdpProgram is a program attached to one interface; Close detaches it.
type xdpProgram struct {
	prog *ebpf.Program
	link link.Link
	maps []*ebpf.Map
}

func (p *xdpProgram) Close() error {
	var errs []error
	if p.link != nil {
		errs = append(errs, p.link.Close())
	}
	if p.prog != nil {
		errs = append(errs, p.prog.Close())
	}
	for _, m := range p.maps {
		errs = append(errs, m.Close())
	}
	return errors.Join(errs...)
}

// loadXDP loads insns and attaches them in driver mode to iface of host; the
// attach must happen inside the namespace, where the ifindex means iface.
func loadXDP(h *testbed.Host, iface, name string, insns asm.Instructions, maps ...*ebpf.Map) (*xdpProgram, error) {
	p := &xdpProgram{maps: maps}
	var err error
	p.prog, err = ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.XDP, Instructions: insns, License: "GPL"})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("load xdp program %s: %w", name, err), p.Close())
	}
	ifindex, err := h.Ifindex(iface)
	if err != nil {
		return nil, errors.Join(err, p.Close())
	}
	err = h.Do(func() error {
		p.link, err = link.AttachXDP(link.XDPOptions{Program: p.prog, Interface: ifindex, Flags: link.XDPDriverMode})
		return err
	})
	if err != nil {
		return nil, errors.Join(fmt.Errorf("attach xdp %s to %s in %s: %w", name, iface, h.Name, err), p.Close())
	}
	return p, nil
}

// countDropInstructions counts every frame in slot 0 of a per-CPU array and
// drops it: each CPU increments its own counter, so no atomics are needed.
func countDropInstructions(counterFD int) asm.Instructions {
	return asm.Instructions{
		asm.StoreImm(asm.R10, -4, 0, asm.Word), // key = 0
		asm.LoadMapPtr(asm.R1, counterFD),
		asm.Mov.Reg(asm.R2, asm.R10),
		asm.Add.Imm(asm.R2, -4),
		asm.FnMapLookupElem.Call(),
		asm.JEq.Imm(asm.R0, 0, "out"),
		asm.LoadMem(asm.R1, asm.R0, 0, asm.DWord),
		asm.Add.Imm(asm.R1, 1),
		asm.StoreMem(asm.R0, 0, asm.R1, asm.DWord),
		asm.Mov.Imm(asm.R0, xdpDrop).WithSymbol("out"),
		asm.Return(),
	}
}

// redirectInstructions rewrites the Ethernet addresses of IPv4 frames to
// dst/src and redirects them out of ifindex; everything else passes.
func redirectInstructions(dst, src net.HardwareAddr, ifindex int) asm.Instructions {
	// Six-byte MACs stored as a 4-byte and a 2-byte immediate, in the
	// frame's (network) byte order: the store writes the immediate little-endian.
	word := func(b []byte) int64 { return int64(binary.LittleEndian.Uint32(b)) }
	half := func(b []byte) int64 { return int64(binary.LittleEndian.Uint16(b)) }
	return asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R4, asm.R2, 12, asm.Half),
		asm.JNE.Imm(asm.R4, 0x0008, "pass"), // ETH_P_IP, read little-endian
		asm.StoreImm(asm.R2, 0, word(dst[0:4]), asm.Word),
		asm.StoreImm(asm.R2, 4, half(dst[4:6]), asm.Half),
		asm.StoreImm(asm.R2, 6, half(src[0:2]), asm.Half),
		asm.StoreImm(asm.R2, 8, word(src[2:6]), asm.Word),
		asm.Mov.Imm(asm.R1, int32(ifindex)),
		asm.Mov.Imm(asm.R2, 0),
		asm.FnRedirect.Call(),
		asm.Return(),
		asm.Mov.Imm(asm.R0, xdpPass).WithSymbol("pass"),
		asm.Return(),
	}
}

// attachRedirect attaches the MAC-rewriting redirect to iface of h.
func attachRedirect(h *testbed.Host, iface string, dst, src net.HardwareAddr, outIfindex int) (*xdpProgram, error) {
	return loadXDP(h, iface, "fbn_redirect", redirectInstructions(dst, src, outIfindex))
}

// Sink counts and drops every frame that reaches an interface: the real
// server of a packet-rate run. Its count is exact, whatever the rate.
type Sink struct {
	counter *ebpf.Map
	prog    *xdpProgram
}

// AttachSink attaches the counting drop program to iface of host h.
func AttachSink(h *testbed.Host, iface string) (*Sink, error) {
	counter, err := ebpf.NewMap(&ebpf.MapSpec{Name: "fbn_sink", Type: ebpf.PerCPUArray, KeySize: 4, ValueSize: 8, MaxEntries: 1})
	if err != nil {
		return nil, fmt.Errorf("make sink counter: %w", err)
	}
	prog, err := loadXDP(h, iface, "fbn_sink", countDropInstructions(counter.FD()), counter)
	if err != nil {
		return nil, err
	}
	return &Sink{counter: counter, prog: prog}, nil
}

// Count returns the frames dropped so far, summed over CPUs.
func (s *Sink) Count() (uint64, error) {
	var perCPU []uint64
	if err := s.counter.Lookup(uint32(0), &perCPU); err != nil {
		return 0, fmt.Errorf("read sink counter: %w", err)
	}
	var total uint64
	for _, n := range perCPU {
		total += n
	}
	return total, nil
}

// Close detaches the program and frees the counter.
func (s *Sink) Close() error { return s.prog.Close() }
