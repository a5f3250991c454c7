package control

import (
	"context"
	"log/slog"
	"time"

	"fastlvs/control/api"
	"fastlvs/dataplane"
)

// overflowInterval is how often services' overflow load is measured: short
// against a connection's life, so a site that fills up sheds within a
// fraction of a second, and cheap (a few atomic loads per real server).
const overflowInterval = 100 * time.Millisecond

// overflowIdleInterval is how often the table is looked at while no service
// overflows: a reload that adds overflow is measured this much later at most,
// and a director without overflow does not wake ten times a second for it.
const overflowIdleInterval = time.Second

// RoutineOverflow measures every overflow service's load and flips its
// shedding state (dataplane/overflow.go) until ctx ends. Workers read the
// state when they create a connection; nothing here touches them.
func (d *Daemon) RoutineOverflow(ctx context.Context) {
	slog.Debug("overflow measurement started", "interval", overflowInterval)
	defer slog.Debug("overflow measurement stopped")
	timer := time.NewTimer(overflowInterval)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		next := overflowIdleInterval
		if t := d.dp.Table(); t != nil && t.HasOverflow() {
			t.UpdateOverflow()
			next = overflowInterval
		}
		timer.Reset(next)
	}
}

// overflowToAPI reports the overflow of service key in table t, nil when it
// has none.
func overflowToAPI(t *dataplane.Table, key dataplane.ServiceKey) *api.Overflow {
	if t == nil {
		return nil
	}
	for i := range t.Services() {
		svc := &t.Services()[i]
		target := svc.OverflowReal()
		if svc.Key != key || target == nil {
			continue
		}
		o, st := &svc.Spec.Overflow, &svc.State.Overflow
		return &api.Overflow{To: o.To, High: o.High, Low: o.Low, Capacity: svc.OverflowCapacity(),
			Shedding: st.Shedding(), LoadRatio: st.LoadRatio(),
			ShedConns: dataplane.Sum(target.State.Stats).Conns, ActiveConns: target.State.Load.Active()}
	}
	return nil
}
