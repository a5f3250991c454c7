package monitor

import (
	"context"
	"sync"
	"time"

	"fastlvs/dataplane"
)

// historyLength is how many one-second samples each core's chart keeps.
const historyLength = 180

// CoreSample is one worker's rates over one sampling interval.
type CoreSample struct {
	At        int64   `json:"at"` // unix milliseconds
	RxPackets float64 `json:"rx_pps"`
	TxPackets float64 `json:"tx_pps"`
	RxBytes   float64 `json:"rx_bps"`
	TxBytes   float64 `json:"tx_bps"`
}

// DropRate is one drop reason over all workers.
type DropRate struct {
	Reason string  `json:"reason"`
	Total  uint64  `json:"total"`
	Rate   float64 `json:"rate"`
}

// workerCounters is what one sample reads of a worker.
type workerCounters struct {
	rxPackets, txPackets, rxBytes, txBytes uint64
	drops                                  [dataplane.NumDrops]uint64
}

func readWorker(w *dataplane.Worker) workerCounters {
	s := w.Stats
	c := workerCounters{
		rxPackets: s.Count(dataplane.CountRxPackets), txPackets: s.Count(dataplane.CountTxPackets),
		rxBytes: s.Count(dataplane.CountRxBytes), txBytes: s.Count(dataplane.CountTxBytes),
	}
	for d := range c.drops {
		c.drops[d] = s.Drops[d].Load()
	}
	return c
}

// rate is a counter's increase per second; a counter that went down was
// reset and counts from zero.
func rate(now, before uint64, seconds float64) float64 {
	if now < before {
		return float64(now) / seconds
	}
	return float64(now-before) / seconds
}

// sampler reads the workers' counters once a second and keeps each core's
// recent rates; the event streams wait on it.
type sampler struct {
	workers []*dataplane.Worker
	length  int

	mu      sync.Mutex
	last    []workerCounters
	lastAt  time.Time
	history [][]CoreSample // per worker, oldest first
	drops   []DropRate
	reloads reloadOutcome
	sources Sources
	ticked  chan struct{} // closed and replaced at every sample
}

// reloadOutcome is what the monitor saw of the reload counters: the
// daemon counts reloads and failures, and a counter that moved between two
// samples tells when and how the last reload ended.
type reloadOutcome struct {
	Reloads  uint64 `json:"reloads"`
	Failures uint64 `json:"failures"`
	Last     string `json:"last"`    // "", "applied" or "refused"
	LastAt   int64  `json:"last_at"` // unix milliseconds, when the monitor saw it
}

func newSampler(sources Sources, length int) *sampler {
	return &sampler{workers: sources.Workers, sources: sources, length: length,
		history: make([][]CoreSample, len(sources.Workers)), ticked: make(chan struct{})}
}

// routineSample samples every interval until ctx ends.
func (s *sampler) routineSample(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	s.sample(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			s.sample(now)
		}
	}
}

func (s *sampler) sample(now time.Time) {
	current := make([]workerCounters, len(s.workers))
	for i, w := range s.workers {
		current[i] = readWorker(w)
	}
	s.record(now, current)
}

// record folds one reading of the workers' counters in.
func (s *sampler) record(now time.Time, current []workerCounters) {
	reloads, failures := s.readReloads()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.last != nil {
		seconds := now.Sub(s.lastAt).Seconds()
		var dropTotals, dropBefore [dataplane.NumDrops]uint64
		for i := range current {
			cur, prev := &current[i], &s.last[i]
			point := CoreSample{
				At:        now.UnixMilli(),
				RxPackets: rate(cur.rxPackets, prev.rxPackets, seconds), TxPackets: rate(cur.txPackets, prev.txPackets, seconds),
				RxBytes: rate(cur.rxBytes, prev.rxBytes, seconds), TxBytes: rate(cur.txBytes, prev.txBytes, seconds),
			}
			s.history[i] = append(s.history[i], point)
			if over := len(s.history[i]) - s.length; over > 0 {
				s.history[i] = append(s.history[i][:0], s.history[i][over:]...)
			}
			for d := range cur.drops {
				dropTotals[d] += cur.drops[d]
				dropBefore[d] += prev.drops[d]
			}
		}
		s.drops = s.drops[:0]
		for d := range dropTotals {
			if dropTotals[d] > 0 {
				s.drops = append(s.drops, DropRate{Reason: dataplane.Drop(d).String(), Total: dropTotals[d], Rate: rate(dropTotals[d], dropBefore[d], seconds)})
			}
		}
		switch {
		case failures > s.reloads.Failures:
			s.reloads.Last, s.reloads.LastAt = "refused", now.UnixMilli()
		case reloads > s.reloads.Reloads:
			s.reloads.Last, s.reloads.LastAt = "applied", now.UnixMilli()
		}
	}
	s.reloads.Reloads, s.reloads.Failures = reloads, failures
	s.last, s.lastAt = current, now
	close(s.ticked)
	s.ticked = make(chan struct{})
}

func (s *sampler) readReloads() (reloads, failures uint64) {
	if s.sources.Reloads != nil {
		reloads = s.sources.Reloads()
	}
	if s.sources.ReloadFailures != nil {
		failures = s.sources.ReloadFailures()
	}
	return reloads, failures
}

// next is closed at the next sample.
func (s *sampler) next() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ticked
}

// cores returns each worker's samples: all of its history, or only the
// latest when latestOnly.
func (s *sampler) cores(latestOnly bool) []CoreState {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CoreState, len(s.workers))
	for i, w := range s.workers {
		out[i] = CoreState{Worker: w.ID, CPU: w.CPU, Connections: w.Stats.Conns.Load()}
		h := s.history[i]
		if latestOnly && len(h) > 0 {
			h = h[len(h)-1:]
		}
		out[i].Samples = append([]CoreSample(nil), h...)
	}
	return out
}

func (s *sampler) dropsAndReloads() ([]DropRate, reloadOutcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]DropRate(nil), s.drops...), s.reloads
}
