package metrics

import (
	"net/netip"

	"fastlvs/dataplane"
	"fastlvs/dataplane/steer"
	"fastlvs/xsk"
)

// Reader is what the collector reads on every scrape. Implementations must
// be safe for concurrent use (two scrapes may overlap) and must only read:
// dataplaneReader loads atomics and calls read-only syscalls.
type Reader interface {
	Workers() []WorkerSample
	Sockets() []SocketSample
	Steering() []SteeringSample
	Services() []ServiceSample
}

// WorkerSample is one worker's counters at one instant.
type WorkerSample struct {
	ID, CPU       int
	Counts        [dataplane.NumCounts]uint64 // as dataplane.WorkerStats.Counts
	Conns         uint64                      // connections in the table now
	UnderPressure bool                        // the table is above its high-water mark
	ConnCapacity  uint64                      // 0 = unknown, not exported
	Drops         [dataplane.NumDrops]uint64
	Batches       [len(dataplane.BatchBuckets) + 1]uint64 // receive calls by frames returned, as dataplane.WorkerStats.Batches
	BatchFrames   uint64                                  // frames returned by all those calls: the histogram's sum
}

// SocketSample is the kernel's view of one AF_XDP socket.
type SocketSample struct {
	Iface       string
	Queue       int
	Worker, CPU int
	Stats       xsk.Stats
	Err         error // the read failed; Stats is not valid
}

// SteeringSample is one interface's XDP steering counters.
type SteeringSample struct {
	Iface string
	Stats steer.Stats
	Err   error // the read failed; Stats is not valid
}

// ServiceSample is one virtual service of the table in force.
type ServiceSample struct {
	Name    string
	VIP     netip.Addr
	Port    uint16
	Proto   uint8
	Traffic dataplane.TrafficTotals
	Reals   []RealSample
	// Overflow is the service's site overflow; nil without one.
	Overflow *OverflowSample
}

// OverflowSample is a service's overflow state: whether it sheds new
// connections now, the load ratio that decided it, and the connections
// shed so far (Traffic.Conns) with those still active.
type OverflowSample struct {
	To        netip.Addr
	Shedding  bool
	LoadRatio float64
	Traffic   dataplane.TrafficTotals
	Active    int64
}

// RealSample is one real server of a service.
type RealSample struct {
	Addr             netip.Addr
	Port             uint16 // 0 = the port the client asked for
	Weight           int32  // in force, after health-check overrides
	Active, Inactive int64  // sched.Load: what the schedulers see
	Traffic          dataplane.TrafficTotals
}
