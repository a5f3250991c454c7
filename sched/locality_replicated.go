package sched

// replicatedEntry maps one destination address to a set of servers (lblcr).
type replicatedEntry struct {
	dst      [16]byte
	lastUse  int64 // ns; reset on every lookup hit
	modified int64 // ns; when a server last joined the set
	servers  [localitySetMaxServers]int32
	size     int32
	valid    bool
}

// replicatedLocality is IPVS lblcr (ip_vs_lblcr.c): a destination address keeps a set of servers and gets the
// least loaded of them (wlc within the set). When that one is overloaded in lblc's sense, wlc over the whole service
// picks a server that joins the set. A set of more than one server that has not grown for the expiration time
// sheds its most loaded member, one per schedule. Sets hold at most 8 servers; a ninth replaces the most loaded.
type replicatedLocality struct {
	plan     *Plan
	geometry localityGeometry
	entries  []replicatedEntry
}

func newReplicatedLocality(p *Plan) Scheduler {
	g := p.locality
	return &replicatedLocality{plan: p, geometry: g, entries: make([]replicatedEntry, g.sets*localityWays)}
}

func (r *replicatedLocality) Schedule(f *Flow, now int64) int {
	servers := r.plan.servers
	base := r.geometry.setOf(&f.Dst)
	set := r.entries[base : base+localityWays]
	var entry *replicatedEntry
	for i := range set {
		e := &set[i]
		if e.valid && e.dst == f.Dst && now-e.lastUse <= r.geometry.expiration {
			entry = e
			break
		}
	}
	if entry != nil {
		entry.lastUse = now
		least := entry.leastLoaded(servers)
		if entry.size > 1 && now-entry.modified > r.geometry.expiration {
			entry.remove(entry.mostLoaded(servers))
		}
		if least >= 0 && !isLocalityOverloaded(servers, least) {
			return least
		}
	}
	chosen := leastWeightedOverhead(servers)
	if chosen < 0 {
		return -1
	}
	if entry == nil {
		entry = &set[oldestReplicated(set, now, r.geometry.expiration)]
		*entry = replicatedEntry{dst: f.Dst, lastUse: now, valid: true}
	}
	entry.insert(servers, int32(chosen), now)
	return chosen
}

// leastLoaded is ip_vs_dest_set_min: the first available member, then any member with a smaller overhead/weight.
func (e *replicatedEntry) leastLoaded(servers []server) int {
	least, leastOverhead, leastWeight := -1, int64(0), int64(0)
	for _, member := range e.servers[:e.size] {
		s := &servers[member]
		if !s.available() {
			continue
		}
		overhead := s.overhead()
		if least < 0 || leastOverhead*s.weight > overhead*leastWeight {
			least, leastOverhead, leastWeight = int(member), overhead, s.weight
		}
	}
	return least
}

// mostLoaded is ip_vs_dest_set_max: the weighted member with the largest overhead/weight, or -1.
func (e *replicatedEntry) mostLoaded(servers []server) int32 {
	most, mostOverhead, mostWeight := int32(-1), int64(0), int64(0)
	for _, member := range e.servers[:e.size] {
		s := &servers[member]
		if s.weight <= 0 {
			continue
		}
		overhead := s.overhead()
		if most < 0 || mostOverhead*s.weight < overhead*mostWeight {
			most, mostOverhead, mostWeight = member, overhead, s.weight
		}
	}
	return most
}

// insert adds a server to the set unless it is already there; a full set gives up its most loaded member.
func (e *replicatedEntry) insert(servers []server, server int32, now int64) {
	for _, member := range e.servers[:e.size] {
		if member == server {
			return
		}
	}
	if e.size == localitySetMaxServers {
		victim := e.mostLoaded(servers)
		if victim < 0 {
			victim = e.servers[0]
		}
		e.remove(victim)
	}
	e.servers[e.size] = server
	e.size++
	e.modified = now
}

func (e *replicatedEntry) remove(server int32) {
	for i, member := range e.servers[:e.size] {
		if member == server {
			copy(e.servers[i:e.size], e.servers[i+1:e.size])
			e.size--
			return
		}
	}
}

// oldestReplicated is where a new destination goes: an empty or expired entry, else the least recently used.
func oldestReplicated(set []replicatedEntry, now, expiration int64) int {
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
