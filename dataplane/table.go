package dataplane

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"

	"fastlvs/sched"
	"fastlvs/synproxy"
)

// Table is the frozen picture of services and real servers that workers
// read. The control plane builds a new one for every change and publishes it
// with one atomic store; nothing in it is written after Build returns except
// the per-worker scheduler state, which each worker alone touches.
type Table struct {
	Spec     TableSpec
	services []Service
	// serviceIndex finds a service by VIP, port and protocol.
	serviceIndex map[ServiceKey]int32
	// realStates indexes every real server ever registered by id, retired
	// ones included, so an old connection still finds its counters.
	realStates []*RealState
	// serviceStates indexes every service ever registered by id.
	serviceStates []*ServiceState
	// realsByID indexes the real servers present in this table by id.
	realsByID []*Real
	// owners says which worker owns a client's connections (owner.go).
	owners owners
	// cookies are the SYN proxy's secrets, rotated by the control plane
	// apart from table builds; hasSynProxy says a service uses them.
	cookies     *atomic.Pointer[synproxy.Secrets]
	hasSynProxy bool
	// drainUntil is when connections of a removed real server (by id) stop
	// being served.
	drainUntil map[uint32]int64
	// localAddrs holds the FULLNAT local addresses (see isLocalAddress).
	localAddrs map[[16]byte]struct{}
	// vips holds every service address (see isVIP, icmp.go).
	vips map[[16]byte]struct{}
	// overflowPeers are the directors whose tunnelled connections this one
	// serves (overflowaccept.go); nil accepts none.
	overflowPeers map[[16]byte]struct{}
}

// Service is one virtual service in a table.
type Service struct {
	Spec       ServiceSpec
	Key        ServiceKey
	State      *ServiceState
	reals      []*Real
	plan       *sched.Plan
	schedulers []sched.Scheduler // one per worker
	// persistBits is the client mask length in 16-byte form (96+n for IPv4).
	persistBits int
	// proxyConfig is what the SYN proxy answers with (Spec.SynProxy).
	proxyConfig synproxy.Config
	// overflowReal is the other site new connections are shed to
	// (Spec.Overflow, overflow.go); nil without one.
	overflowReal *Real
}

// Real is one real server of a service in a table.
type Real struct {
	Spec    RealSpec
	ID      uint32
	Addr    [16]byte
	Service *Service
	State   *RealState
	load    *sched.Load // the Load its scheduler counts on, adopted by State
	// overflow marks a service's overflow target: no scheduler picks it.
	overflow bool
}

// Build compiles a spec into a table for workers workers. It fails, leaving
// nothing changed, when a scheduler cannot be built.
func Build(spec TableSpec, reg *Registry, workers int) (*Table, error) {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	t := &Table{
		Spec:         spec,
		services:     make([]Service, len(spec.Services)),
		serviceIndex: make(map[ServiceKey]int32, len(spec.Services)),
	}
	pending := map[realKey]bool{}
	for i := range spec.Services {
		ss := &spec.Services[i]
		svc := &t.services[i]
		svc.Spec = *ss
		svc.Key = ss.Key()
		if _, dup := t.serviceIndex[svc.Key]; dup {
			return nil, fmt.Errorf("service %s: defined twice", svc.Key)
		}
		t.serviceIndex[svc.Key] = int32(i)
		svc.persistBits = 128
		if ss.SynProxy {
			if ss.Proto != ProtoTCP || (ss.Method != MethodNAT && ss.Method != MethodFullNAT) {
				return nil, fmt.Errorf("service %s: synproxy needs a nat or fullnat tcp service", svc.Key)
			}
			svc.proxyConfig = defaultProxyConfig
			if ss.SynProxyMSS != 0 {
				svc.proxyConfig.MSS = ss.SynProxyMSS
			}
			if ss.ClientAddress != ClientAddressNone && ss.Method == MethodFullNAT {
				// The client's segments grow by the header (clientaddr.go).
				svc.proxyConfig.MSS -= uint16(clientAddrRoom(ss.ClientAddress, ss.VIP.Is6()))
			}
			if err := svc.proxyConfig.Validate(); err != nil {
				return nil, fmt.Errorf("service %s: %w", svc.Key, err)
			}
			t.hasSynProxy = true
		}
		if ss.Overflow.Enabled() && ss.SynProxy {
			return nil, fmt.Errorf("service %s: overflow cannot shed a synproxy service's connections", svc.Key)
		}
		if ss.Persistence > 0 && ss.PersistenceBits > 0 {
			if ss.VIP.Unmap().Is4() {
				svc.persistBits = 96 + ss.PersistenceBits
			} else {
				svc.persistBits = ss.PersistenceBits
			}
		}
		// A real server keeps its Load across tables; a new one gets a fresh
		// Load that is registered only once every service has built, so a
		// failed build leaves no trace in the registry.
		cfg := sched.Config{Name: ss.Scheduler, Flags: ss.Flags, MaglevTableSize: ss.MaglevTableSize}
		svc.reals = make([]*Real, len(ss.Reals))
		for j, rs := range ss.Reals {
			k := realKey{service: svc.Key, addr: rs.Addr.Unmap().As16(), port: rs.Port}
			if pending[k] {
				return nil, fmt.Errorf("service %s: real server %s defined twice", svc.Key, netip.AddrPortFrom(rs.Addr, rs.Port))
			}
			pending[k] = true
			load := new(sched.Load)
			if st, ok := reg.reals[k]; ok {
				load = st.Load
			}
			svc.reals[j] = &Real{Spec: rs, Addr: k.addr, Service: svc, load: load}
			cfg.Servers = append(cfg.Servers, sched.Server{Addr: k.addr, Port: rs.Port, Weight: rs.Weight,
				UpperThreshold: rs.UpperThreshold, LowerThreshold: rs.LowerThreshold, Load: load})
		}
		plan, err := sched.Build(cfg)
		if err != nil {
			return nil, fmt.Errorf("service %s: %w", svc.Key, err)
		}
		svc.plan = plan
	}
	// Everything validated: register ids and wire states.
	now := Now()
	for i := range t.services {
		svc := &t.services[i]
		svc.State = reg.serviceLocked(svc.Key)
		for _, r := range svc.reals {
			r.State = reg.realLocked(realKey{service: svc.Key, addr: r.Addr, port: r.Spec.Port}, r.load)
			r.ID = r.State.ID
			r.State.method, r.State.lastInTable = svc.Spec.Method, now
			r.State.guePort.Store(uint32(guePortOfSpec(svc.Spec.GUE, svc.Spec.GUEPort)))
		}
		t.buildOverflowReal(svc, reg, now)
		svc.schedulers = make([]sched.Scheduler, workers)
		for w := range svc.schedulers {
			svc.schedulers[w] = svc.plan.Instance()
		}
	}
	for _, dr := range spec.Draining {
		if rs, ok := reg.reals[realKey{service: dr.Service, addr: dr.Addr.Unmap().As16(), port: dr.Port}]; ok {
			if t.drainUntil == nil {
				t.drainUntil = map[uint32]int64{}
			}
			t.drainUntil[rs.ID] = dr.Until
		}
	}
	t.owners = buildOwners(t.services, reg.ownerHash)
	t.cookies = &reg.cookies
	t.realStates = append([]*RealState(nil), reg.realByID...)
	t.serviceStates = append([]*ServiceState(nil), reg.svcByID...)
	t.realsByID = make([]*Real, len(reg.realByID))
	for i := range t.services {
		for _, r := range t.services[i].reals {
			t.realsByID[r.ID] = r
		}
		if r := t.services[i].overflowReal; r != nil {
			t.realsByID[r.ID] = r
		}
	}
	t.buildLocalAddresses()
	t.buildOverflowAccept()
	t.buildVIPs()
	return t, nil
}

// Services lists the table's services in spec order.
func (t *Table) Services() []Service { return t.services }

// Reals lists a service's real servers in spec order.
func (s *Service) Reals() []*Real { return s.reals }

// lookupService finds the service for a packet's destination, falling back
// to the all-ports service of the address.
func (t *Table) lookupService(addr *[16]byte, port uint16, proto uint8) *Service {
	if i, ok := t.serviceIndex[ServiceKey{Addr: *addr, Port: port, Proto: proto}]; ok {
		return &t.services[i]
	}
	if i, ok := t.serviceIndex[ServiceKey{Addr: *addr, Proto: proto}]; ok {
		return &t.services[i]
	}
	return nil
}

// realState returns the counters of a real server id, retired or not.
func (t *Table) realState(id uint32) *RealState {
	if int(id) < len(t.realStates) {
		return t.realStates[id]
	}
	return nil
}

// serviceState returns the counters of a service id, retired or not.
func (t *Table) serviceState(id uint32) *ServiceState {
	if int(id) < len(t.serviceStates) {
		return t.serviceStates[id]
	}
	return nil
}

// servesRemoved says whether a connection to a real server that is no
// longer in the table may go on at now.
func (t *Table) servesRemoved(id uint32, now int64) bool {
	if t.Spec.ExpireNodestConn {
		return false
	}
	until, draining := t.drainUntil[id]
	return !draining || now < until
}

// real returns the real server with this id if it is in the table.
func (t *Table) real(id uint32) *Real {
	if int(id) < len(t.realsByID) {
		return t.realsByID[id]
	}
	return nil
}

// ReplySteeringRetention is how long after a NAT real server leaves the table
// its replies are still steered to the workers: longer than an idle
// established connection lives (IPVS's 900 s), so connections that outlive
// the removal keep working.
const ReplySteeringRetention = 20 * time.Minute

// SteeringEndpoints lists what the XDP program must send to user space:
// every service, and the real servers of NAT services (their replies),
// including those removed recently enough to still have connections.
func (t *Table) SteeringEndpoints() (services, replySources []ServiceKey, localAddrs [][16]byte) {
	seen := map[ServiceKey]bool{}
	cutoff := Now() - int64(ReplySteeringRetention)
	for _, rs := range t.realStates {
		if rs == nil || rs.method != MethodNAT || rs.lastInTable < cutoff {
			continue
		}
		key := ServiceKey{Addr: rs.key.addr, Port: rs.key.port, Proto: rs.key.service.Proto}
		if !seen[key] {
			seen[key] = true
			replySources = append(replySources, key)
		}
	}
	for i := range t.services {
		svc := &t.services[i]
		services = append(services, svc.Key)
		switch svc.Spec.Method {
		case MethodFullNAT:
			for _, a := range svc.Spec.LocalAddresses {
				localAddrs = append(localAddrs, a.Unmap().As16())
			}
		}
	}
	return services, replySources, localAddrs
}
