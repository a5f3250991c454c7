package control

// syncReplay refuses a datagram seen before, per sender, with a sliding
// window of the last 64 sequence numbers as IPsec's anti-replay does: newer
// numbers move the window, older ones within it are accepted once, older
// still are refused. Only authentic datagrams reach it, so senders cannot be
// invented by an attacker; at most syncMaxSenders are remembered (a peer
// gets a new sender id at each start).
//
// A sender id not seen before must start above the highest number accepted
// from any sender: sequence numbers start at the sender's wall clock, so a
// restarted peer does, and a captured datagram of a forgotten sender does
// not. What a restart of this receiver forgets, a replay could bring back
// once per datagram until the peer's next one; documented in OPERATIONS.md.
type syncReplay struct {
	senders map[uint32]*replayWindow
	highest uint64
}

const (
	replayWindowSize = 64
	syncMaxSenders   = 16
)

type replayWindow struct {
	top  uint64 // highest sequence number accepted
	seen uint64 // bit i: top-i accepted
}

// accept records seq of sender and reports whether it is new.
func (r *syncReplay) accept(sender uint32, seq uint64) bool {
	w := r.senders[sender]
	if w == nil {
		if seq <= r.highest {
			return false
		}
		if r.senders == nil {
			r.senders = map[uint32]*replayWindow{}
		}
		if len(r.senders) >= syncMaxSenders {
			r.forgetOldest()
		}
		w = &replayWindow{top: seq, seen: 1}
		r.senders[sender] = w
	} else if !w.accept(seq) {
		return false
	}
	r.highest = max(r.highest, seq)
	return true
}

func (r *syncReplay) forgetOldest() {
	var oldest uint32
	var top uint64 = 1<<64 - 1
	for id, w := range r.senders {
		if w.top < top {
			oldest, top = id, w.top
		}
	}
	delete(r.senders, oldest)
}

func (w *replayWindow) accept(seq uint64) bool {
	if seq > w.top {
		if shift := seq - w.top; shift >= replayWindowSize {
			w.seen = 1
		} else {
			w.seen = w.seen<<shift | 1
		}
		w.top = seq
		return true
	}
	back := w.top - seq
	if back >= replayWindowSize || w.seen&(1<<back) != 0 {
		return false
	}
	w.seen |= 1 << back
	return true
}
