package dataplane

import (
	"sync/atomic"

	"fastlvs/header"
)

// counter is written by exactly one worker and read by the control plane.
// An atomic store is a locked XCHG on amd64 (Go's atomics are sequentially
// consistent), so workers count packets in plain tallies and add them here
// once per batch (publish), never per packet.
type counter struct{ v atomic.Uint64 }

func (c *counter) add(n uint64) { c.v.Store(c.v.Load() + n) }

// drain adds a tally to the counter and zeroes the tally.
func (c *counter) drain(tally *uint64) {
	if *tally != 0 {
		c.add(*tally)
		*tally = 0
	}
}

// Load reads the counter.
func (c *counter) Load() uint64 { return c.v.Load() }

// Drop names why a packet was dropped; every drop has one.
type Drop uint8

const (
	DropParseTooShort Drop = iota
	DropParseNotIP
	DropParseBadIPv4
	DropParseBadIPv6
	DropParseFragment
	DropParseBadTCP
	DropParseBadUDP
	DropParseBadICMP
	DropParseUnsupportedL4
	DropNoService           // steered to us but matches no service (table changed)
	DropTCPNotSYN           // no connection and not a SYN: IPVS creates TCP conns on SYN only
	DropNoRealServer        // the scheduler found no available real server
	DropConnTableFull       // new connection refused: the worker's table is full
	DropConnClash           // new connection's tuples clash with a live one that cannot be evicted
	DropLocalPortsExhausted // FULLNAT: no free local address:port on this worker
	DropEncapTooLarge       // tunnel: the encapsulated frame would not fit
	DropReplyNoConn         // a reply from a real server for no known connection
	DropRealServerRemoved   // the connection's real server is gone (expire_nodest_conn or drain timeout)
	DropNeighborUnresolved  // next hop's MAC not known yet (resolution requested)
	DropNoRoute             // no route leaves by one of our interfaces
	DropTxRingFull          // the TX ring had no room
	DropNoFreeFrame         // no UMEM frame to copy into (other port or handoff)
	DropHandoffRingFull     // the owning worker's inbox was full
	DropUnsupportedMethod   // a forwarding method this build does not implement
	DropFrameTooLarge       // a handed-off frame does not fit a slot
	NumDrops
)

var dropNames = [NumDrops]string{
	DropParseTooShort:       "too_short",
	DropParseNotIP:          "not_ip",
	DropParseBadIPv4:        "bad_ipv4",
	DropParseBadIPv6:        "bad_ipv6",
	DropParseFragment:       "fragment",
	DropParseBadTCP:         "bad_tcp",
	DropParseBadUDP:         "bad_udp",
	DropParseBadICMP:        "bad_icmp",
	DropParseUnsupportedL4:  "unsupported_l4",
	DropNoService:           "no_service",
	DropTCPNotSYN:           "tcp_not_syn",
	DropNoRealServer:        "no_real_server",
	DropConnTableFull:       "conn_table_full",
	DropConnClash:           "conn_clash",
	DropLocalPortsExhausted: "local_ports_exhausted",
	DropEncapTooLarge:       "encap_too_large",
	DropReplyNoConn:         "reply_no_conn",
	DropRealServerRemoved:   "real_server_removed",
	DropNeighborUnresolved:  "neighbor_unresolved",
	DropNoRoute:             "no_route",
	DropTxRingFull:          "tx_ring_full",
	DropNoFreeFrame:         "no_free_frame",
	DropHandoffRingFull:     "handoff_ring_full",
	DropUnsupportedMethod:   "unsupported_method",
	DropFrameTooLarge:       "frame_too_large",
}

func (d Drop) String() string { return dropNames[d] }

// dropOfParse maps a parser verdict to its drop counter.
var dropOfParse = [header.NumParseResults]Drop{
	header.ParseTooShort:      DropParseTooShort,
	header.ParseNotIP:         DropParseNotIP,
	header.ParseBadIPv4:       DropParseBadIPv4,
	header.ParseBadIPv6:       DropParseBadIPv6,
	header.ParseFragment:      DropParseFragment,
	header.ParseBadTCP:        DropParseBadTCP,
	header.ParseBadUDP:        DropParseBadUDP,
	header.ParseBadICMP:       DropParseBadICMP,
	header.ParseUnsupportedL4: DropParseUnsupportedL4,
}

// BatchBuckets are the upper bounds of the batch-size histogram.
var BatchBuckets = [...]int{1, 2, 4, 8, 16, 32, 64, 128, 256}

// WorkerStats are one worker's counters, padded so that two workers never
// write the same cache line.
type WorkerStats struct {
	_          [64]byte
	RxPackets  counter
	RxBytes    counter
	TxPackets  counter
	TxBytes    counter
	HandoffOut counter
	HandoffIn  counter
	BusyPolls  counter // polls that found work
	IdlePolls  counter // polls that found none
	NewConns   counter
	Evictions  counter // old connections replaced by a new one with the same reply tuple
	// FragNeededSent counts ICMP "fragmentation needed" answers to tunnel
	// packets over the MTU (each such packet is also a drop, encap_too_large).
	FragNeededSent counter
	// LearnedHops counts packets sent to a next hop learned from a client's
	// own packet because the kernel's neighbour entry was not in the
	// snapshot yet.
	LearnedHops counter
	// Connection sync: records published for the peer, records lost to a
	// full ring, the peer's records applied, and the peer's records refused
	// (a bad field, an unknown service or real server, a FULLNAT local port
	// not this worker's or already held).
	SyncPublished, SyncOutFull, SyncApplied, SyncUnknown counter
	Conns                                                counter // connections in the table now (a gauge, stored)
	Drops                                                [NumDrops]counter
	Batches                                              [len(BatchBuckets) + 1]counter
	_                                                    [64]byte
}

// workerTally is what a worker counts per packet, in plain fields that only
// it touches; publish moves it into the shared WorkerStats after each batch.
type workerTally struct {
	rxPackets, rxBytes, txPackets, txBytes     uint64
	handoffOut, handoffIn, newConns, evictions uint64
	fragNeededSent, learnedHops                uint64
	syncPublished, syncOutFull, syncApplied    uint64
	syncUnknown                                uint64
	drops                                      [NumDrops]uint64
}

// trafficTally is a worker's not yet published Traffic of one service or
// real server.
type trafficTally struct {
	conns, inPackets, outPackets, inBytes, outBytes uint64
	touched                                         bool
}

// drainInto publishes the tally into t.
func (tt *trafficTally) drainInto(t *Traffic) {
	t.Conns.drain(&tt.conns)
	t.InPackets.drain(&tt.inPackets)
	t.OutPackets.drain(&tt.outPackets)
	t.InBytes.drain(&tt.inBytes)
	t.OutBytes.drain(&tt.outBytes)
	tt.touched = false
}

// count adds one packet in direction in (client to server) or out.
func (tt *trafficTally) count(in bool, length int) {
	if in {
		tt.inPackets++
		tt.inBytes += uint64(length)
	} else {
		tt.outPackets++
		tt.outBytes += uint64(length)
	}
}

// Traffic counts one service's or real server's traffic on one worker, like
// the columns of ipvsadm --stats.
type Traffic struct {
	Conns      counter
	InPackets  counter
	OutPackets counter
	InBytes    counter
	OutBytes   counter
}

// PaddedTraffic keeps each worker's Traffic on its own cache lines.
type PaddedTraffic struct {
	Traffic
	_ [64 - 40%64]byte
}

// TrafficTotals is Traffic summed over workers.
type TrafficTotals struct {
	Conns, InPackets, OutPackets, InBytes, OutBytes uint64
}

// Sum adds up per-worker traffic counters.
func Sum(per []PaddedTraffic) TrafficTotals {
	var t TrafficTotals
	for i := range per {
		p := &per[i]
		t.Conns += p.Conns.Load()
		t.InPackets += p.InPackets.Load()
		t.OutPackets += p.OutPackets.Load()
		t.InBytes += p.InBytes.Load()
		t.OutBytes += p.OutBytes.Load()
	}
	return t
}

// Zero resets per-worker traffic counters (ipvsadm -Z). A worker adding at
// the same instant may lose that one increment: acceptable for statistics.
func Zero(per []PaddedTraffic) {
	for i := range per {
		p := &per[i]
		for _, c := range []*counter{&p.Conns, &p.InPackets, &p.OutPackets, &p.InBytes, &p.OutBytes} {
			c.v.Store(0)
		}
	}
}
