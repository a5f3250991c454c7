package health

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// checker owns one target: its goroutine, its counters and its status.
type checker struct {
	target Target // spec with defaults filled in
	check  check
	emit   func(Event)
	// slots, for exec checks, bounds how many run at once across the Manager.
	slots chan struct{}

	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	status    Status
	successes int // consecutive
	failures  int // consecutive
	// proven is set once the target has passed a check, here or under an
	// earlier spec. An unproven target goes down at its first failure, not
	// after Fall: a server added dead (by a reload, say) would otherwise
	// take new connections for Fall×Interval — nearly all of them under a
	// least-connection scheduler, since it has none yet.
	proven bool
}

// newChecker starts from prev when the target existed before (a changed
// spec keeps the server's state so a reload does not flap it), otherwise up
// unless the spec says StartDown.
func newChecker(t Target, prev *Status, env *checkEnv, emit func(Event)) *checker {
	t.Spec = t.Spec.withDefaults()
	c := &checker{target: t, emit: emit, done: make(chan struct{})}
	if prev != nil {
		c.status = *prev
		c.proven = prev.Checks > prev.Failures
	} else {
		c.status = Status{Up: !t.Spec.StartDown, Weight: -1, Since: time.Now()}
	}
	if t.Spec.Type == TypeNone {
		if !c.status.Up { // a down server whose check was removed comes back
			c.status.Up = true
			c.status.Transitions++
			c.status.Since = time.Now()
			c.status.LastError = ""
			emit(c.eventLocked("check disabled", c.status.Since))
		}
		return c
	}
	c.check = newCheck(t)
	if t.Spec.Type == TypeExec {
		c.slots = env.execSlots
	}
	return c
}

// start runs the checker's goroutine; a "none" checker has nothing to run.
func (c *checker) start(parent context.Context) {
	if c.check == nil {
		close(c.done)
		c.cancel = func() {}
		return
	}
	ctx, cancel := context.WithCancel(parent)
	c.cancel = cancel
	go c.routineCheck(ctx)
}

// stop cancels the goroutine; wait for c.done before reading a final state.
func (c *checker) stop() { c.cancel() }

func (c *checker) snapshot() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// routineCheck probes at a fixed rate: attempt n starts at
// start + warm-up + n*Interval, or right after attempt n-1 if that took longer.
func (c *checker) routineCheck(ctx context.Context) {
	defer close(c.done)
	spec := &c.target.Spec
	var delay time.Duration
	if spec.WarmUp > 0 {
		delay = rand.N(spec.WarmUp)
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	next := time.Now().Add(delay)
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		// Waiting for an exec slot is local congestion, not the server's
		// fault: it must not eat into the attempt's timeout.
		if c.slots != nil {
			select {
			case c.slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		began := time.Now()
		attemptCtx, cancel := context.WithTimeout(ctx, spec.Timeout)
		res := c.check.run(attemptCtx)
		cancel()
		if c.slots != nil {
			<-c.slots
		}
		ended := time.Now()
		if ctx.Err() != nil {
			return // stopped mid-attempt: the result says nothing about the server
		}
		c.record(res, ended.Sub(began), ended)
		next = next.Add(spec.Interval)
		if wait := next.Sub(ended); wait > 0 {
			timer.Reset(wait)
		} else {
			next = ended
			timer.Reset(0)
		}
	}
}

// record applies one attempt to the rise/fall counters and emits an event on
// a transition, or on a new exec weight while up.
func (c *checker) record(res result, latency time.Duration, now time.Time) {
	spec := &c.target.Spec
	c.mu.Lock()
	defer c.mu.Unlock()
	st := &c.status
	st.Checks++
	st.LastLatency = latency
	var reason string
	changed := false
	if res.err != nil {
		st.Failures++
		st.LastError = res.err.Error()
		c.successes = 0
		c.failures++
		if st.Up && (c.failures >= spec.Fall || !c.proven) {
			st.Up = false
			changed = true
			reason = fmt.Sprintf("%d consecutive failures: %s", c.failures, st.LastError)
		}
	} else {
		st.LastError = ""
		c.failures = 0
		c.successes++
		c.proven = true
		weightChanged := res.weight != st.Weight
		st.Weight = res.weight
		switch {
		case !st.Up && c.successes >= spec.Rise:
			st.Up = true
			changed = true
			reason = fmt.Sprintf("%d consecutive successes", c.successes)
		case st.Up && weightChanged:
			reason = fmt.Sprintf("weight %d", st.Weight)
			c.emit(c.eventLocked(reason, now))
			return
		}
	}
	if !changed {
		return
	}
	st.Transitions++
	st.Since = now
	c.emit(c.eventLocked(reason, now))
}

func (c *checker) eventLocked(reason string, now time.Time) Event {
	return Event{
		Key:     c.target.Key,
		Addr:    c.target.Addr,
		Up:      c.status.Up,
		Weight:  c.status.Weight,
		Latency: c.status.LastLatency,
		Reason:  reason,
		At:      now,
	}
}
