package dataplane

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"fastlvs/conntrack"
	"fastlvs/sched"
	"fastlvs/synproxy"
)

// realKey names a real server within its service: the same address in two
// services is two real servers, as in IPVS.
type realKey struct {
	service ServiceKey
	addr    [16]byte
	port    uint16
}

// RealState is what survives table swaps for one real server: its stable id
// (which connections hold instead of a pointer), its shared connection counts
// and its per-worker traffic counters.
type RealState struct {
	ID    uint32
	Load  *sched.Load
	Stats []PaddedTraffic // one per worker

	key realKey
	// method and lastInTable (monotonic ns) say whether the real server's
	// replies must still be steered to the workers after it left the
	// table: its connections live on until they end or drain.
	method      Method
	lastInTable int64
	// guePort is where the real server's GUE goes, 0 for IPIP: kept here
	// (Build stores it, workers load it) so a connection keeps its
	// encapsulation after its real server leaves the table.
	guePort atomic.Uint32
}

// ServiceState is what survives table swaps for one service.
type ServiceState struct {
	ID    uint32
	Stats []PaddedTraffic // one per worker
	// Overflow is the service's shedding decision (overflow.go).
	Overflow OverflowState
}

// Registry hands out stable ids. Ids start at 1 (0 means none) and are never
// reused, so a connection's id always indexes a live or retired RealState in
// every later table. It belongs to the control plane.
type Registry struct {
	mu       sync.Mutex
	workers  int
	services map[ServiceKey]*ServiceState
	reals    map[realKey]*RealState
	realByID []*RealState // index = id; grows only
	svcByID  []*ServiceState
	// ownerKey seeds the hash that picks a client's worker: fixed for the
	// dataplane's life, so tables agree, and secret, so that no client can
	// choose addresses that all land on one worker.
	ownerHash conntrack.Hasher
	// cookies are the SYN proxy's secrets (RotateCookieSecret).
	cookies atomic.Pointer[synproxy.Secrets]
}

// SeedOwnerHash keys the worker-owner hash with seed instead of a random
// secret, so that directors sharing a seed (derived from their sync key)
// agree on which worker owns a client: a synced FULLNAT connection needs
// its client and its local port on the same worker of the peer. Tables
// built afterwards use it; call it before the first Build.
func (r *Registry) SeedOwnerHash(seed uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ownerHash = conntrack.NewHasher(max(seed, 1))
}

// RotateCookieSecret draws a new SYN-proxy cookie secret, keeping the
// previous one for the cookies still in flight; workers see it from their
// next batch. The control plane calls it once per synproxy.CookiePeriod.
func (r *Registry) RotateCookieSecret() error {
	key, err := synproxy.RandomKey()
	if err != nil {
		return fmt.Errorf("draw a cookie secret: %w", err)
	}
	next := synproxy.NewSecrets(key)
	if cur := r.cookies.Load(); cur != nil {
		next = *cur
		next.Rotate(key, synproxy.NowAt(Now()))
	}
	r.cookies.Store(&next)
	return nil
}

// NewRegistry makes a registry for a dataplane with this many workers.
func NewRegistry(workers int) *Registry {
	r := &Registry{
		ownerHash: conntrack.NewHasher(0),
		workers:   workers,
		services:  map[ServiceKey]*ServiceState{},
		reals:     map[realKey]*RealState{},
		realByID:  []*RealState{nil},
		svcByID:   []*ServiceState{nil},
	}
	_ = r.RotateCookieSecret() // crypto/rand does not fail on Linux
	return r
}

func (r *Registry) serviceLocked(k ServiceKey) *ServiceState {
	s, ok := r.services[k]
	if !ok {
		s = &ServiceState{ID: uint32(len(r.svcByID)), Stats: make([]PaddedTraffic, r.workers)}
		r.services[k] = s
		r.svcByID = append(r.svcByID, s)
	}
	return s
}

// realLocked returns k's state, registering it with load when it is new.
func (r *Registry) realLocked(k realKey, load *sched.Load) *RealState {
	s, ok := r.reals[k]
	if !ok {
		s = &RealState{ID: uint32(len(r.realByID)), Load: load, Stats: make([]PaddedTraffic, r.workers), key: k}
		r.reals[k] = s
		r.realByID = append(r.realByID, s)
	}
	return s
}

// Real returns the state of a real server by id, or nil.
func (r *Registry) Real(id uint32) *RealState {
	r.mu.Lock()
	defer r.mu.Unlock()
	if int(id) < len(r.realByID) {
		return r.realByID[id]
	}
	return nil
}

// RealOf returns the state of a service's real server, or nil.
func (r *Registry) RealOf(svc ServiceKey, addr netip.Addr, port uint16) *RealState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reals[realKey{service: svc, addr: addr.Unmap().As16(), port: port}]
}

// ServiceOf returns the state of a service, or nil.
func (r *Registry) ServiceOf(k ServiceKey) *ServiceState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.services[k]
}
