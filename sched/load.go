package sched

import "sync/atomic"

// cacheLine is the coherence unit on the machines fastlvs targets (x86-64, arm64 servers).
const cacheLine = 64

// Load is one real server's connection counts, shared by all workers and surviving table swaps: the control plane
// keeps one *Load per real server id and hands the same pointer to every Build. Workers update it with atomics on
// the new-connection, state-change and expiry paths; schedulers read it.
//
// It also carries IPVS's overload flag (IP_VS_DEST_F_OVERLOAD), which like IPVS is set when a connection is bound
// and cleared when one is unbound, with the thresholds that the last Build installed.
//
// A Load fills exactly one cache line so that two servers' counters never share one (allocate each with new(Load),
// or in a slice, whose 64-byte elements land on 64-byte boundaries in Go's size classes).
type Load struct {
	active     atomic.Int64
	inactive   atomic.Int64
	thresholds atomic.Uint64 // upper<<32 | lower, installed by Build
	overloaded atomic.Uint32 // 1 while over the upper threshold (with hysteresis down to the lower one)
	_          [cacheLine - 8 - 8 - 8 - 4]byte
}

// ConnStarted counts a new connection bound to this server (IPVS ip_vs_bind_dest).
func (l *Load) ConnStarted(active bool) {
	if active {
		l.active.Add(1)
	} else {
		l.inactive.Add(1)
	}
	upper, _ := l.Thresholds()
	if upper != 0 && l.total() >= int64(upper) {
		l.overloaded.Store(1)
	}
}

// ConnChanged moves a connection between the active and inactive counts (e.g. TCP ESTABLISHED → FIN_WAIT). The
// total does not change, so neither does the overload flag.
func (l *Load) ConnChanged(wasActive, isActive bool) {
	if wasActive == isActive {
		return
	}
	if isActive {
		l.inactive.Add(-1)
		l.active.Add(1)
	} else {
		l.active.Add(-1)
		l.inactive.Add(1)
	}
}

// ConnEnded uncounts a connection that expired or was removed (IPVS ip_vs_unbind_dest).
func (l *Load) ConnEnded(wasActive bool) {
	if wasActive {
		l.active.Add(-1)
	} else {
		l.inactive.Add(-1)
	}
	if l.overloaded.Load() == 0 {
		return
	}
	upper, lower := l.Thresholds()
	total := l.total()
	switch {
	case lower != 0:
		if total < int64(lower) {
			l.overloaded.Store(0)
		}
	case upper != 0:
		if total*4 < int64(upper)*3 {
			l.overloaded.Store(0)
		}
	default:
		l.overloaded.Store(0)
	}
}

// Active is the number of active connections (TCP ESTABLISHED, as IPVS counts them).
func (l *Load) Active() int64 { return l.active.Load() }

// Inactive is the number of inactive connections (all other states, and UDP).
func (l *Load) Inactive() int64 { return l.inactive.Load() }

// Overloaded reports IPVS's threshold overload flag: schedulers give such a server no new connection.
func (l *Load) Overloaded() bool { return l.overloaded.Load() != 0 }

// Thresholds returns the upper (-x) and lower (-y) connection thresholds in force; 0 means none.
func (l *Load) Thresholds() (upper, lower uint32) {
	packed := l.thresholds.Load()
	return uint32(packed >> 32), uint32(packed)
}

// SetThresholds installs new thresholds (Build calls it). As IPVS does on an edit, raising or removing the upper
// threshold clears the overload flag; a lower upper threshold takes effect with the next new connection.
func (l *Load) SetThresholds(upper, lower uint32) {
	oldUpper, _ := l.Thresholds()
	l.thresholds.Store(uint64(upper)<<32 | uint64(lower))
	if upper == 0 || upper > oldUpper {
		l.overloaded.Store(0)
	}
}

func (l *Load) total() int64 { return l.active.Load() + l.inactive.Load() }
