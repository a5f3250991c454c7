package dataplane

import (
	"slices"

	"fastlvs/conntrack"
	"fastlvs/header"
)

// FULLNAT local ports. A connection's local address:port need only be
// unique towards its real server's address:port — the reply tuple
// real:rport → local:lport is what names it — so every local address gives
// every real server its own ~64k ports.
//
// Worker id of n uses only the ports p with p % n == id, so the destination
// port of a real server's reply names the worker holding the connection
// (process hands it over there). For each real server a worker walks its
// ports with a cursor and takes the next one whose reply tuple is not in its
// connection table: a port comes back only once the connection that held it
// has expired (TIME_WAIT included), and as late as the walk allows — a whole
// lap of the port space. Nothing is shared, nothing locks, nothing is
// allocated per connection.
const (
	localPortFirst = 1024
	localPortLast  = 65535
	// localPortProbes is how many ports of one local address a new
	// connection tries before the next address; past that the ports towards
	// that real server are taken (local_ports_exhausted).
	localPortProbes = 64
)

// localPorts is a worker's FULLNAT port state.
type localPorts struct {
	table     *Table
	byService [][][16]byte // by service id: its local addresses, in spec order
	cursor    []uint32     // by real-server id: the last port handed out (0: none yet)
	next      uint32       // round robin over a service's local addresses
}

// syncLocalPools makes the worker's local-address lists match its current
// table. It runs once per table change (from beginBatch), so allocation here
// never happens per packet.
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
		id := int(svc.State.ID)
		for len(lp.byService) <= id {
			lp.byService = append(lp.byService, nil)
		}
		addrs := make([][16]byte, len(svc.Spec.LocalAddresses))
		for j, a := range svc.Spec.LocalAddresses {
			addrs[j] = a.Unmap().As16()
		}
		lp.byService[id] = addrs
	}
	if n := len(t.realStates); n > len(lp.cursor) {
		lp.cursor = append(lp.cursor, make([]uint32, n-len(lp.cursor))...)
	}
}

// nextPort advances real server id's cursor to the next port this worker
// owns.
func (lp *localPorts) nextPort(id uint32, worker, workers int) uint16 {
	var scratch uint32
	cursor := &scratch // an id beyond the table's: start from the first port
	if int(id) < len(lp.cursor) {
		cursor = &lp.cursor[id]
	}
	port := *cursor + uint32(workers)
	if *cursor == 0 || port > localPortLast {
		port = uint32(localPortFirst + (worker-localPortFirst%workers+workers)%workers)
	}
	*cursor = port
	return uint16(port)
}

// bindLocal gives c a local address of its real server's family and a port
// from this worker's share that no live connection uses towards the same
// real server address and port. It reports false when none is found.
func (w *Worker) bindLocal(svc *Service, c *conntrack.Conn) bool {
	lp := &w.local
	id := int(svc.State.ID)
	if id >= len(lp.byService) {
		return false
	}
	addrs := lp.byService[id]
	want4 := header.Is4(&c.Real)
	reply := conntrack.Tuple{Src: c.Real, SrcPort: c.RealPort, Proto: c.Proto}
	for range addrs {
		addr := &addrs[lp.next%uint32(len(addrs))]
		lp.next++
		if header.Is4(addr) != want4 {
			continue
		}
		reply.Dst = *addr
		for range localPortProbes {
			reply.DstPort = lp.nextPort(c.RealID, w.ID, max(w.workers, 1))
			if ref, _ := w.conns.Lookup(&reply); ref == 0 {
				c.Local, c.LocalPort = *addr, reply.DstPort
				return true
			}
		}
	}
	return false
}

// serves says whether addr is one of svc's local addresses.
func (lp *localPorts) serves(svc *Service, addr *[16]byte) bool {
	id := int(svc.State.ID)
	return id < len(lp.byService) && slices.Contains(lp.byService[id], *addr)
}
