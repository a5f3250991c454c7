package dataplane

import (
	"math"
	"net/netip"
	"sync/atomic"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/sched"
)

// Site overflow (the seed's geographic load shedding): a service with an
// overflow target sends its new connections, while it is over its
// capacity, to another site's director inside IPIP or GUE; that director
// opens the tunnel (overflowaccept.go) and serves them as its own.
//
//  1. The control plane measures each service's load (connections of its
//     real servers over its capacity) every OverflowInterval and flips the
//     service's overflow state with hysteresis: on above High, off again
//     below Low (UpdateOverflow). The state is one atomic bool.
//  2. A worker reads it only when it creates a connection (newConn): on,
//     the connection goes to the service's overflow target, a pseudo real
//     server reached by tunnel that no scheduler sees and no real-server
//     listing shows. The connection table remembers the choice, so an
//     established connection never moves, in either direction.
//  3. A connection the scheduler finds no real server for (all overloaded
//     by their u_threshold, or none healthy) is shed too, whatever the
//     state: refusing it would help nobody.

// OverflowSpec is a service's overflow target and thresholds.
type OverflowSpec struct {
	// To is the other site's director (or a VIP it steers); zero: none.
	To netip.Addr
	// High and Low are load ratios: shedding starts above High and stops
	// below Low.
	High, Low float64
	// Capacity is what a load ratio of 1 means, in connections; 0 means the
	// sum of the real servers' upper thresholds.
	Capacity uint32
	// GUE sends GUE to GUEPort instead of IPIP.
	GUE     bool
	GUEPort uint16
}

// Enabled says whether the service sheds at all.
func (o *OverflowSpec) Enabled() bool { return o.To.IsValid() }

// OverflowState is a service's overflow decision and the load it was made
// on; the control plane writes it, workers read Shedding.
type OverflowState struct {
	shedding atomic.Bool
	// loadPermille is the last measured load ratio, in thousandths.
	loadPermille atomic.Int64
	// changes counts the state's flips, on and off.
	changes atomic.Uint64
}

// Shedding says whether new connections go to the other site.
func (s *OverflowState) Shedding() bool { return s.shedding.Load() }

// LoadRatio is the last measured load over capacity.
func (s *OverflowState) LoadRatio() float64 { return float64(s.loadPermille.Load()) / 1000 }

// Changes is how often shedding started or stopped.
func (s *OverflowState) Changes() uint64 { return s.changes.Load() }

// nextShedding is the hysteresis: start above high, stop below low, else
// stay.
func nextShedding(shedding bool, ratio, high, low float64) bool {
	if shedding {
		return ratio >= low
	}
	return ratio > high
}

// OverflowLoad is a service's load as overflow measures it: the active
// connections of its real servers for TCP (IPVS's ActiveConn; a closing
// connection no longer loads the site), every connection for UDP.
// Connections already shed are the other site's load, not this one's.
func (s *Service) OverflowLoad() int64 {
	var load int64
	for _, r := range s.reals {
		load += r.load.Active()
		if s.Spec.Proto == ProtoUDP {
			load += r.load.Inactive()
		}
	}
	return load
}

// OverflowCapacity is what a load ratio of 1 means for the service.
func (s *Service) OverflowCapacity() uint32 {
	if s.Spec.Overflow.Capacity > 0 {
		return s.Spec.Overflow.Capacity
	}
	var sum uint32
	for _, r := range s.reals {
		sum += r.Spec.UpperThreshold
	}
	return sum
}

// OverflowReal is the service's overflow target as a pseudo real server
// (its id counts the shed connections and their traffic), or nil.
func (s *Service) OverflowReal() *Real { return s.overflowReal }

// HasOverflow says a service of the table has an overflow target.
func (t *Table) HasOverflow() bool {
	for i := range t.services {
		if t.services[i].Spec.Overflow.Enabled() {
			return true
		}
	}
	return false
}

// UpdateOverflow measures every overflow service of the table and flips its
// state across the thresholds. The control plane calls it periodically;
// it reads only atomics.
func (t *Table) UpdateOverflow() {
	for i := range t.services {
		svc := &t.services[i]
		o := &svc.Spec.Overflow
		if !o.Enabled() {
			continue
		}
		ratio := math.Inf(1) // no capacity: every connection is too many
		if c := svc.OverflowCapacity(); c > 0 {
			ratio = float64(svc.OverflowLoad()) / float64(c)
		}
		st := &svc.State.Overflow
		st.loadPermille.Store(int64(math.Min(ratio, 1e9) * 1000))
		was := st.shedding.Load()
		if now := nextShedding(was, ratio, o.High, o.Low); now != was {
			st.shedding.Store(now)
			st.changes.Add(1)
		}
	}
}

// buildOverflowReal gives an overflow service its pseudo real server
// (Build's registration step): a tunnel endpoint with weight 1, so a
// retransmitted SYN stays on it (inRotation), kept out of svc.reals.
func (t *Table) buildOverflowReal(svc *Service, reg *Registry, now int64) {
	o := &svc.Spec.Overflow
	if !o.Enabled() {
		return
	}
	addr := o.To.Unmap().As16()
	r := &Real{Spec: RealSpec{Addr: o.To.Unmap(), Weight: 1}, Addr: addr, Service: svc, overflow: true}
	r.State = reg.realLocked(realKey{service: svc.Key, addr: addr, port: overflowRealPort}, new(sched.Load))
	r.ID, r.load = r.State.ID, r.State.Load
	r.State.method, r.State.lastInTable = MethodTunnel, now
	r.State.guePort.Store(uint32(guePortOfSpec(o.GUE, o.GUEPort)))
	svc.overflowReal = r
}

// overflowRealPort keys the overflow target in the registry apart from a
// real server of the same address (whose port is never 0 once validated).
const overflowRealPort = 0

// newOverflowConn records a connection shed to the service's other site.
func (w *Worker) newOverflowConn(svc *Service, p *header.Packet, tuple *conntrack.Tuple) (conntrack.Ref, Drop) {
	target := svc.overflowReal
	c := conntrack.Conn{
		Client: p.Src, ClientPort: p.SrcPort,
		Virtual: p.Dst, VirtualPort: p.DstPort,
		Real: target.Addr, RealPort: p.DstPort,
		Proto: p.Proto, Forward: uint8(MethodTunnel),
		ServiceID: svc.State.ID, RealID: target.ID,
	}
	ref, drop := w.insertConn(&c, tuple, nil, target, svc)
	if drop == 0 {
		w.count(CountOverflowShed)
	}
	return ref, drop
}
