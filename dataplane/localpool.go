package dataplane

import (
	"fastlvs/header"
)

// FULLNAT local ports. Worker id of n owns the ports p of every local
// address with p % n == id, so the destination port of a real server's reply
// names the worker that holds the connection (process hands it over there).
// Each worker keeps one pool per local address; nothing is shared, nothing
// locks.
const (
	localPortFirst = 1024
	localPortLast  = 65535
)

// localPortPool is one worker's share of the ports of one local address.
// Free ports wait in a FIFO ring, so a released port is reused as late as
// possible: the real server has most likely let go of the old connection
// (TIME_WAIT) before the same local address:port comes back.
//
// A port the peer director's connection holds (sync) is taken out of turn:
// it is marked in use and its entry in the ring marked stale, which
// allocate skips and a release of the port revives, so each port is in the
// ring at most once and taking one costs no search.
type localPortPool struct {
	addr  [16]byte
	ring  []uint16 // free ports: count of them from head, wrapping (stale ones included)
	head  int
	count int
	share int                              // ports of the pool are share apart (the worker count)
	stale int                              // entries of the ring whose port was taken
	inUse [(localPortLast + 1) / 64]uint64 // by port: catches a release of a port not handed out
	taken [(localPortLast + 1) / 64]uint64 // by port: in use, yet still in the ring (stale)
}

// newLocalPortPool makes the pool of worker id (of workers) for addr, every
// owned port free.
func newLocalPortPool(addr [16]byte, id, workers int) *localPortPool {
	p := &localPortPool{addr: addr, share: workers}
	first := localPortFirst + (id-localPortFirst%workers+workers)%workers
	p.ring = make([]uint16, 0, (localPortLast-first)/workers+1)
	for port := first; port <= localPortLast; port += workers {
		p.ring = append(p.ring, uint16(port))
	}
	p.count = len(p.ring)
	return p
}

// allocate takes the free port that has waited longest; false when none is
// left.
func (p *localPortPool) allocate() (uint16, bool) {
	for p.count > 0 {
		port := p.ring[p.head]
		if p.head++; p.head == len(p.ring) {
			p.head = 0
		}
		p.count--
		bit := uint64(1) << (port % 64)
		if p.taken[port/64]&bit != 0 { // in use by a synced connection
			p.taken[port/64] &^= bit
			p.stale--
			continue
		}
		p.inUse[port/64] |= bit
		return port, true
	}
	return 0, false
}

// take marks a free port in use out of turn (a connection synced from the
// peer holds it); false when it is in use already or not in this pool.
func (p *localPortPool) take(port uint16) bool {
	bit := uint64(1) << (port % 64)
	if port < localPortFirst || !p.owns(port) || p.inUse[port/64]&bit != 0 {
		return false
	}
	p.inUse[port/64] |= bit
	p.taken[port/64] |= bit
	p.stale++
	return true
}

// owns says whether port is one of this pool's share.
func (p *localPortPool) owns(port uint16) bool {
	return len(p.ring) > 0 && (int(port)-int(p.ring[0]))%p.share == 0
}

// release gives back a port allocate handed out; anything else (a double
// release, a port of another worker) is refused and reported false.
func (p *localPortPool) release(port uint16) bool {
	bit := uint64(1) << (port % 64)
	if p.inUse[port/64]&bit == 0 {
		return false
	}
	p.inUse[port/64] &^= bit
	if p.taken[port/64]&bit != 0 { // its stale entry is still in the ring: free again
		p.taken[port/64] &^= bit
		p.stale--
		return true
	}
	tail := p.head + p.count
	if tail >= len(p.ring) {
		tail -= len(p.ring)
	}
	p.ring[tail] = port
	p.count++
	return true
}

// free says how many ports are left to allocate.
func (p *localPortPool) free() int { return p.count - p.stale }

// localPools is a worker's FULLNAT port state. Pools are kept for every
// local address the worker has ever served, across tables, because
// connections hold their ports until they expire; byService is rebuilt for
// each new table.
type localPools struct {
	table     *Table
	byAddr    map[[16]byte]*localPortPool
	byService [][]*localPortPool // by service id: the pools of its local addresses, in spec order
	next      uint32             // round robin over a service's local addresses
}

// syncLocalPools makes the worker's pools match its current table: a pool
// for each new local address and each FULLNAT service's list. It runs once
// per table change (from beginBatch), so allocation here never happens per
// packet.
func (w *Worker) syncLocalPools() {
	lp, t := &w.local, w.table
	if t == nil || t == lp.table {
		return
	}
	lp.table = t
	lp.byService = lp.byService[:0]
	for i := range t.services {
		svc := &t.services[i]
		if svc.Spec.Method != MethodFullNAT || len(svc.Spec.LocalAddresses) == 0 {
			continue
		}
		if lp.byAddr == nil {
			lp.byAddr = map[[16]byte]*localPortPool{}
		}
		id := int(svc.State.ID)
		for len(lp.byService) <= id {
			lp.byService = append(lp.byService, nil)
		}
		pools := make([]*localPortPool, 0, len(svc.Spec.LocalAddresses))
		for _, a := range svc.Spec.LocalAddresses {
			addr := a.Unmap().As16()
			pool := lp.byAddr[addr]
			if pool == nil {
				pool = newLocalPortPool(addr, w.ID, max(w.workers, 1))
				lp.byAddr[addr] = pool
			}
			pools = append(pools, pool)
		}
		lp.byService[id] = pools
	}
}

// pickLocal allocates a local address:port of the real's address family for
// a new connection of svc, trying the service's addresses round robin.
func (lp *localPools) pickLocal(svc *Service, real *[16]byte) (*[16]byte, uint16, bool) {
	id := int(svc.State.ID)
	if id >= len(lp.byService) {
		return nil, 0, false
	}
	pools := lp.byService[id]
	want4 := header.Is4(real)
	for range pools {
		pool := pools[lp.next%uint32(len(pools))]
		lp.next++
		if header.Is4(&pool.addr) != want4 {
			continue
		}
		if port, ok := pool.allocate(); ok {
			return &pool.addr, port, true
		}
	}
	return nil, 0, false
}

// take marks a synced connection's local port in use in the pool of addr,
// which must be one of svc's local addresses.
func (lp *localPools) take(svc *Service, addr *[16]byte, port uint16) bool {
	id := int(svc.State.ID)
	if id >= len(lp.byService) {
		return false
	}
	for _, pool := range lp.byService[id] {
		if pool.addr == *addr {
			return pool.take(port)
		}
	}
	return false
}

// release gives a connection's local port back to its address's pool.
func (lp *localPools) release(addr *[16]byte, port uint16) {
	if pool := lp.byAddr[*addr]; pool != nil {
		pool.release(port)
	}
}
