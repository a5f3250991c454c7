package sched

import (
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Flow is the part of a new connection's first packet that schedulers look at. Addresses are [16]byte in
// netip.Addr.As16() form (IPv4 as ::ffff:a.b.c.d).
type Flow struct {
	Src, Dst         [16]byte
	SrcPort, DstPort uint16
	Proto            uint8
}

// Server is one real server of a service as the scheduler sees it.
type Server struct {
	Addr   [16]byte
	Port   uint16
	Weight int32 // 0 = quiescent: keeps its connections, gets no new ones
	// UpperThreshold (-x) and LowerThreshold (-y) bound active+inactive connections; 0 = no threshold.
	UpperThreshold, LowerThreshold uint32
	Load                           *Load // shared counts; the same pointer for this server across Builds
}

// Flags are the IPVS scheduler flags (ipvsadm -b). sh and mh give flag 1 and flag 2 the same meaning, as IPVS does.
type Flags uint8

const (
	FlagSHFallback Flags = 1 << 0 // sh: an unavailable server's clients go to the next available bucket
	FlagSHPort     Flags = 1 << 1 // sh: hash the source port as well as the source address
	FlagMHFallback       = FlagSHFallback
	FlagMHPort           = FlagSHPort
	flag3          Flags = 1 << 2 // IPVS flag-3: accepted, unused by every scheduler
	allFlags             = FlagSHFallback | FlagSHPort | flag3
)

// ParseFlag maps an ipvsadm scheduler flag name to its bit.
func ParseFlag(name string) (Flags, error) {
	switch name {
	case "sh-fallback", "mh-fallback", "flag-1":
		return FlagSHFallback, nil
	case "sh-port", "mh-port", "flag-2":
		return FlagSHPort, nil
	case "flag-3":
		return flag3, nil
	}
	return 0, fmt.Errorf("parse scheduler flag %q: unknown flag (want sh-fallback, sh-port, mh-fallback or mh-port)", name)
}

// DefaultMaglevTableSize is the Maglev lookup table size when Config.MaglevTableSize is 0 (the paper's M).
const DefaultMaglevTableSize = 65537

// Config is everything a scheduler is built from.
type Config struct {
	Name            string // one of Names()
	Flags           Flags
	MaglevTableSize uint64 // mh only: 0 = 65537; must be prime
	Servers         []Server

	// lblc and lblcr: entries in each worker's destination table (a power of two; 0 = 4096), and how long an
	// unused entry lives (0 = 24h, IPVS's lblc_expiration / lblcr_expiration default).
	LocalityTableSize  int
	LocalityExpiration time.Duration
}

// Scheduler is one worker's scheduler for one service.
type Scheduler interface {
	// Schedule picks a server for a new connection: an index into Config.Servers, or -1 when none is available.
	// now is the worker's batch clock in nanoseconds (monotonic); only lblc/lblcr use it, for entry expiry.
	// It must not allocate and must not block.
	Schedule(f *Flow, now int64) int
}

// Plan is the immutable, shareable part of a scheduler for one service (the Maglev lookup table, dh/sh bucket
// tables, wrr's gcd and maximum), built by the control plane, never on a worker, and published only when complete.
type Plan struct {
	kind    *kind
	flags   Flags
	servers []server

	wrr      wrrPlan
	buckets  *[bucketCount]int32 // dh, sh
	maglev   []int32             // mh
	twos     twosPlan
	locality localityGeometry // lblc, lblcr

	instances atomic.Uint64 // seeds per-instance random state deterministically
}

// server is the flat per-server view schedulers read on the hot path.
type server struct {
	weight int64
	load   *Load
}

// available is IPVS's test for a new connection: not quiescent and not over its upper threshold.
func (s *server) available() bool { return s.weight > 0 && !s.load.Overloaded() }

// overhead is IPVS's ip_vs_dest_conn_overhead: an active connection costs 256 inactive ones.
func (s *server) overhead() int64 { return s.load.Active()<<8 + s.load.Inactive() }

// kind is one scheduler: how to build its shared plan and how to make a worker's instance.
type kind struct {
	name     string
	build    func(p *Plan, cfg *Config) error // nil: nothing beyond the server list
	instance func(p *Plan) Scheduler
}

// kinds lists every scheduler in the order Names reports them.
var kinds = []*kind{
	{name: "rr", instance: newRoundRobin},
	{name: "wrr", build: buildWeightedRoundRobin, instance: newWeightedRoundRobin},
	{name: "lc", instance: func(p *Plan) Scheduler { return &leastConn{plan: p} }},
	{name: "wlc", instance: func(p *Plan) Scheduler { return &weightedLeastConn{plan: p} }},
	{name: "sed", instance: func(p *Plan) Scheduler { return &shortestExpectedDelay{plan: p} }},
	{name: "nq", instance: func(p *Plan) Scheduler { return &neverQueue{plan: p} }},
	{name: "fo", instance: func(p *Plan) Scheduler { return &weightedFailover{plan: p} }},
	{name: "ovf", instance: func(p *Plan) Scheduler { return &overflow{plan: p} }},
	{name: "lblc", build: buildLocality, instance: newLocalityLeastConn},
	{name: "lblcr", build: buildLocality, instance: newReplicatedLocality},
	{name: "dh", build: buildBuckets, instance: func(p *Plan) Scheduler { return &destinationHashing{plan: p} }},
	{name: "sh", build: buildBuckets, instance: func(p *Plan) Scheduler { return &sourceHashing{plan: p} }},
	{name: "mh", build: buildMaglev, instance: func(p *Plan) Scheduler { return &maglevHashing{plan: p} }},
	{name: "twos", build: buildTwoChoices, instance: newTwoChoices},
}

// Names lists the scheduler names Build accepts.
func Names() []string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return names
}

var errNilLoad = errors.New("nil Load (the control plane keeps one *Load per real server)")

// Build checks cfg and builds the shared plan for it. It also installs each server's thresholds into its Load.
// Two Builds of the same Config give identical tables.
func Build(cfg Config) (*Plan, error) {
	var k *kind
	for _, candidate := range kinds {
		if candidate.name == cfg.Name {
			k = candidate
		}
	}
	if k == nil {
		return nil, fmt.Errorf("build scheduler: unknown scheduler %q", cfg.Name)
	}
	if cfg.Flags&^allFlags != 0 {
		return nil, fmt.Errorf("build %s scheduler: unknown flag bits %#x", cfg.Name, uint8(cfg.Flags&^allFlags))
	}
	p := &Plan{kind: k, flags: cfg.Flags, servers: make([]server, len(cfg.Servers))}
	for i, s := range cfg.Servers {
		if s.Load == nil {
			return nil, fmt.Errorf("build %s scheduler: server %d: %w", cfg.Name, i, errNilLoad)
		}
		if s.Weight < 0 {
			return nil, fmt.Errorf("build %s scheduler: server %d: negative weight %d", cfg.Name, i, s.Weight)
		}
		if s.LowerThreshold != 0 && s.UpperThreshold != 0 && s.LowerThreshold > s.UpperThreshold {
			return nil, fmt.Errorf("build %s scheduler: server %d: lower threshold %d above upper threshold %d",
				cfg.Name, i, s.LowerThreshold, s.UpperThreshold)
		}
		p.servers[i] = server{weight: int64(s.Weight), load: s.Load}
	}
	if k.build != nil {
		if err := k.build(p, &cfg); err != nil {
			return nil, fmt.Errorf("build %s scheduler: %w", cfg.Name, err)
		}
	}
	for _, s := range cfg.Servers {
		s.Load.SetThresholds(s.UpperThreshold, s.LowerThreshold)
	}
	return p, nil
}

// Name is the scheduler's name.
func (p *Plan) Name() string { return p.kind.name }

// Instance returns one worker's scheduler. Per-worker mutable state (the rr cursor, wrr's position and current
// weight, the lblc/lblcr tables, twos's random state) lives in it, so a worker never writes what another reads.
func (p *Plan) Instance() Scheduler { return p.kind.instance(p) }
