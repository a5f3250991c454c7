package dataplane

import (
	"fastlvs/conntrack"
	"fastlvs/header"
	"fastlvs/seqadj"
	"fastlvs/synproxy"
)

// SYN proxy (synproxy: true on a NAT or FULLNAT TCP service), the worker's
// side of package synproxy:
//
//  1. A SYN without a connection is answered with a cookie SYN/ACK built in
//     its own frame; nothing is stored, so a SYN flood fills no table and
//     never reaches a real server.
//  2. An ACK without a connection is checked against the cookie it
//     acknowledges (at most proxyACKRate checks a second per worker). A valid
//     one schedules a real server, creates the connection "in proxy
//     handshake" and its frame becomes the director's SYN to that server; a
//     data segment is held first.
//  3. Client segments that arrive while the server has not answered are held
//     (proxyHeldPerConn per connection, from a per-worker pool).
//  4. The server's SYN/ACK fixes the connection's sequence adjustment
//     (seqadj.Adjust, packed into Conn.Seq) and becomes the ACK back to the
//     server; the held segments are replayed behind it.
//  5. Every later segment is adjusted after its address rewrite.
//
// While the handshake is pending, Conn.Seq holds the index of the
// connection's pending slot instead of an Adjust.

const (
	proxyPendingSlots  = 1024 // handshakes with real servers in flight, per worker
	proxyHeldFrames    = 1024 // client segments held meanwhile, per worker
	proxyHeldPerConn   = 3
	proxyHeldFrameSize = 2048
	// An ACK storm of forged cookies costs at most proxyACKRate cookie
	// checks a second per worker (burst proxyACKBurst); the rest drop.
	proxyACKRate  = 1_000_000
	proxyACKBurst = 4096
)

// Conn.Flags bits the dataplane sets.
const (
	connProxyPending uint8 = 1 << iota // the SYN proxy's handshake with the real server is in flight
	connSeqAdjusted                    // Conn.Seq holds a seqadj.Adjust for every packet
)

// The record's spare bytes must hold a packed Adjust.
var _ = [1]struct{}{}[conntrack.SeqSize-seqadj.PackedSize]

// defaultProxyConfig is what a SYN-proxied service answers with.
var defaultProxyConfig = synproxy.Config{MSS: 1460, Window: 65535, TTL: 64}

// proxyState is one worker's SYN-proxy state.
type proxyState struct {
	secrets *synproxy.Secrets // this batch's cookie secrets
	now     synproxy.Now

	pending     []proxyPending
	freePending []uint16
	held        []heldFrame
	freeHeld    []int16

	tokens, lastRefill int64 // the ACK-check token bucket
	replay             header.Packet
}

// proxyPending is a connection whose real server has not answered yet.
type proxyPending struct {
	hs    synproxy.Handshake
	held  [proxyHeldPerConn]int16 // indexes into held
	nheld uint8
}

// heldFrame is a client segment waiting for its connection's handshake.
type heldFrame struct {
	size int
	buf  [proxyHeldFrameSize]byte
}

// syncProxy sizes the pools the first time a table has a SYN-proxied
// service (once per table change, never per packet) and loads the batch's
// cookie secrets and clock.
func (w *Worker) syncProxy(now int64) {
	ps := &w.proxy
	ps.secrets = w.table.cookies.Load()
	ps.now = synproxy.NowAt(now)
	if ps.pending != nil || !w.table.hasSynProxy {
		return
	}
	ps.pending = make([]proxyPending, proxyPendingSlots)
	for i := proxyPendingSlots - 1; i >= 0; i-- {
		ps.freePending = append(ps.freePending, uint16(i))
	}
	ps.held = make([]heldFrame, proxyHeldFrames)
	for i := proxyHeldFrames - 1; i >= 0; i-- {
		ps.freeHeld = append(ps.freeHeld, int16(i))
	}
	ps.tokens, ps.lastRefill = proxyACKBurst, now
}

// takeToken spends one cookie check, if the bucket has one.
func (ps *proxyState) takeToken(now int64) bool {
	if elapsed := now - ps.lastRefill; elapsed > 0 {
		// A second refills any bucket; capping elapsed there keeps elapsed*proxyACKRate from overflowing after
		// hours without an ACK, which once left the bucket negative for good.
		ps.tokens = min(proxyACKBurst, ps.tokens+min(elapsed, 1e9)*proxyACKRate/1e9)
		ps.lastRefill = now
	}
	if ps.tokens <= 0 {
		return false
	}
	ps.tokens--
	return true
}

// proxyConfig is the SYN-proxy configuration of c's service.
func (w *Worker) proxyConfig(c *conntrack.Conn) *synproxy.Config {
	if r := w.table.real(c.RealID); r != nil {
		return &r.Service.proxyConfig
	}
	return &defaultProxyConfig
}

// proxyNew handles a packet of a SYN-proxied service that has no
// connection: steps 1 and 2.
func (w *Worker) proxyNew(pkt *packet, svc *Service, tuple *conntrack.Tuple) verdict {
	p, ps := &pkt.hdr, &w.proxy
	const handshakeFlags = header.TCPFlagSyn | header.TCPFlagAck | header.TCPFlagRst | header.TCPFlagFin
	if p.TCPFlags&handshakeFlags == header.TCPFlagSyn {
		n, r := synproxy.AnswerSYN(p, ps.secrets, ps.now, &svc.proxyConfig)
		if r != synproxy.OK {
			return w.drop(DropSynproxyNoRoom)
		}
		pkt.setFrame(pkt.off, n)
		w.count(CountSynCookiesSent)
		return transmitOn(pkt.inPort)
	}
	if p.TCPFlags&(header.TCPFlagSyn|header.TCPFlagRst|header.TCPFlagAck) != header.TCPFlagAck {
		return w.drop(DropSynproxyNoHandshake)
	}
	if !ps.takeToken(w.now) {
		return w.drop(DropSynproxyACKThrottled)
	}
	hs, r := synproxy.CheckACK(p, ps.secrets, ps.now)
	if r != synproxy.OK {
		return w.drop(DropSynproxyInvalidCookie)
	}
	if len(ps.freePending) == 0 {
		return w.drop(DropSynproxyPendingFull)
	}
	ref, drop := w.newConn(svc, p, tuple)
	if ref == 0 {
		return w.drop(drop)
	}
	w.count(CountSynCookiesValid)
	w.learnSource(pkt)
	slot := ps.freePending[len(ps.freePending)-1]
	ps.freePending = ps.freePending[:len(ps.freePending)-1]
	pend := &ps.pending[slot]
	*pend = proxyPending{hs: hs}
	c := w.conns.Conn(ref)
	c.Flags |= connProxyPending
	c.Seq[0], c.Seq[1] = byte(slot), byte(slot>>8)
	w.track(ref, conntrack.DirIn, header.TCPFlagSyn) // the director's SYN: SYN_RECV
	if tcpPayloadLen(p) > 0 {
		w.holdSegment(pend, pkt)
	}
	return w.sendServerSYN(c, pend, pkt)
}

// sendServerSYN turns the packet's frame into the director's SYN to c's
// real server.
func (w *Worker) sendServerSYN(c *conntrack.Conn, pend *proxyPending, pkt *packet) verdict {
	path, drop := w.pathToReal(c)
	if path == nil {
		return w.drop(drop)
	}
	sp := synproxy.ServerPath{SrcMAC: path.hop.SrcMAC, DstMAC: path.hop.DstMAC,
		Src: c.Client, SrcPort: c.ClientPort, Dst: c.Real, DstPort: c.RealPort}
	if Method(c.Forward) == MethodFullNAT {
		sp.Src, sp.SrcPort = c.Local, c.LocalPort
	}
	n := synproxy.BuildServerSYN(pkt.buf[pkt.off:], &pend.hs, &sp, w.proxyConfig(c))
	if n == 0 {
		return w.drop(DropSynproxyNoRoom)
	}
	pkt.setFrame(pkt.off, n)
	return transmitOn(path.hop.Port)
}

// pendingOf is the pending slot of a connection in proxy handshake.
func (ps *proxyState) pendingOf(c *conntrack.Conn) (*proxyPending, uint16) {
	slot := uint16(c.Seq[0]) | uint16(c.Seq[1])<<8
	return &ps.pending[slot%proxyPendingSlots], slot % proxyPendingSlots
}

// proxyPendingPacket handles a packet of a connection in proxy handshake:
// steps 3 and 4.
func (w *Worker) proxyPendingPacket(pkt *packet, ref conntrack.Ref, c *conntrack.Conn, dir conntrack.Dir) verdict {
	p, ps := &pkt.hdr, &w.proxy
	pend, _ := ps.pendingOf(c)
	if dir == conntrack.DirIn {
		switch {
		case p.TCPFlags&header.TCPFlagRst != 0:
			w.expireConn(ref)
			return w.drop(DropSynproxyClientReset)
		case p.TCPFlags&header.TCPFlagSyn != 0:
			return w.drop(DropSynproxyDuplicateSYN)
		case tcpPayloadLen(p) == 0 && p.TCPFlags&header.TCPFlagFin == 0:
			return w.drop(DropSynproxyPendingACK) // the director's ACK to the server stands for it
		case !w.holdSegment(pend, pkt):
			return w.drop(DropSynproxyHeldFull)
		}
		return verdict{action: actionHold}
	}
	if p.TCPFlags&header.TCPFlagRst != 0 {
		w.expireConn(ref)
		return w.drop(DropSynproxyServerReset)
	}
	cfg := w.proxyConfig(c)
	adj, n, r := synproxy.ServerSYNACK(p, &pend.hs, cfg)
	if r != synproxy.OK {
		return w.drop(DropSynproxyBadServerAnswer)
	}
	w.track(ref, conntrack.DirOut, header.TCPFlagSyn|header.TCPFlagAck)
	w.track(ref, conntrack.DirIn, header.TCPFlagAck)
	c.Flags |= connSeqAdjusted // replayHeld adjusts as every later segment
	w.replayHeld(c, pend, &adj)
	w.releasePending(c) // before Seq, which names the slot, takes the Adjust
	adj.Pack(&c.Seq)
	w.publishSync(c)         // with its Adjust, which the peer needs
	pkt.setFrame(pkt.off, n) // the ACK to the server, back out of the port it came in on
	w.count(CountSynproxyEstablished)
	return transmitOn(pkt.inPort)
}

// holdSegment copies a client segment into the pool for replay.
func (w *Worker) holdSegment(pend *proxyPending, pkt *packet) bool {
	ps := &w.proxy
	if int(pend.nheld) == proxyHeldPerConn || len(ps.freeHeld) == 0 || pkt.size > proxyHeldFrameSize {
		return false
	}
	i := ps.freeHeld[len(ps.freeHeld)-1]
	ps.freeHeld = ps.freeHeld[:len(ps.freeHeld)-1]
	h := &ps.held[i]
	h.size = copy(h.buf[:], pkt.frame())
	pend.held[pend.nheld] = i
	pend.nheld++
	w.count(CountSynproxyHeld)
	return true
}

// replayHeld sends c's held client segments to its real server, rewritten
// and adjusted as every later segment is.
func (w *Worker) replayHeld(c *conntrack.Conn, pend *proxyPending, adj *seqadj.Adjust) {
	ps := &w.proxy
	for _, i := range pend.held[:pend.nheld] {
		h := &ps.held[i]
		frame := h.buf[:h.size]
		hp := &ps.replay
		if hp.Parse(frame) != header.ParseOK {
			continue
		}
		w.rewriteToReal(c, hp)
		adj.ToServer(hp.TCP())
		if c.Flags&connClientAddrPending != 0 {
			n := w.writeProxyHeaderHeld(c, h.buf[:], h.size, hp, adj)
			if n == 0 {
				continue
			}
			frame = h.buf[:n]
		}
		path, drop := w.pathToReal(c)
		if path == nil {
			w.drop(drop)
			continue
		}
		header.Ethernet(frame).SetDestinationAddress(path.hop.DstMAC)
		header.Ethernet(frame).SetSourceAddress(path.hop.SrcMAC)
		w.transmitCopy(path.hop.Port, frame)
		w.count(CountSynproxyReplayed)
	}
	ps.freeHeld = append(ps.freeHeld, pend.held[:pend.nheld]...)
	pend.nheld = 0
}

// releasePending frees a connection's pending slot and held segments (its
// handshake completed, or it ended first).
func (w *Worker) releasePending(c *conntrack.Conn) {
	if c.Flags&connProxyPending == 0 {
		return
	}
	ps := &w.proxy
	pend, slot := ps.pendingOf(c)
	ps.freeHeld = append(ps.freeHeld, pend.held[:pend.nheld]...)
	pend.nheld = 0
	ps.freePending = append(ps.freePending, slot)
	c.Flags &^= connProxyPending
}

// adjustSeq applies c's sequence adjustment to a segment already
// readdressed for its way (step 5).
func adjustSeq(c *conntrack.Conn, dir conntrack.Dir, p *header.Packet) {
	if c.Flags&connSeqAdjusted == 0 {
		return
	}
	adj := seqadj.Unpack(&c.Seq)
	if dir == conntrack.DirIn {
		adj.ToServer(p.TCP())
	} else {
		adj.ToClient(p.TCP())
	}
}

// tcpPayloadLen is how many data bytes a TCP segment carries.
func tcpPayloadLen(p *header.Packet) int {
	return p.L4Len - p.TCP().DataOffset()
}
