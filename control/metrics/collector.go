package metrics

import (
	"net/netip"
	"strconv"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"fastlvs/dataplane"
	"fastlvs/dataplane/steer"
)

// collector turns a Reader and the control plane's counters into constant
// metrics on each scrape. It keeps no per-series state: series of removed
// services and real servers simply stop being emitted.
type collector struct {
	d          *descs
	reader     Reader // nil: no dataplane rows
	src        Sources
	build      [3]string // version, revision, goversion
	readErrors atomic.Uint64
}

func newCollector(reader Reader, src Sources) *collector {
	return &collector{d: newDescs(), reader: reader, src: src, build: buildLabels()}
}

// Describe sends every family the collector can emit.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.d.all {
		ch <- m.desc
	}
}

// Collect reads every counter once and emits it.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	var services []ServiceSample
	if c.reader != nil {
		c.collectWorkers(ch, c.reader.Workers())
		c.collectSockets(ch, c.reader.Sockets())
		c.collectSteering(ch, c.reader.Steering())
		services = c.reader.Services()
		c.collectServices(ch, services)
	}
	if c.src.Health != nil {
		c.collectHealth(ch, c.src.Health(), services)
	}
	if c.src.Sync != nil {
		c.collectSync(ch, c.src.Sync())
	}
	if c.src.Reloads != nil {
		counter(ch, c.d.reloads, c.src.Reloads())
	}
	if c.src.ReloadFailures != nil {
		counter(ch, c.d.reloadFailures, c.src.ReloadFailures())
	}
	counter(ch, c.d.readErrors, c.readErrors.Load())
	ch <- prometheus.MustNewConstMetric(c.d.buildInfo.desc, prometheus.GaugeValue, 1, c.build[:]...)
}

func counter(ch chan<- prometheus.Metric, m *metricDesc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, m *metricDesc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, v, labels...)
}

func workerLabelValues(worker, cpu int, iface string, queue int) []string {
	return []string{strconv.Itoa(worker), strconv.Itoa(cpu), iface, strconv.Itoa(queue)}
}

func (c *collector) collectWorkers(ch chan<- prometheus.Metric, workers []WorkerSample) {
	d := c.d
	for i := range workers {
		w := &workers[i]
		// A worker serves queue w.ID of every interface; its own counters
		// cover all of them.
		l := workerLabelValues(w.ID, w.CPU, "all", w.ID)
		for c, v := range w.Counts {
			counter(ch, d.workerCounts[c], v, l...)
		}
		for reason := dataplane.Drop(0); reason < dataplane.NumDrops; reason++ {
			counter(ch, d.workerDrops, w.Drops[reason], append(l, reason.String())...)
		}
		ch <- batchHistogram(d.workerBatchSize.desc, w, l)
		gauge(ch, d.workerConns, float64(w.Conns), l...)
		gauge(ch, d.workerUnderPressure, b2f(w.UnderPressure), l...)
		if w.ConnCapacity > 0 {
			gauge(ch, d.workerConnCapacity, float64(w.ConnCapacity), l...)
		}
	}
}

// batchHistogram turns the per-bucket batch counts into Prometheus's
// cumulative buckets.
func batchHistogram(desc *prometheus.Desc, w *WorkerSample, labels []string) prometheus.Metric {
	buckets := make(map[float64]uint64, len(dataplane.BatchBuckets))
	var cumulative uint64
	for i, bound := range dataplane.BatchBuckets {
		cumulative += w.Batches[i]
		buckets[float64(bound)] = cumulative
	}
	count := cumulative + w.Batches[len(dataplane.BatchBuckets)]
	return prometheus.MustNewConstHistogram(desc, count, float64(w.BatchFrames), buckets, labels...)
}

func (c *collector) collectSockets(ch chan<- prometheus.Metric, sockets []SocketSample) {
	d := c.d
	for i := range sockets {
		s := &sockets[i]
		if s.Err != nil {
			c.readErrors.Add(1)
			continue
		}
		l := workerLabelValues(s.Worker, s.CPU, s.Iface, s.Queue)
		k := &s.Stats.XDPStatistics
		counter(ch, d.xskRxDropped, k.Rx_dropped, l...)
		counter(ch, d.xskRxInvalidDescs, k.Rx_invalid_descs, l...)
		counter(ch, d.xskTxInvalidDescs, k.Tx_invalid_descs, l...)
		counter(ch, d.xskRxRingFull, k.Rx_ring_full, l...)
		counter(ch, d.xskFillRingEmpty, k.Rx_fill_ring_empty_descs, l...)
		counter(ch, d.xskTxRingEmpty, k.Tx_ring_empty_descs, l...)
		counter(ch, d.xskKicks, s.Stats.Kicks, l...)
		counter(ch, d.xskKickErrors, s.Stats.KickErrors, l...)
	}
}

// steerOutcomes names the steering program's outcome counters; every frame
// it sees counts in exactly one.
var steerOutcomes = [...]struct {
	name  string
	value func(*steer.Stats) uint64
}{
	{"service", func(s *steer.Stats) uint64 { return s.SteeredService }},
	{"nat_reply", func(s *steer.Stats) uint64 { return s.SteeredNATReply }},
	{"fullnat_reply", func(s *steer.Stats) uint64 { return s.SteeredFullNATReply }},
	{"icmp_error", func(s *steer.Stats) uint64 { return s.SteeredICMPError }},
	{"fragment", func(s *steer.Stats) uint64 { return s.SteeredFragment }},
	{"overflow_tunnel", func(s *steer.Stats) uint64 { return s.SteeredTunnel }},
	{"passed", func(s *steer.Stats) uint64 { return s.Passed }},
	{"passed_fragment", func(s *steer.Stats) uint64 { return s.PassedFragment }},
}

func (c *collector) collectSteering(ch chan<- prometheus.Metric, steering []SteeringSample) {
	for i := range steering {
		s := &steering[i]
		if s.Err != nil {
			c.readErrors.Add(1)
			continue
		}
		for _, o := range steerOutcomes {
			counter(ch, c.d.steerPackets, o.value(&s.Stats), s.Iface, o.name)
		}
		counter(ch, c.d.steerNoSocket, s.Stats.NoSocket, s.Iface)
	}
}

func protocolName(proto uint8) string {
	switch proto {
	case dataplane.ProtoTCP:
		return "tcp"
	case dataplane.ProtoUDP:
		return "udp"
	}
	return strconv.Itoa(int(proto))
}

func serviceLabelValues(s *ServiceSample) []string {
	return []string{s.Name, s.VIP.Unmap().String(), strconv.Itoa(int(s.Port)), protocolName(s.Proto)}
}

func realLabelValues(svc []string, addr netip.Addr, port uint16) []string {
	return append(append(make([]string, 0, len(svc)+2), svc...), addr.Unmap().String(), strconv.Itoa(int(port)))
}

func (c *collector) collectServices(ch chan<- prometheus.Metric, services []ServiceSample) {
	d := c.d
	for i := range services {
		s := &services[i]
		l := serviceLabelValues(s)
		var active, inactive int64
		for j := range s.Reals {
			r := &s.Reals[j]
			active += r.Active
			inactive += r.Inactive
			rl := realLabelValues(l, r.Addr, r.Port)
			counter(ch, d.realConns, r.Traffic.Conns, rl...)
			gauge(ch, d.realActive, float64(r.Active), rl...)
			gauge(ch, d.realInactive, float64(r.Inactive), rl...)
			gauge(ch, d.realWeight, float64(r.Weight), rl...)
			counter(ch, d.realInPackets, r.Traffic.InPackets, rl...)
			counter(ch, d.realOutPackets, r.Traffic.OutPackets, rl...)
			counter(ch, d.realInBytes, r.Traffic.InBytes, rl...)
			counter(ch, d.realOutBytes, r.Traffic.OutBytes, rl...)
		}
		counter(ch, d.serviceConns, s.Traffic.Conns, l...)
		gauge(ch, d.serviceActive, float64(active), l...)
		gauge(ch, d.serviceInactive, float64(inactive), l...)
		counter(ch, d.serviceInPackets, s.Traffic.InPackets, l...)
		counter(ch, d.serviceOutPackets, s.Traffic.OutPackets, l...)
		counter(ch, d.serviceInBytes, s.Traffic.InBytes, l...)
		counter(ch, d.serviceOutBytes, s.Traffic.OutBytes, l...)
		if o := s.Overflow; o != nil {
			gauge(ch, d.overflowShedding, b2f(o.Shedding), l...)
			gauge(ch, d.overflowLoadRatio, o.LoadRatio, l...)
			counter(ch, d.overflowShed, o.Traffic.Conns, l...)
			gauge(ch, d.overflowShedActive, float64(o.Active), l...)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
