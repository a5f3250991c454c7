package sched

import (
	"fmt"
	"time"
)

// Locality tables (lblc, lblcr) are per worker and fixed in size: a set-associative cache of destination
// addresses, localityWays entries per set. A lookup hashes the destination to its set and compares keys; an insert
// reuses the entry with the same key, else an empty or expired one, else evicts the least recently used entry of the
// set. That eviction stands in for IPVS's periodic sweep, which drops entries idle for ENTRY_TIMEOUT (6 minutes)
// once the table grows past its limit; entries idle longer than the expiration (IPVS's lblc_expiration and
// lblcr_expiration sysctls, 24 hours by default) count as absent.
const (
	localityWays              = 4
	DefaultLocalityTableSize  = 4096
	DefaultLocalityExpiration = 24 * time.Hour
	maxLocalityTableSize      = 1 << 22
	localitySetMaxServers     = 8 // lblcr: servers one destination can be replicated to
)

const localitySeed = 0x6c6f63616c690004 // "locality"

func buildLocality(p *Plan, cfg *Config) error {
	size := cfg.LocalityTableSize
	if size != 0 && (size < localityWays || size > maxLocalityTableSize || size&(size-1) != 0) {
		return fmt.Errorf("locality table size %d: must be a power of two from %d to %d", size, localityWays, maxLocalityTableSize)
	}
	if cfg.LocalityExpiration < 0 {
		return fmt.Errorf("locality expiration %v: negative", cfg.LocalityExpiration)
	}
	p.locality = newLocalityGeometry(cfg)
	return nil
}

// localityGeometry is what an instance needs from the config to size and age its table.
type localityGeometry struct {
	sets       uint64 // power of two
	expiration int64  // nanoseconds
}

func newLocalityGeometry(cfg *Config) localityGeometry {
	size := uint64(cfg.LocalityTableSize)
	if size == 0 {
		size = DefaultLocalityTableSize
	}
	expiration := cfg.LocalityExpiration
	if expiration == 0 {
		expiration = DefaultLocalityExpiration
	}
	return localityGeometry{sets: size / localityWays, expiration: int64(expiration)}
}

// setOf returns the first entry index of the destination's set.
func (g localityGeometry) setOf(dst *[16]byte) int {
	return int(hashEndpoint(dst, 0, localitySeed)&(g.sets-1)) * localityWays
}

// isLocalityOverloaded is IPVS lblc/lblcr's is_overloaded: a server with more active connections than its weight
// counts as overloaded while some server in the service is below half of its weight.
func isLocalityOverloaded(servers []server, candidate int) bool {
	if servers[candidate].load.Active() <= servers[candidate].weight {
		return false
	}
	for i := range servers {
		if servers[i].load.Active()*2 < servers[i].weight {
			return true
		}
	}
	return false
}

// localityEntry maps one destination address to a server (lblc).
type localityEntry struct {
	dst     [16]byte
	lastUse int64 // ns; reset on every lookup hit
	server  int32
	valid   bool
}

// localityLeastConn is IPVS lblc (ip_vs_lblc.c): a destination address keeps the server it was last given, unless
// that server is quiescent, over its threshold, or overloaded in lblc's sense (more active connections than its
// weight while another server is below half of its weight); then wlc chooses a new one and the entry moves to it.
// The threshold check on the cached server is stricter than IPVS, which only checks it in the wlc step.
type localityLeastConn struct {
	plan     *Plan
	geometry localityGeometry
	entries  []localityEntry
}

func newLocalityLeastConn(p *Plan) Scheduler {
	g := p.locality
	return &localityLeastConn{plan: p, geometry: g, entries: make([]localityEntry, g.sets*localityWays)}
}

func (l *localityLeastConn) Schedule(f *Flow, now int64) int {
	servers := l.plan.servers
	base := l.geometry.setOf(&f.Dst)
	set := l.entries[base : base+localityWays]
	slot := -1
	for i := range set {
		e := &set[i]
		if e.valid && e.dst == f.Dst && now-e.lastUse <= l.geometry.expiration {
			e.lastUse = now
			if cached := int(e.server); servers[cached].available() && !isLocalityOverloaded(servers, cached) {
				return cached
			}
			slot = i
			break
		}
	}
	chosen := leastWeightedOverhead(servers)
	if chosen < 0 {
		return -1
	}
	if slot < 0 {
		slot = oldestEntry(set, now, l.geometry.expiration)
	}
	set[slot] = localityEntry{dst: f.Dst, lastUse: now, server: int32(chosen), valid: true}
	return chosen
}

// oldestEntry is where a new destination goes: an empty or expired entry of the set, else the least recently used.
func oldestEntry(set []localityEntry, now, expiration int64) int {
	oldest := 0
	for i := range set {
		if !set[i].valid || now-set[i].lastUse > expiration {
			return i
		}
		if set[i].lastUse < set[oldest].lastUse {
			oldest = i
		}
	}
	return oldest
}
