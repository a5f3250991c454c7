package health

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestUpdateAddsRemovesAndRestarts(t *testing.T) {
	srv := newTCPServer(t)
	closed := newTCPServer(t)
	closed.stop()
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	fast := Spec{Interval: 20 * time.Millisecond, Timeout: 2 * time.Second}
	m.Update([]Target{
		{Key: "keep", Addr: srv.addr, Spec: fast},
		{Key: "drop", Addr: srv.addr, Spec: fast},
		{Key: "dead", Addr: closed.addr, Spec: fast},
		{Key: "none", Addr: closed.addr, Spec: Spec{Type: TypeNone}},
		{Key: "invalid", Addr: srv.addr, Spec: Spec{Type: "smtp", Interval: 20 * time.Millisecond}},
	})
	rec.waitFor(t, 2, 5*time.Second) // dead and invalid go down
	waitUntil(t, 5*time.Second, "checks", func() bool { st, _ := m.Status("keep"); return st.Checks >= 3 })
	if st, _ := m.Status("none"); !st.Up || st.Checks != 0 {
		t.Errorf("type none = %+v, want always up and never checked", st)
	}
	if st, _ := m.Status("invalid"); st.Up || !strings.Contains(st.LastError, `"smtp"`) {
		t.Errorf("invalid spec = %+v, want down naming the type", st)
	}
	before, _ := m.Status("keep")

	// "dead" gets a new spec (slower interval): it is restarted but stays down.
	slower := fast
	slower.Interval = 30 * time.Millisecond
	m.Update([]Target{
		{Key: "keep", Addr: srv.addr, Spec: fast},
		{Key: "dead", Addr: closed.addr, Spec: slower},
		{Key: "new", Addr: srv.addr, Spec: fast},
	})
	if _, ok := m.Status("drop"); ok {
		t.Error("removed target still has a status")
	}
	statuses := m.Statuses()
	if len(statuses) != 3 {
		t.Errorf("Statuses has %d targets, want 3: %v", len(statuses), statuses)
	}
	if st := statuses["keep"]; st.Checks < before.Checks {
		t.Errorf("unchanged target lost its state: %d checks, had %d", st.Checks, before.Checks)
	}
	if st := statuses["dead"]; st.Up || st.Transitions != 1 {
		t.Errorf("restarted target = %+v, want still down with its transition kept", st)
	}
	if st := statuses["new"]; !st.Up {
		t.Errorf("new target = %+v, want up", st)
	}
	waitUntil(t, 5*time.Second, "the new target runs", func() bool { st, _ := m.Status("new"); return st.Checks >= 3 })
	for _, e := range rec.all()[2:] {
		t.Errorf("unexpected event after Update: %+v", e)
	}

	// Turning the check off brings a down server back, with one event.
	m.Update([]Target{{Key: "dead", Addr: closed.addr, Spec: Spec{Type: TypeNone}}})
	if e := rec.waitFor(t, 3, 5*time.Second); e.Key != "dead" || !e.Up || e.Reason != "check disabled" {
		t.Errorf("event = %+v, want dead up because its check was disabled", e)
	}
	if st, _ := m.Status("dead"); !st.Up || st.Transitions != 2 {
		t.Errorf("dead with type none = %+v, want up after 2 transitions", st)
	}
}

func TestCloseStopsChecking(t *testing.T) {
	srv := newTCPServer(t)
	m := NewManager(nil)
	m.Update([]Target{{Key: "k", Addr: srv.addr, Spec: Spec{Interval: 10 * time.Millisecond, Timeout: 2 * time.Second}}})
	waitUntil(t, 5*time.Second, "checks", func() bool { st, _ := m.Status("k"); return st.Checks >= 2 })
	m.Close()
	st, _ := m.Status("k")
	time.Sleep(50 * time.Millisecond)
	if after, _ := m.Status("k"); after.Checks != st.Checks {
		t.Errorf("checks went on after Close: %d then %d", st.Checks, after.Checks)
	}
	m.Update([]Target{{Key: "other", Addr: srv.addr}})
	if _, ok := m.Status("other"); ok {
		t.Error("Update after Close started a target")
	}
	m.Close() // a second Close is harmless
}

// TestManyTargetsDoNotBlockEachOther checks 2000 targets against one local
// listener beside 50 targets that never answer within their 20 s timeout:
// every tcp target completes its first round in a few seconds, so no check
// waited for another.
func TestManyTargetsDoNotBlockEachOther(t *testing.T) {
	const targets = 2000
	srv := newTCPServer(t)
	silent := newUDPServer(t, func([]byte) []byte { return nil })
	m := newTestManager(t, Options{})
	list := make([]Target, 0, targets+50)
	spec := Spec{Interval: 5 * time.Second, Timeout: 5 * time.Second, WarmUp: 200 * time.Millisecond}
	for i := range targets {
		list = append(list, Target{Key: fmt.Sprintf("tcp/%d", i), Addr: srv.addr, Spec: spec})
	}
	for i := range 50 {
		list = append(list, Target{Key: fmt.Sprintf("udp/%d", i), Addr: silent.addr,
			Spec: Spec{Type: TypeUDP, Interval: time.Second, Timeout: 20 * time.Second}})
	}
	began := time.Now()
	m.Update(list)
	waitUntil(t, 18*time.Second, "a round of 2000 tcp checks", func() bool {
		for key, st := range m.Statuses() {
			if strings.HasPrefix(key, "tcp/") && st.Checks == 0 {
				return false
			}
		}
		return true
	})
	took := time.Since(began)
	failed := 0
	for key, st := range m.Statuses() {
		if strings.HasPrefix(key, "tcp/") && (st.Failures != 0 || !st.Up) {
			failed++
		}
	}
	if failed != 0 {
		t.Errorf("%d of %d targets failed against a healthy listener", failed, targets)
	}
	t.Logf("%d targets: first round complete in %v", targets, took)
	// Blocked behind the silent targets, the round would take their 20 s
	// timeout; on a loaded 2-core machine 2000 checks take a few seconds.
	if took > 15*time.Second {
		t.Errorf("first round took %v, want well under the silent targets' 20s timeout", took)
	}
	var slow time.Duration
	for key, st := range m.Statuses() {
		if strings.HasPrefix(key, "tcp/") {
			slow = max(slow, st.LastLatency)
		}
	}
	if slow > 10*time.Second {
		t.Errorf("slowest tcp check took %v", slow)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		spec    Spec
		errPart string
	}{
		{Spec{}, ""},
		{Spec{Type: TypeHTTP, BodyRegex: "("}, "body_regex"},
		{Spec{Type: TypeHTTP, StatusMin: 300, StatusMax: 200}, "status range"},
		{Spec{Type: TypeHTTP, Path: "health"}, "must start with /"},
		{Spec{Type: TypeDNS}, "needs a name"},
		{Spec{Type: TypeDNS, DNSName: "a.test", DNSType: "HINFO"}, "not supported"},
		{Spec{Type: TypeExec}, "needs a command"},
		{Spec{Type: "smtp"}, "not one of"},
		{Spec{Type: TypeDNS, DNSName: "a.test", DNSType: "AAAA"}, ""},
	} {
		err := tc.spec.Validate()
		if (tc.errPart == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.errPart)) {
			t.Errorf("Validate(%+v) = %v, want error containing %q", tc.spec, err, tc.errPart)
		}
	}
}

// TestRemovedTargetResumesItsStatus: a target removed while down and given
// again resumes "down" — no fresh "up" puts a dead server back in rotation
// untested — and comes up by rise successes once it answers; after Forget it
// starts afresh.
func TestRemovedTargetResumesItsStatus(t *testing.T) {
	closed := newTCPServer(t)
	closed.stop()
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	fast := Spec{Interval: 20 * time.Millisecond, Timeout: time.Second, Rise: 2, Fall: 1}
	dead := Target{Key: "r", Addr: closed.addr, Spec: fast}
	m.Update([]Target{dead})
	if e := rec.waitFor(t, 1, 5*time.Second); e.Up {
		t.Fatalf("first event %+v, want down", e)
	}
	m.Update(nil)
	m.Update([]Target{dead})
	if st, _ := m.Status("r"); st.Up {
		t.Fatalf("re-added target = %+v, want still down", st)
	}
	time.Sleep(100 * time.Millisecond)
	if events := rec.all(); len(events) != 1 {
		t.Fatalf("events after re-adding a dead target: %+v, want none", events[1:])
	}

	// Back with a live address: up after rise successes, one event.
	srv := newTCPServer(t)
	m.Update(nil)
	m.Update([]Target{{Key: "r", Addr: srv.addr, Spec: fast}})
	if e := rec.waitFor(t, 2, 5*time.Second); !e.Up {
		t.Fatalf("second event %+v, want up", e)
	}

	// Forgotten: a new start, up without an event.
	m.Update(nil)
	m.Forget("r")
	m.Update([]Target{{Key: "r", Addr: srv.addr, Spec: fast}})
	if st, _ := m.Status("r"); !st.Up || st.Transitions != 0 {
		t.Fatalf("forgotten target = %+v, want a fresh start", st)
	}
}

// TestUnprovenTargetDownAtFirstFailure: a target that never passed a check
// goes down at its first failure, whatever Fall says; one that passed needs
// Fall failures in a row.
func TestUnprovenTargetDownAtFirstFailure(t *testing.T) {
	closed := newTCPServer(t)
	closed.stop()
	srv := newTCPServer(t)
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	spec := Spec{Interval: time.Hour, Timeout: time.Second, Fall: 3}
	m.Update([]Target{{Key: "dead", Addr: closed.addr, Spec: spec}, {Key: "live", Addr: srv.addr, Spec: spec}})
	if e := rec.waitFor(t, 1, 5*time.Second); e.Key != "dead" || e.Up {
		t.Fatalf("first event %+v, want dead down", e)
	}
	if st, _ := m.Status("dead"); st.Checks != 1 {
		t.Fatalf("dead went down after %d checks, want 1", st.Checks)
	}
	waitUntil(t, 5*time.Second, "live checked", func() bool { st, _ := m.Status("live"); return st.Checks == 1 })

	// live, proven, now fails: still up after one failure (its next check is an hour away).
	srv.stop()
	spec.Interval = 30 * time.Millisecond
	m.Update([]Target{{Key: "dead", Addr: closed.addr, Spec: spec}, {Key: "live", Addr: srv.addr, Spec: spec}})
	waitUntil(t, 5*time.Second, "live failing", func() bool { st, _ := m.Status("live"); return st.Failures >= 1 })
	if st, _ := m.Status("live"); st.Failures < 3 && !st.Up {
		t.Fatalf("proven target down after %d failures, want %d", st.Failures, spec.Fall)
	}
}
