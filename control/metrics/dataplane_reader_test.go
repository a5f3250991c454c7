package metrics

import (
	"net/netip"
	"testing"

	"fastlvs/dataplane"
)

// The adapter is tested on dataplane values built without interfaces:
// workers as plain structs, a table from dataplane.Build. Counters stay at
// zero (only the dataplane can add to them); the fakes check the numbers,
// this checks that the adapter finds and labels every row.
func TestDataplaneReaderReadsWorkersAndTable(t *testing.T) {
	spec := dataplane.TableSpec{Services: []dataplane.ServiceSpec{{
		Name: "web", VIP: netip.MustParseAddr("198.18.0.10"), Port: 80, Proto: dataplane.ProtoTCP,
		Scheduler: "wlc", Method: dataplane.MethodNAT,
		Reals: []dataplane.RealSpec{
			{Addr: netip.MustParseAddr("198.18.2.11"), Port: 8080, Weight: 2},
			{Addr: netip.MustParseAddr("198.18.2.12"), Port: 8080, Weight: 0},
		},
	}}}
	reg := dataplane.NewRegistry(2)
	table, err := dataplane.Build(spec, reg, 2)
	if err != nil {
		t.Fatal(err)
	}
	real := table.Services()[0].Reals()[0].State
	real.Load.ConnStarted(true)
	real.Load.ConnStarted(false)
	real.Load.ConnStarted(false)

	dp := &dataplane.Dataplane{Workers: []*dataplane.Worker{
		{ID: 0, CPU: 1, Stats: new(dataplane.WorkerStats)},
		{ID: 1, CPU: 0, Stats: new(dataplane.WorkerStats)},
	}}
	reader := newDataplaneReader(dp, 4096)
	if reader.Services() != nil {
		t.Error("services listed before any table is published")
	}
	reader.table = func() *dataplane.Table { return table }

	workers := reader.Workers()
	if len(workers) != 2 || workers[0].ID != 0 || workers[0].CPU != 1 || workers[1].ID != 1 || workers[1].CPU != 0 {
		t.Fatalf("workers %+v", workers)
	}
	if workers[1].ConnCapacity != 4096 {
		t.Errorf("capacity %d, want 4096", workers[1].ConnCapacity)
	}
	if len(reader.Sockets()) != 0 || len(reader.Steering()) != 0 {
		t.Error("sockets or steering rows without ports")
	}

	services := reader.Services()
	if len(services) != 1 {
		t.Fatalf("%d services, want 1", len(services))
	}
	s := services[0]
	if s.Name != "web" || s.VIP != spec.Services[0].VIP || s.Port != 80 || s.Proto != dataplane.ProtoTCP || len(s.Reals) != 2 {
		t.Fatalf("service %+v", s)
	}
	r0, r1 := s.Reals[0], s.Reals[1]
	if r0.Addr.String() != "198.18.2.11" || r0.Port != 8080 || r0.Weight != 2 || r0.Active != 1 || r0.Inactive != 2 {
		t.Errorf("real 0 %+v, want 198.18.2.11:8080 weight 2, 1 active, 2 inactive", r0)
	}
	if r1.Addr.String() != "198.18.2.12" || r1.Weight != 0 || r1.Active != 0 || r1.Inactive != 0 {
		t.Errorf("real 1 %+v", r1)
	}
}

// The reader only loads counters: per scrape it allocates its result and
// nothing per counter.
func TestDataplaneReaderAllocatesOnlyItsResult(t *testing.T) {
	dp := &dataplane.Dataplane{Workers: []*dataplane.Worker{{Stats: new(dataplane.WorkerStats)}, {ID: 1, Stats: new(dataplane.WorkerStats)}}}
	reader := newDataplaneReader(dp, 0)
	if n := testing.AllocsPerRun(100, func() { _ = reader.Workers() }); n != 1 {
		t.Errorf("Workers allocates %v times per call, want 1 (its result)", n)
	}
}
