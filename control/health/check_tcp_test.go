package health

import (
	"strings"
	"testing"
	"time"
)

// TestTCPFallAndRise stops and restarts a listener and checks that the
// target goes down after exactly Fall failures and up after exactly Rise
// successes, within Fall*Interval+Timeout.
func TestTCPFallAndRise(t *testing.T) {
	const (
		interval = 50 * time.Millisecond
		timeout  = 250 * time.Millisecond
		fall     = 3
		rise     = 2
		slack    = 100 * time.Millisecond // scheduling on a busy 2-core machine
	)
	srv := newTCPServer(t)
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	const key = "tcp/rs1"
	m.Update([]Target{{Key: key, Addr: srv.addr, Spec: Spec{Type: TypeTCP, Interval: interval, Timeout: timeout, Rise: rise, Fall: fall}}})

	waitUntil(t, 5*time.Second, "first successful checks", func() bool {
		st, _ := m.Status(key)
		return st.Checks >= 2
	})
	st, _ := m.Status(key)
	if !st.Up || st.Failures != 0 || st.Transitions != 0 {
		t.Fatalf("status while the server listens = %+v, want up without failures", st)
	}

	stopped := time.Now()
	srv.stop()
	down := rec.waitFor(t, 1, 5*time.Second)
	tookDown := time.Since(stopped)
	if down.Up || down.Key != key || down.Addr != srv.addr {
		t.Fatalf("first event = %+v, want %s down", down, key)
	}
	if !strings.HasPrefix(down.Reason, "3 consecutive failures") {
		t.Errorf("down reason = %q, want 3 consecutive failures", down.Reason)
	}
	if st, _ := m.Status(key); st.Failures != fall || st.Up {
		t.Errorf("status at the down event = %+v, want %d failures and down", st, fall)
	}
	if limit := fall*interval + timeout + slack; tookDown > limit || tookDown < (fall-1)*interval {
		t.Errorf("down after %v, want between %v and %v", tookDown, (fall-1)*interval, limit)
	}

	restarted := time.Now()
	srv.restart()
	up := rec.waitFor(t, 2, 5*time.Second)
	tookUp := time.Since(restarted)
	if !up.Up || !strings.HasPrefix(up.Reason, "2 consecutive successes") {
		t.Fatalf("second event = %+v, want up after 2 successes", up)
	}
	if limit := rise*interval + timeout + slack; tookUp > limit {
		t.Errorf("up after %v, want at most %v", tookUp, limit)
	}
	st, _ = m.Status(key)
	if st.Transitions != 2 || !st.Up || st.LastError != "" {
		t.Errorf("final status = %+v, want up after 2 transitions", st)
	}
	if n := len(rec.all()); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

func TestStartDownNeedsRise(t *testing.T) {
	srv := newTCPServer(t)
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	m.Update([]Target{{Key: "k", Addr: srv.addr, Spec: Spec{Interval: 30 * time.Millisecond, Timeout: 2 * time.Second, Rise: 3, StartDown: true}}})
	if st, _ := m.Status("k"); st.Up {
		t.Fatalf("StartDown target starts %+v, want down", st)
	}
	up := rec.waitFor(t, 1, 5*time.Second)
	if !up.Up {
		t.Fatalf("event %+v, want up", up)
	}
	if st, _ := m.Status("k"); st.Checks < 3 {
		t.Errorf("up after %d checks, want 3", st.Checks)
	}
}
