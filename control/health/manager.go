package health

import (
	"context"
	"log/slog"
	"reflect"
	"runtime"
	"sync"
	"time"
)

// DefaultNotifyTimeout bounds one notification (script or webhook).
const DefaultNotifyTimeout = 5 * time.Second

// Options tune a Manager. The zero value is usable.
type Options struct {
	// OnChange is called for every transition, one call at a time, in order.
	OnChange func(Event)
	// Notifier, if set, runs once per transition, after OnChange and on its
	// own goroutine so a slow hook never delays OnChange.
	Notifier *Notifier
	// NotifyTimeout bounds one notification; 0 = DefaultNotifyTimeout.
	NotifyTimeout time.Duration
	// OnNotifyError receives failed notifications; nil logs them.
	OnNotifyError func(Event, error)
	// ExecConcurrency bounds exec checks running at once; 0 = 8 per CPU.
	ExecConcurrency int
}

// Manager runs one checker per target and reports transitions.
type Manager struct {
	opts   Options
	env    checkEnv
	ctx    context.Context
	cancel context.CancelFunc

	changes *eventQueue
	notices *eventQueue // nil without a Notifier

	updateMu sync.Mutex // serializes Update and Close
	closed   bool

	mu       sync.Mutex // guards checkers
	checkers map[string]*checker

	// retired remembers the last status of targets that Update removed
	// (guarded by updateMu): a target that comes back resumes it, so a
	// server taken out by its check and then removed and re-added is not
	// put back in rotation, untested, by a fresh "up".
	retired map[string]retiredStatus
}

// retiredStatus is a removed target's last status and when it was removed.
type retiredStatus struct {
	status Status
	at     time.Time
}

// RetiredMemory is how long a removed target's status is remembered.
const RetiredMemory = time.Hour

// NewManager returns a Manager calling onChange (may be nil) for every
// transition, serialized.
func NewManager(onChange func(Event)) *Manager {
	return NewManagerWithOptions(Options{OnChange: onChange})
}

// NewManagerWithNotifier is NewManager that also fires n once per transition.
func NewManagerWithNotifier(onChange func(Event), n *Notifier) *Manager {
	return NewManagerWithOptions(Options{OnChange: onChange, Notifier: n})
}

// NewManagerWithOptions returns a Manager tuned by opts.
func NewManagerWithOptions(opts Options) *Manager {
	if opts.ExecConcurrency <= 0 {
		opts.ExecConcurrency = 8 * runtime.NumCPU()
	}
	if opts.NotifyTimeout <= 0 {
		opts.NotifyTimeout = DefaultNotifyTimeout
	}
	m := &Manager{
		opts:     opts,
		env:      checkEnv{execSlots: make(chan struct{}, opts.ExecConcurrency)},
		changes:  newEventQueue(),
		checkers: make(map[string]*checker),
		retired:  make(map[string]retiredStatus),
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	go m.changes.routineConsume(m.deliverChange)
	if opts.Notifier != nil {
		m.notices = newEventQueue()
		go m.notices.routineConsume(m.deliverNotice)
	}
	return m
}

func (m *Manager) emit(e Event) { m.changes.push(e) }

func (m *Manager) deliverChange(e Event) {
	if m.opts.OnChange != nil {
		m.opts.OnChange(e)
	}
	if m.notices != nil {
		m.notices.push(e)
	}
}

func (m *Manager) deliverNotice(e Event) {
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.NotifyTimeout)
	defer cancel()
	err := m.opts.Notifier.Notify(ctx, e)
	if err == nil {
		return
	}
	if m.opts.OnNotifyError != nil {
		m.opts.OnNotifyError(e, err)
		return
	}
	slog.Warn("health notify failed", "target", e.Key, "up", e.Up, "err", err)
}

// Update makes targets the checked set: it starts new keys, stops removed
// ones and restarts keys whose address or spec changed, keeping their
// up/down state. Unchanged keys keep running untouched. A key removed and
// later given again (within RetiredMemory) resumes its last state; Forget
// drops that memory. A later duplicate key wins.
func (m *Manager) Update(targets []Target) {
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	if m.closed {
		return
	}
	want := make(map[string]Target, len(targets))
	for _, t := range targets {
		t.Spec = t.Spec.withDefaults()
		want[t.Key] = t
	}

	m.mu.Lock()
	current := m.checkers
	m.mu.Unlock()

	var stopped []*checker
	for key, c := range current {
		if t, ok := want[key]; !ok || !sameTarget(c.target, t) {
			c.stop()
			stopped = append(stopped, c)
		}
	}
	now := time.Now()
	for _, c := range stopped {
		<-c.done // its final state is now stable
		if _, kept := want[c.target.Key]; !kept {
			m.retired[c.target.Key] = retiredStatus{status: c.snapshot(), at: now}
		}
	}
	for key, r := range m.retired {
		if now.Sub(r.at) > RetiredMemory {
			delete(m.retired, key)
		}
	}

	next := make(map[string]*checker, len(want))
	var started []*checker
	for key, t := range want {
		if c, ok := current[key]; ok && sameTarget(c.target, t) {
			next[key] = c
			continue
		}
		var prev *Status
		if c, ok := current[key]; ok {
			st := c.snapshot()
			prev = &st
		} else if r, ok := m.retired[key]; ok {
			prev = &r.status
		}
		delete(m.retired, key)
		c := newChecker(t, prev, &m.env, m.emit)
		next[key] = c
		started = append(started, c)
	}
	m.mu.Lock()
	m.checkers = next
	m.mu.Unlock()
	for _, c := range started {
		c.start(m.ctx)
	}
}

// Forget drops what is remembered of removed targets keys, so that if they
// come back they start afresh (the caller has stopped checking them on
// purpose, e.g. their check was turned off).
func (m *Manager) Forget(keys ...string) {
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	for _, key := range keys {
		delete(m.retired, key)
	}
}

func sameTarget(a, b Target) bool {
	return a.Addr == b.Addr && reflect.DeepEqual(a.Spec, b.Spec)
}

// Status returns the state of one target.
func (m *Manager) Status(key string) (Status, bool) {
	m.mu.Lock()
	c, ok := m.checkers[key]
	m.mu.Unlock()
	if !ok {
		return Status{}, false
	}
	return c.snapshot(), true
}

// Statuses returns the state of every target, by key.
func (m *Manager) Statuses() map[string]Status {
	m.mu.Lock()
	all := make([]*checker, 0, len(m.checkers))
	for _, c := range m.checkers {
		all = append(all, c)
	}
	m.mu.Unlock()
	out := make(map[string]Status, len(all))
	for _, c := range all {
		out[c.target.Key] = c.snapshot()
	}
	return out
}

// Close stops every checker, then delivers the transitions already queued
// (notifications included) before returning.
func (m *Manager) Close() {
	m.updateMu.Lock()
	defer m.updateMu.Unlock()
	if m.closed {
		return
	}
	m.closed = true
	m.cancel()
	m.mu.Lock()
	all := m.checkers
	m.mu.Unlock()
	for _, c := range all {
		<-c.done
	}
	m.changes.close()
	if m.notices != nil {
		m.notices.close()
	}
}
