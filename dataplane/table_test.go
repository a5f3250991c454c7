package dataplane

import (
	"testing"
)

// TestFailedBuildLeavesRegistryUntouched: a table whose last service cannot
// build (unknown scheduler) is refused, and no id of its earlier services'
// new real servers is registered.
func TestFailedBuildLeavesRegistryUntouched(t *testing.T) {
	reg := NewRegistry(1)
	good := testSpec()
	if _, err := Build(good, reg, 1); err != nil {
		t.Fatal(err)
	}
	before := len(reg.realByID)
	bad := testSpec()
	bad.Services[0].Reals = append(bad.Services[0].Reals, realAt("198.18.2.77", 80, 1))
	bad.Services = append(bad.Services, ServiceSpec{Name: "broken", VIP: addr("198.18.0.99"), Port: 80, Proto: ProtoTCP,
		Scheduler: "no-such-scheduler", Method: MethodDR, Reals: []RealSpec{realAt("198.18.2.2", 80, 1)}})
	if _, err := Build(bad, reg, 1); err == nil {
		t.Fatal("a table with an unknown scheduler built")
	}
	if len(reg.realByID) != before || reg.RealOf(bad.Services[0].Key(), addr("198.18.2.77"), 80) != nil {
		t.Fatalf("the failed build registered real servers: %d ids, was %d", len(reg.realByID), before)
	}
	// A real server present in both tables keeps its Load (and so its counts).
	first := reg.RealOf(good.Services[0].Key(), addr("198.18.2.2"), 80)
	next, err := Build(good, reg, 1)
	if err != nil {
		t.Fatal(err)
	}
	if next.Services()[0].Reals()[0].State != first || next.Services()[0].Reals()[0].load != first.Load {
		t.Fatal("a rebuilt table gave an existing real server a new state or Load")
	}
}
