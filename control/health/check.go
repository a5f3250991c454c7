package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
)

// result is the outcome of one attempt.
type result struct {
	err    error // nil = success
	weight int   // -1 = the configured weight
}

func success() result          { return result{weight: -1} }
func failure(err error) result { return result{err: err, weight: -1} }

// check runs one attempt against its target. ctx carries the attempt's
// timeout. A check is built once per target and reused for every attempt.
type check interface {
	run(ctx context.Context) result
}

// checkEnv is what checks share across a Manager.
type checkEnv struct {
	execSlots chan struct{} // bounds concurrent exec checks
}

// newCheck builds the check for a target whose spec has its defaults filled
// in. An invalid spec yields a check that always fails with the reason.
func newCheck(t Target) check {
	spec := t.Spec
	if err := spec.Validate(); err != nil {
		return failingCheck{err: err}
	}
	addr := t.Addr
	if spec.Port != 0 {
		addr = netip.AddrPortFrom(addr.Addr(), spec.Port)
	}
	switch spec.Type {
	case TypeTCP:
		return &tcpCheck{addr: addr, source: spec.SourceAddr}
	case TypeHTTP, TypeHTTPS:
		return newHTTPCheck(spec, addr)
	case TypeUDP:
		return &udpCheck{addr: addr, source: spec.SourceAddr, payload: spec.Payload, expect: spec.Expect}
	case TypeICMP:
		return &icmpCheck{addr: addr.Addr(), source: spec.SourceAddr}
	case TypeDNS:
		return newDNSCheck(spec, addr)
	case TypeExec:
		return &execCheck{addr: addr, command: spec.Command, args: spec.Args}
	}
	return failingCheck{err: fmt.Errorf("health check type %q has no checker", spec.Type)}
}

// failingCheck stands in for a target whose spec is invalid.
type failingCheck struct{ err error }

func (f failingCheck) run(context.Context) result { return failure(f.err) }

// localAddr returns the address a check binds to, or nil for the kernel's choice.
func localAddr(network string, source netip.Addr) net.Addr {
	if !source.IsValid() {
		return nil
	}
	switch network {
	case "tcp":
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
	case "udp":
		return net.UDPAddrFromAddrPort(netip.AddrPortFrom(source, 0))
	}
	return &net.IPAddr{IP: source.AsSlice()}
}
