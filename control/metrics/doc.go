// Package metrics exports the fastlvs daemon's counters to Prometheus.
//
// Nothing here runs on the packet path. Workers keep their own padded atomic
// counters (dataplane.WorkerStats, the per-worker Traffic of every service and
// real server); on each scrape the collector loads them and emits constant
// metrics, so a scrape costs the workers nothing: no lock, no allocation, no
// shared write.
//
// The collector reads through the Reader interface rather than
// *dataplane.Dataplane, so that tests (and ExportedNames) can feed it fakes;
// NewRegistry adapts a live dataplane with dataplaneReader.
//
// Label sets:
//   - per worker and per AF_XDP socket: worker, cpu, iface, queue. One worker
//     serves one queue index on every interface, so queue equals the worker id.
//     Numbers a worker counts over all its sockets carry iface="all".
//   - per service: service, vip, port, protocol; per real server also real
//     and real_port. These are the numbers ipvsadm --stats shows.
//   - steering (the XDP program): iface, and outcome where it applies.
//
// Busy/idle ratios, rates and table use are left to PromQL (see
// deploy/grafana/fastlvs.json).
package metrics
