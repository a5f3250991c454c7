package metrics

import (
	"runtime"
	"runtime/debug"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"fastlvs/control/health"
	"fastlvs/dataplane"
)

// Sources are what the daemon exports. Every field may be left zero; its
// metrics are then absent.
type Sources struct {
	Dataplane *dataplane.Dataplane
	// Reader replaces Dataplane when set: tests and ExportedNames feed fakes
	// through it.
	Reader Reader
	// Health returns the health checks' states keyed
	// "<proto>/<vip:port>/<real:port>", as control's health checks key them.
	Health                  func() map[string]health.Status
	Reloads, ReloadFailures func() uint64
	// Sync reads the connection sync's counters; nil when sync is off.
	Sync func() SyncSample
	// ConnCapacity is each worker's connection-table capacity
	// (Dataplane.ConnCapacityPerWorker); 0 leaves
	// fastlvs_worker_connections_capacity out.
	ConnCapacity int
}

// NewRegistry returns a registry holding the fastlvs collector and the Go
// runtime and process collectors.
func NewRegistry(s Sources) *prometheus.Registry {
	reader := s.Reader
	if reader == nil && s.Dataplane != nil {
		reader = newDataplaneReader(s.Dataplane, s.ConnCapacity)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		newCollector(reader, s),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}

// ExportedNames lists every series name a fastlvs daemon can expose: the
// fastlvs families as the collector describes them (histograms with their
// _bucket, _sum and _count series) and what the Go and process collectors
// expose here. The dashboard test checks its queries against it.
func ExportedNames() ([]string, error) {
	var names []string
	for _, m := range newDescs().all {
		names = append(names, m.seriesNames()...)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	families, err := reg.Gather()
	if err != nil {
		return nil, err
	}
	for _, f := range families {
		m := &metricDesc{name: f.GetName()}
		if f.GetType().String() == "HISTOGRAM" {
			m.kind = kindHistogram
		}
		names = append(names, m.seriesNames()...)
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// buildLabels describes the running binary for fastlvs_build_info.
func buildLabels() [3]string {
	version, revision := "unknown", "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		if info.Main.Version != "" {
			version = info.Main.Version
		}
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	return [3]string{version, revision, runtime.Version()}
}
