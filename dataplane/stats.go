package dataplane

import (
	"sync/atomic"

	"fastlvs/conntrack"
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
	DropHandoffLoop         // handed between workers too often (tables changing under it)
	DropDRRealNotOnLink     // DR: the real server is reached through a gateway, which would route the VIP back
	DropSpoofedReply        // a reply to a NAT/FULLNAT connection not from its real server\'s port (and MAC, on-link)
	DropSpoofedSource       // a new connection from a VIP or a FULLNAT local address
	// SYN proxy (synproxy.go).
	DropSynproxyNoRoom          // the frame's buffer cannot hold the answer
	DropSynproxyNoHandshake     // a segment without a connection that is neither a SYN nor an ACK
	DropSynproxyACKThrottled    // more cookie checks than proxyACKRate allows
	DropSynproxyInvalidCookie   // an ACK whose cookie does not validate
	DropSynproxyPendingFull     // every pending-handshake slot is in use
	DropSynproxyDuplicateSYN    // a client SYN while the server handshake is pending
	DropSynproxyPendingACK      // a bare client ACK while the server handshake is pending (the director's ACK stands for it)
	DropSynproxyHeldFull        // no room to hold a client segment until the server answers
	DropSynproxyClientReset     // the client reset the connection before the server answered
	DropSynproxyServerReset     // the real server refused the connection
	DropSynproxyBadServerAnswer // the server's answer does not acknowledge the director's SYN
	DropFragmentHeldFull        // a fragment before its first found no slot to wait in (fragment.go)
	DropFragmentTimeout         // a held fragment's first fragment never came
	DropICMPUnhandled           // an ICMP type the director neither answers nor translates, or echo to no VIP
	DropICMPBadQuote            // an ICMP error whose quote names no TCP/UDP packet
	DropICMPNoConn              // an ICMP error about no known connection
	DropTTLExceeded             // a NAT/FULLNAT packet arrived with TTL / hop limit 1 or less
	DropEgressTooLarge          // a NAT/FULLNAT packet for the real server over the egress port's MTU
	// Client address for FULLNAT real servers (clientaddr.go).
	DropClientAddrNoRoom // the client's first data segment cannot grow by the PROXY header (frame or egress MTU)
	NumDrops
)

var dropNames = [NumDrops]string{
	DropParseTooShort:           "too_short",
	DropParseNotIP:              "not_ip",
	DropParseBadIPv4:            "bad_ipv4",
	DropParseBadIPv6:            "bad_ipv6",
	DropParseFragment:           "fragment",
	DropParseBadTCP:             "bad_tcp",
	DropParseBadUDP:             "bad_udp",
	DropParseBadICMP:            "bad_icmp",
	DropParseUnsupportedL4:      "unsupported_l4",
	DropTCPNotSYN:               "tcp_not_syn",
	DropNoRealServer:            "no_real_server",
	DropConnTableFull:           "conn_table_full",
	DropConnClash:               "conn_clash",
	DropLocalPortsExhausted:     "local_ports_exhausted",
	DropEncapTooLarge:           "encap_too_large",
	DropReplyNoConn:             "reply_no_conn",
	DropRealServerRemoved:       "real_server_removed",
	DropNeighborUnresolved:      "neighbor_unresolved",
	DropNoRoute:                 "no_route",
	DropTxRingFull:              "tx_ring_full",
	DropNoFreeFrame:             "no_free_frame",
	DropHandoffRingFull:         "handoff_ring_full",
	DropUnsupportedMethod:       "unsupported_method",
	DropFrameTooLarge:           "frame_too_large",
	DropHandoffLoop:             "handoff_loop",
	DropDRRealNotOnLink:         "dr_real_not_on_link",
	DropSpoofedReply:            "spoofed_reply",
	DropSpoofedSource:           "spoofed_source",
	DropSynproxyNoRoom:          "synproxy_no_room",
	DropSynproxyNoHandshake:     "synproxy_no_handshake",
	DropSynproxyACKThrottled:    "synproxy_ack_throttled",
	DropSynproxyInvalidCookie:   "synproxy_invalid_cookie",
	DropSynproxyPendingFull:     "synproxy_pending_full",
	DropSynproxyDuplicateSYN:    "synproxy_duplicate_syn",
	DropSynproxyPendingACK:      "synproxy_pending_ack",
	DropSynproxyHeldFull:        "synproxy_held_full",
	DropSynproxyClientReset:     "synproxy_client_reset",
	DropSynproxyServerReset:     "synproxy_server_reset",
	DropSynproxyBadServerAnswer: "synproxy_bad_server_answer",
	DropFragmentHeldFull:        "fragment_held_full",
	DropFragmentTimeout:         "fragment_timeout",
	DropICMPUnhandled:           "icmp_unhandled",
	DropICMPBadQuote:            "icmp_bad_quote",
	DropICMPNoConn:              "icmp_no_conn",
	DropTTLExceeded:             "ttl_exceeded",
	DropEgressTooLarge:          "egress_too_large",
	DropClientAddrNoRoom:        "client_address_no_room",
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

// Count names one of a worker's event counters (drops have their own enum,
// Drop). Stats, metrics and the demo all read them through counterInfo, the
// one list of their names.
type Count uint8

const (
	CountRxPackets Count = iota
	CountRxBytes
	CountTxPackets
	CountTxBytes
	CountHandoffOut
	CountHandoffIn
	CountBusyPolls // polls that found work
	CountIdlePolls // polls that found none
	CountNewConns
	CountEvictions // old connections replaced by a new one with the same reply tuple
	// CountRescheduled counts connections ended because a packet on their
	// tuple starts a new one (reuse.go).
	CountRescheduled
	// CountFragNeededSent counts ICMP "fragmentation needed" answers to
	// tunnel packets over the MTU (each such packet is also a drop,
	// encap_too_large).
	CountFragNeededSent
	// CountLearnedHops counts packets sent to a next hop learned from a
	// client's own packet because the kernel's neighbour entry was not in the
	// snapshot yet.
	CountLearnedHops
	// Connection sync: records published for the peer, records lost to a
	// full ring, the peer's records applied, and the peer's records refused
	// (a bad field, an unknown service or real server, a FULLNAT local port
	// not this worker's or already held).
	CountSyncPublished
	CountSyncOutFull
	CountSyncApplied
	CountSyncUnknown
	// The connection table's defences (conntrack/pressure.go): embryonic
	// connections evicted from a full table to make room, and timers armed
	// with the short timeout under pressure.
	CountEmbryonicEvicted
	CountPressureShortened
	// SYN proxy (synproxy.go): cookie SYN/ACKs sent, cookie ACKs that
	// validated (each opens a connection), handshakes completed with real
	// servers, client segments held meanwhile and replayed after.
	CountSynCookiesSent
	CountSynCookiesValid
	CountSynproxyEstablished
	CountSynproxyHeld
	CountSynproxyReplayed
	// Fragments (fragment.go): later fragments sent by their first
	// fragment's decision, fragments held until it came, decisions not
	// recorded because the table was full or the fragment owner's inbox was.
	CountFragmentsForwarded
	CountFragmentsHeld
	CountFragTableFull
	CountFragDecisionsLost
	// ICMP (icmp.go, icmpanswer.go): errors about a connection translated
	// and sent on, echo requests to a VIP answered, time exceeded sent.
	CountICMPErrorsTranslated
	CountEchoReplies
	CountTimeExceededSent
	// CountTunnelFragmented counts IPv4 packets without DF too large for the
	// tunnel, sent as two encapsulated fragments (tunnelsplit.go).
	CountTunnelFragmented
	// Client address for FULLNAT real servers (clientaddr.go).
	CountProxyHeaders       // PROXY protocol headers written in front of a connection's first data
	CountProxyHeadersResent // PROXY headers written again into a retransmitted first data segment
	CountTOAInserted        // TOA options added to a client's segment
	CountTOANoRoom          // client segments that went on without the TOA option: no room
	CountMSSClamped         // SYN/ACKs whose MSS was lowered to leave room for the client address
	// Worker priority (priority.go).
	CountForcedNaps        // a fifo worker busy for fifoBusyLimit napped to let NAPI run
	CountPriorityDemotions // the watchdog's (its only writer) demotions of a fifo worker that never blocked
	NumCounts
)

// CountInfo is how a Count is exported: the metric name after
// "fastlvs_worker_" and its help text.
type CountInfo struct{ Metric, Help string }

var counterInfo = [NumCounts]CountInfo{
	CountRxPackets:      {"rx_packets_total", "Frames the worker received from its AF_XDP sockets."},
	CountRxBytes:        {"rx_bytes_total", "Bytes of the frames the worker received, Ethernet header included."},
	CountTxPackets:      {"tx_packets_total", "Frames the worker put on its TX rings."},
	CountTxBytes:        {"tx_bytes_total", "Bytes of the frames the worker transmitted."},
	CountHandoffOut:     {"handoff_out_packets_total", "Frames this worker handed to the worker owning their connection."},
	CountHandoffIn:      {"handoff_in_packets_total", "Frames other workers handed to this one, the owner of their connection."},
	CountBusyPolls:      {"busy_polls_total", "Polls that found frames to handle."},
	CountIdlePolls:      {"idle_polls_total", "Polls that found nothing to do."},
	CountNewConns:       {"connections_created_total", "Connections the worker created."},
	CountEvictions:      {"connections_evicted_total", "Connections replaced by a new one whose replies carry the same tuple (a client reusing its port)."},
	CountRescheduled:    {"connections_rescheduled_total", "Connections ended because a new connection reused their tuple: a SYN after the old one closed, or towards a real server out of rotation."},
	CountFragNeededSent: {"frag_needed_sent_total", "ICMP fragmentation-needed and ICMPv6 packet-too-big answers to tunnel, NAT and FULLNAT packets over the egress MTU."},
	CountLearnedHops:    {"learned_next_hop_packets_total", "Replies sent to a next hop learned from the client's own packet, before the kernel's neighbour entry reached the snapshot."},
	CountSyncPublished:  {"sync_published_total", "Connections the worker published for the peer director."},
	CountSyncOutFull:    {"sync_out_full_total", "Connections not published for the peer: the worker's sync ring was full."},
	CountSyncApplied:    {"sync_applied_total", "The peer director's connections taken into this worker's table."},
	CountSyncUnknown:    {"sync_unknown_total", "The peer's connections refused: a bad field, a service or real server this director does not have, a FULLNAT local port not this worker's or held."},
	CountEmbryonicEvicted: {"conntrack_embryonic_evicted_total",
		"Connections that never completed a handshake (or were never answered) evicted from a full table to make room for a new one."},
	CountPressureShortened: {"conntrack_pressure_shortened_total",
		"Timers of embryonic connections armed with the short timeout while the table was above its high-water mark."},
	CountSynCookiesSent:      {"synproxy_cookies_sent_total", "SYN/ACKs with a syncookie sent for SYN-proxied services."},
	CountSynCookiesValid:     {"synproxy_cookies_valid_total", "Client ACKs whose cookie validated: connections the SYN proxy opened."},
	CountSynproxyEstablished: {"synproxy_established_total", "SYN-proxied connections whose real server completed the handshake."},
	CountSynproxyHeld:        {"synproxy_held_segments_total", "Client segments held while their connection's real server had not answered yet."},
	CountSynproxyReplayed:    {"synproxy_replayed_segments_total", "Held client segments sent on to the real server once it answered."},
	CountFragmentsForwarded:  {"fragments_forwarded_total", "Later fragments of a datagram sent the way its first fragment went."},
	CountFragmentsHeld:       {"fragments_held_total", "Later fragments that arrived before their first and were held until it came."},
	CountFragTableFull: {"fragment_table_full_total",
		"First fragments whose decision found no room in the fragment table: their later fragments are held and time out."},
	CountFragDecisionsLost: {"fragment_decisions_lost_total",
		"First fragments whose decision could not be handed to the worker following their later fragments (inbox full)."},
	CountICMPErrorsTranslated: {"icmp_errors_translated_total",
		"ICMP errors about a connection (unreachable, fragmentation needed, packet too big, time exceeded) translated and sent to its endpoint."},
	CountEchoReplies:        {"icmp_echo_replies_total", "Echo requests to a VIP the director answered."},
	CountTimeExceededSent:   {"icmp_time_exceeded_sent_total", "Time exceeded messages sent for NAT/FULLNAT packets that arrived with TTL 1."},
	CountTunnelFragmented:   {"tunnel_fragmented_total", "IPv4 packets without DF too large for the tunnel, sent as two encapsulated fragments."},
	CountProxyHeaders:       {"proxy_protocol_headers_total", "PROXY protocol headers written in front of a FULLNAT connection's first data bytes."},
	CountProxyHeadersResent: {"proxy_protocol_headers_resent_total", "PROXY protocol headers written again into a retransmission of a connection's first data segment before the real server acknowledged them."},
	CountTOAInserted:        {"toa_inserted_total", "TOA options (the client's address and port) added to FULLNAT client segments toward a real server."},
	CountTOANoRoom:          {"toa_no_room_total", "FULLNAT client segments sent on without the TOA option: their header or the egress MTU had no room for it."},
	CountMSSClamped:         {"client_address_mss_clamped_total", "Real servers' SYN/ACKs whose MSS was lowered so that the client's segments leave room for the PROXY header or TOA option."},
	CountForcedNaps:         {"forced_naps_total", "Naps a worker under worker_priority fifo took after running 2 ms without blocking, so NAPI and the control plane run."},
	CountPriorityDemotions:  {"priority_demotions_total", "Times the watchdog moved a fifo worker that had not blocked for 250 ms back to the normal policy (until restart)."},
}

// Info says how the count is exported.
func (c Count) Info() CountInfo { return counterInfo[c] }

// String is the count's metric name.
func (c Count) String() string { return counterInfo[c].Metric }

// WorkerStats are one worker's counters, padded so that two workers never
// write the same cache line.
type WorkerStats struct {
	_       [64]byte
	Counts  [NumCounts]counter
	Drops   [NumDrops]counter
	Batches [len(BatchBuckets) + 1]counter
	Conns   counter // connections in the table now (a gauge, stored)
	// UnderPressure is 1 while the table is above its high-water mark.
	UnderPressure counter
	_             [64]byte
}

// publishTable stores what the connection table counts itself.
func (s *WorkerStats) publishTable(st conntrack.Stats) {
	s.Conns.v.Store(uint64(st.Conns))
	s.Counts[CountEmbryonicEvicted].v.Store(st.EvictedEmbryonic)
	s.Counts[CountPressureShortened].v.Store(st.PressureShortened)
	var under uint64
	if st.UnderPressure {
		under = 1
	}
	s.UnderPressure.v.Store(under)
}

// Count reads one counter.
func (s *WorkerStats) Count(c Count) uint64 { return s.Counts[c].Load() }

// workerTally is what a worker counts per packet, in plain fields that only
// it touches; publish moves it into the shared WorkerStats after each batch.
type workerTally struct {
	counts [NumCounts]uint64
	drops  [NumDrops]uint64
}

// publish moves the tally into s and zeroes it.
func (t *workerTally) publish(s *WorkerStats) {
	for c := range t.counts {
		s.Counts[c].drain(&t.counts[c])
	}
	for d := range t.drops {
		s.Drops[d].drain(&t.drops[d])
	}
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
