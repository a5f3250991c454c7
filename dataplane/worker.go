package dataplane

// What happens to one batch on a worker (RoutineWorker → poll):
//
//  1. Load the current table and next-hop snapshot (one atomic load each) and
//     read the clock: nothing per packet asks for either again.
//  2. Process frames other workers handed over (their inboxes), then receive
//     up to a batch from each of this worker's sockets (one per interface).
//  3. Parse the whole batch and look its connections up together; then for
//     each frame, process() finds or creates its connection, rewrites the
//     packet in place and returns a verdict: transmit on port p, hand over
//     to the owning worker, or drop (counted by reason).
//  4. A worker's sockets share one UMEM, so frames leave in place by any
//     port; only a tag that cannot be set in place (no headroom) or a socket
//     with a UMEM of its own makes a copy.
//  5. Put the batch on the TX rings, kick the kernel once per socket, expire
//     a bounded number of connections, recycle completions into fill rings.
//  6. Nothing to do: yield the core a few times (to the kernel's NAPI work
//     that fills the RX rings, when it shares the core), then sleep in
//     poll(2) for up to a millisecond (idle.go).

import (
	"sync/atomic"

	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/nexthop"
	"fastlvs/sched"
	"fastlvs/spsc"
	"fastlvs/xsk"
)

const (
	batchSize       = 64
	expireBudget    = 64 // connections examined per batch by the expiry wheel
	handoffSlots    = 1024
	handoffFrameMax = 2048
	// handoffHeadroom is free space before a handed-over frame, so an
	// encapsulation can prepend headers in place, as in a UMEM frame.
	handoffHeadroom = 256
)

// handoffSlot carries a copy of a frame to the worker that owns its
// connection.
type handoffSlot struct {
	length      int
	port        int
	tries, hops uint8 // the packet's, see owner.go
	// hasNote marks a slot that carries a fragment decision instead of a
	// frame (fragment.go).
	hasNote bool
	note    fragNote
	buf     [handoffHeadroom + handoffFrameMax]byte
}

// workerPort is a worker's socket on one interface and its pending TX batch.
type workerPort struct {
	sock *xsk.Socket
	tx   []xsk.Desc
}

// Worker owns one queue on every interface, one connection table and one
// instance of every service's scheduler.
type Worker struct {
	ID      int
	CPU     int
	Stats   *WorkerStats
	workers int

	ports  []workerPort
	poller *xsk.Poller
	rx     []xsk.Desc

	// One receive batch, parsed and looked up together (conntrack.Batch
	// keeps the table's cache misses of the whole batch in flight at once).
	batch        [batchSize]packet
	batchResults [batchSize]header.ParseResult
	batchKeys    [batchSize]conntrack.Tuple
	lookups      conntrack.Batch

	tables *atomic.Pointer[Table]
	table  *Table
	hops   func() *nexthop.Snapshot
	hop    *nexthop.Snapshot
	// smallestMTU is hop's least port MTU: a packet within it fits any
	// port (egress.go, fragneeded.go).
	smallestMTU int
	wants       *nexthop.WantQueue

	conns    *conntrack.Table
	expireFn func(conntrack.Ref, *conntrack.Conn)
	now      int64

	flow  sched.Flow // scratch for the scheduler, see pickReal
	local localPorts // FULLNAT local ports, see localpool.go

	inbox  []*spsc.Ring[handoffSlot] // from each other worker
	outbox []*spsc.Ring[handoffSlot] // to each worker (nil for ourselves)

	requests atomic.Pointer[request]

	// Scheduling (priority.go): set before the worker starts, read by the
	// watchdog.
	priority    Priority
	threadID    atomic.Int32
	lastBlocked atomic.Int64 // monotonic ns when the worker last blocked
	demoted     atomic.Bool

	// Per-packet counts, published to Stats and the registry's Traffic
	// once per batch (see counter).
	tally           workerTally
	realTally       []trafficTally // by real-server id
	serviceTally    []trafficTally // by service id
	touchedReals    []uint32
	touchedServices []uint32

	// syncOut and syncIn carry connections to and from the peer director
	// (sync.go); nil when sync is off.
	syncOut, syncIn *spsc.Ring[SyncRecord]

	// learned is the way back to recent clients, for replies that come
	// before the snapshot knows them (learned.go).
	learned [learnedSlots]learnedHop

	// realPaths caches where packets to each real server (by id) leave, per
	// next-hop snapshot (realpath.go).
	realPaths   []realPath
	scratchPath realPath

	tunnel tunnelState // see tunnel.go
	proxy  proxyState  // see synproxy.go
	frags  fragState   // see fragment.go
	// sendCopy transmits a copy of a frame on a port (transmitCopy; tests
	// catch it): for held fragments released outside their own batch slot.
	sendCopy   func(port int, frame []byte)
	icmpBudget icmpBudget // time exceeded messages, see icmpanswer.go
	extra      extraFrame // a packet's second frame, see tunnelsplit.go
}

// request runs fn on the worker's goroutine between batches: the only way
// the control plane reads a connection table.
type request struct {
	fn   func(*conntrack.Table)
	done chan struct{}
}

func newWorker(id, workers int, conns *conntrack.Table, tables *atomic.Pointer[Table],
	hops func() *nexthop.Snapshot, wants *nexthop.WantQueue) *Worker {
	w := &Worker{
		ID:      id,
		workers: workers,
		Stats:   new(WorkerStats),
		rx:      make([]xsk.Desc, batchSize),
		tables:  tables,
		hops:    hops,
		wants:   wants,
		conns:   conns,
	}
	w.expireFn = w.onExpire
	w.sendCopy = w.transmitCopy
	w.frags.table.hash = conntrack.NewHasher(0)
	conns.SetEvictHook(w.onEvicted)
	return w
}

func (w *Worker) addPort(sock *xsk.Socket) {
	w.ports = append(w.ports, workerPort{sock: sock, tx: make([]xsk.Desc, 0, 2*batchSize)})
}

// beginBatch loads what stays fixed for one batch.
func (w *Worker) beginBatch(now int64) {
	if t := w.tables.Load(); t != w.table {
		w.table = t
		w.sizeTallies()
		w.syncLocalPools()
	}
	w.hop = w.hops()
	w.smallestMTU = w.hop.SmallestMTU()
	w.now = now
	if w.table != nil {
		w.syncProxy(now)
	}
}

// sizeTallies grows the per-id tallies to a new table's id space; ids only
// grow, so this allocates once per table that adds servers, never per packet.
func (w *Worker) sizeTallies() {
	if w.table == nil {
		return
	}
	if n := len(w.table.realStates); n > len(w.realTally) {
		w.realTally = append(w.realTally, make([]trafficTally, n-len(w.realTally))...)
		w.touchedReals = make([]uint32, 0, n)
		w.realPaths = append(w.realPaths, make([]realPath, n-len(w.realPaths))...)
	}
	if n := len(w.table.serviceStates); n > len(w.serviceTally) {
		w.serviceTally = append(w.serviceTally, make([]trafficTally, n-len(w.serviceTally))...)
		w.touchedServices = make([]uint32, 0, n)
	}
}

// publish moves the batch's tallies into the shared counters: a few atomic
// stores per batch instead of several per packet.
func (w *Worker) publish() {
	w.tally.publish(w.Stats)
	w.Stats.publishTable(w.conns.Stats())
	for _, id := range w.touchedReals {
		if rs := w.table.realState(id); rs != nil {
			w.realTally[id].drainInto(&rs.Stats[w.ID].Traffic)
		}
	}
	w.touchedReals = w.touchedReals[:0]
	for _, id := range w.touchedServices {
		if ss := w.table.serviceState(id); ss != nil {
			w.serviceTally[id].drainInto(&ss.Stats[w.ID].Traffic)
		}
	}
	w.touchedServices = w.touchedServices[:0]
}

// realTallyOf returns the batch tally of a real server, noting it for
// publish.
func (w *Worker) realTallyOf(id uint32) *trafficTally {
	tt := &w.realTally[id]
	if !tt.touched {
		tt.touched = true
		w.touchedReals = append(w.touchedReals, id)
	}
	return tt
}

// serviceTallyOf returns the batch tally of a service, noting it for publish.
func (w *Worker) serviceTallyOf(id uint32) *trafficTally {
	tt := &w.serviceTally[id]
	if !tt.touched {
		tt.touched = true
		w.touchedServices = append(w.touchedServices, id)
	}
	return tt
}

// poll runs one batch and reports how many frames it handled.
func (w *Worker) poll() int {
	w.beginBatch(xsk.MonotonicNanos())
	if w.table == nil {
		return 0
	}
	w.applySync()
	handled := w.drainInboxes()
	for port := range w.ports {
		sock := w.ports[port].sock
		n := sock.Receive(w.rx)
		for i := 0; i < n; i++ {
			d := w.rx[i]
			base := sock.FrameBase(d.Addr)
			w.batch[i].receive(sock.Buffer(base), int(d.Addr-base), int(d.Len), port)
		}
		w.lookupBatch(n)
		for i := 0; i < n; i++ {
			pkt := &w.batch[i]
			w.count(CountRxPackets)
			w.tally.counts[CountRxBytes] += uint64(pkt.size)
			base := sock.FrameBase(w.rx[i].Addr)
			v := verdict{action: actionDrop}
			if !tagged(pkt) || w.arriveTagged(pkt) { // vlan.go
				ref, dir := w.conns.Resolve(&w.lookups, i, &w.batchKeys[i])
				v = w.process(pkt, w.batchResults[i], ref, dir, true)
			}
			switch v.action {
			case actionTransmit:
				w.sendExtra()
				w.queueTransmit(pkt, port, v.port, base)
			case actionHandoff:
				w.handoff(v.owner, pkt)
				sock.Free(base)
			default:
				sock.Free(base)
			}
		}
		handled += n
		w.Stats.Batches[batchBucket(n)].add(1)
	}
	w.flushTransmit()
	w.conns.Expire(w.now, expireBudget, w.expireFn)
	w.expireHeldFragments()
	w.publish()
	for port := range w.ports {
		w.ports[port].sock.Refill()
	}
	return handled
}

// A receive batch fits one conntrack.Batch.
var _ [conntrack.BatchMax - batchSize]struct{}

// lookupBatch parses the first n packets of the batch and starts the lookup
// of all their connections at once; each is resolved just before its packet
// is processed.
func (w *Worker) lookupBatch(n int) {
	for i := 0; i < n; i++ {
		pkt := &w.batch[i]
		w.batchResults[i] = pkt.hdr.Parse(pkt.frame())
		p, k := &pkt.hdr, &w.batchKeys[i]
		// Word copies: Parse has just written the addresses (header.CopyAddr).
		header.CopyAddr(&k.Src, &p.Src)
		header.CopyAddr(&k.Dst, &p.Dst)
		k.SrcPort, k.DstPort, k.Proto = p.SrcPort, p.DstPort, p.Proto
	}
	w.conns.Prepare(&w.lookups, w.batchKeys[:n])
}

func batchBucket(n int) int {
	for i, b := range BatchBuckets {
		if n <= b {
			return i
		}
	}
	return len(BatchBuckets)
}

// queueTransmit sends a processed packet held in the UMEM frame at base of
// socket port rxSocket: in place when the outgoing socket shares that UMEM
// and the tag can be set there, else copied into a frame of the outgoing
// socket.
func (w *Worker) queueTransmit(pkt *packet, rxSocket, outPort int, base uint64) {
	if out, ok := w.sendsInPlace(pkt, rxSocket, outPort); ok {
		w.queueDesc(out, xsk.Desc{Addr: base + uint64(pkt.off), Len: uint32(pkt.size)})
		return
	}
	w.transmitCopy(outPort, pkt.frame())
	w.ports[rxSocket].sock.Free(base)
}

// transmitCopy sends a copy of frame on a port, with the port's tag.
func (w *Worker) transmitCopy(outPort int, frame []byte) {
	socket, tpid, vlan := w.hop.Link(outPort)
	out := &w.ports[socket]
	a, ok := out.sock.Alloc()
	if !ok {
		w.drop(DropNoFreeFrame)
		return
	}
	n := copyRetagged(out.sock.Buffer(a), frame, tpid, vlan)
	if n == 0 {
		out.sock.Free(a)
		w.drop(DropFrameTooLarge)
		return
	}
	w.queueDesc(socket, xsk.Desc{Addr: a, Len: uint32(n)})
}

// queueDesc adds a frame to a socket's transmit batch. A batch already full
// (every port's frames can converge on one) goes to the kernel first, so
// the batch never grows.
func (w *Worker) queueDesc(socket int, d xsk.Desc) {
	p := &w.ports[socket]
	if len(p.tx) == cap(p.tx) {
		w.flushPort(socket)
	}
	p.tx = append(p.tx, d)
}

func (w *Worker) flushTransmit() {
	for port := range w.ports {
		w.flushPort(port)
	}
}

// flushPort puts a socket's transmit batch on its TX ring and kicks it.
func (w *Worker) flushPort(socket int) {
	p := &w.ports[socket]
	if len(p.tx) == 0 {
		return
	}
	sent := p.sock.Transmit(p.tx)
	for _, d := range p.tx[sent:] {
		p.sock.Free(d.Addr)
		w.drop(DropTxRingFull)
	}
	for _, d := range p.tx[:sent] {
		w.tally.counts[CountTxBytes] += uint64(d.Len)
	}
	w.tally.counts[CountTxPackets] += uint64(sent)
	p.tx = p.tx[:0]
	p.sock.Kick()
}

// handoff copies a packet into the owning worker's inbox.
func (w *Worker) handoff(owner int, pkt *packet) {
	slot := w.outbox[owner].Reserve()
	if slot == nil {
		w.drop(DropHandoffRingFull)
		return
	}
	if pkt.size > handoffFrameMax {
		w.drop(DropFrameTooLarge)
		return
	}
	slot.length = copy(slot.buf[handoffHeadroom:], pkt.frame())
	slot.port = pkt.inPort
	slot.tries, slot.hops = pkt.tries, pkt.hops+1
	slot.hasNote = false
	w.outbox[owner].Commit()
	w.count(CountHandoffOut)
}

// drainInboxes processes frames other workers handed to us. They are ours
// by construction, so they never bounce again.
func (w *Worker) drainInboxes() int {
	handled := 0
	for _, in := range w.inbox {
		for n := 0; n < batchSize; n++ {
			slot := in.Peek()
			if slot == nil {
				break
			}
			if slot.hasNote {
				w.learnFragments(&slot.note.key, &slot.note.decision)
				in.Release()
				continue
			}
			pkt := &packet{buf: slot.buf[:], off: handoffHeadroom, size: slot.length, inPort: slot.port,
				tries: slot.tries, hops: slot.hops}
			v := w.process(pkt, pkt.hdr.Parse(pkt.frame()), 0, 0, false)
			switch v.action {
			case actionTransmit:
				w.sendExtra()
				w.transmitCopy(v.port, pkt.frame())
			case actionHandoff: // the next owner candidate, or the table changed under us
				w.handoff(v.owner, pkt)
			}
			in.Release()
			w.count(CountHandoffIn)
			handled++
		}
	}
	return handled
}

// onExpire gives back a finished connection's share of its real server's
// load.
func (w *Worker) onExpire(_ conntrack.Ref, c *conntrack.Conn) {
	w.releasePending(c)
	if rs := w.table.realState(c.RealID); rs != nil {
		rs.Load.ConnEnded(c.State.Active())
	}
}

// onEvicted gives back what an embryonic connection held when a full table
// evicts it to make room for a new one (conntrack/pressure.go).
func (w *Worker) onEvicted(ref conntrack.Ref, c *conntrack.Conn) {
	w.onExpire(ref, c)
}

// serveRequest runs a pending control-plane request, if any.
func (w *Worker) serveRequest() {
	if r := w.requests.Swap(nil); r != nil {
		r.fn(w.conns)
		close(r.done)
	}
}

// RoutineWorker polls until stop is set, yielding the core and then
// sleeping in poll(2) when idle (idle.go).
func (w *Worker) RoutineWorker(stop *atomic.Bool) {
	emptyPolls := 0
	for !stop.Load() {
		w.serveRequest()
		if w.poll() > 0 {
			w.Stats.Counts[CountBusyPolls].add(1)
			emptyPolls = 0
			w.yieldIfHogging(w.now)
			continue
		}
		w.Stats.Counts[CountIdlePolls].add(1)
		emptyPolls++
		w.idle(emptyPolls)
	}
}
