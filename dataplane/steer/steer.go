// Package steer loads and attaches fastlvs's XDP steering program (steer.c).
//
// The program redirects to the receive queue's AF_XDP socket only the frames
// fastlvs must handle — packets to a virtual service, NAT replies from real
// servers, FULLNAT replies to local addresses and ICMP errors about those —
// and passes everything else (ARP, ND, ping, SSH, routing protocols,
// health-check replies to the director) to the kernel.
//
// Each Attach loads its own program and maps: a two-arm director attaches once
// per interface and fills both programs' maps with the same content. Maps are
// replaced by difference (delete stale keys, add new ones), never flushed, so a
// reload drops no traffic for keys that stay.
package steer

import (
	"errors"
	"fmt"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// ProgramName is the kernel name of the steering program; Attach uses it to
// recognise a program left behind by an earlier fastlvs process.
const ProgramName = "fastlvs_steer"

// Mode is the XDP attach mode.
type Mode int

const (
	// ModeAuto tries native (driver) mode and falls back to generic mode.
	ModeAuto Mode = iota
	// ModeNative attaches in the driver's receive path.
	ModeNative
	// ModeGeneric attaches after skb allocation; works on every device.
	ModeGeneric
)

func (m Mode) String() string {
	switch m {
	case ModeAuto:
		return "auto"
	case ModeNative:
		return "native"
	case ModeGeneric:
		return "generic"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Program is the steering program attached to one interface, with its maps.
type Program struct {
	mu      sync.Mutex // serialises map replacement and Close
	objects steerObjects
	link    link.Link // nil until attached and after Close
	mode    Mode
	ifindex int
	closed  bool
}

// load loads the program and its maps into the kernel without attaching.
func load() (*Program, error) {
	prog := &Program{}
	if err := loadSteerObjects(&prog.objects, nil); err != nil {
		var verr *ebpf.VerifierError
		if errors.As(err, &verr) {
			return nil, fmt.Errorf("load steering program: %w\n%+v", err, verr)
		}
		return nil, fmt.Errorf("load steering program: %w", err)
	}
	return prog, nil
}

// Attach loads the steering program and attaches it to the interface with a
// bpf_link, so the kernel detaches it when the process dies. A fastlvs program
// left attached through netlink (not a link) is removed first.
func Attach(ifindex int, mode Mode) (*Program, error) {
	if err := removeStaleProgram(ifindex); err != nil {
		return nil, err
	}
	prog, err := load()
	if err != nil {
		return nil, err
	}
	prog.ifindex = ifindex
	if err := prog.attach(mode); err != nil {
		prog.objects.Close()
		return nil, err
	}
	return prog, nil
}

func (p *Program) attach(mode Mode) error {
	try := func(flags link.XDPAttachFlags) (link.Link, error) {
		return link.AttachXDP(link.XDPOptions{
			Program:   p.objects.FastlvsSteer,
			Interface: p.ifindex,
			Flags:     flags,
		})
	}
	var err error
	switch mode {
	case ModeNative:
		p.link, err = try(link.XDPDriverMode)
		p.mode = ModeNative
	case ModeGeneric:
		p.link, err = try(link.XDPGenericMode)
		p.mode = ModeGeneric
	case ModeAuto:
		p.link, err = try(link.XDPDriverMode)
		p.mode = ModeNative
		if err != nil {
			nativeErr := err
			p.link, err = try(link.XDPGenericMode)
			p.mode = ModeGeneric
			if err != nil {
				err = fmt.Errorf("native: %w; generic: %w", nativeErr, err)
			}
		}
	default:
		return fmt.Errorf("attach xdp to ifindex %d: unknown mode %v", p.ifindex, mode)
	}
	if err != nil {
		return fmt.Errorf("attach xdp to ifindex %d in %v mode: %w (is another XDP program attached?)",
			p.ifindex, mode, err)
	}
	return nil
}

// Mode reports the attach mode actually in use (never ModeAuto once attached).
func (p *Program) Mode() Mode { return p.mode }

// RegisterSocket makes fd the AF_XDP socket that receives the frames steered
// from receive queue queue.
func (p *Program) RegisterSocket(queue int, fd int) error {
	if queue < 0 || queue >= int(p.objects.Xsks.MaxEntries()) {
		return fmt.Errorf("register xsk for queue %d: queue out of range [0, %d)",
			queue, p.objects.Xsks.MaxEntries())
	}
	if err := p.objects.Xsks.Put(uint32(queue), uint32(fd)); err != nil {
		return fmt.Errorf("register xsk for queue %d: %w", queue, err)
	}
	return nil
}

// UnregisterSocket removes the socket of queue; its steered frames then fall
// back to the kernel (and count as NoSocket).
func (p *Program) UnregisterSocket(queue int) error {
	err := p.objects.Xsks.Delete(uint32(queue))
	if err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("unregister xsk for queue %d: %w", queue, err)
	}
	return nil
}

// Close detaches the program and closes its maps. It is safe to call twice.
func (p *Program) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	var errs []error
	if p.link != nil {
		if err := p.link.Close(); err != nil {
			errs = append(errs, fmt.Errorf("detach xdp from ifindex %d: %w", p.ifindex, err))
		}
		p.link = nil
	}
	if err := p.objects.Close(); err != nil {
		errs = append(errs, fmt.Errorf("close steering objects: %w", err))
	}
	return errors.Join(errs...)
}
