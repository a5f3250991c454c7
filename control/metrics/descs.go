package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"fastlvs/dataplane"
)

// kind is how a metric is exposed; a histogram adds _bucket, _sum and _count
// series to its name.
type kind uint8

const (
	kindCounter kind = iota
	kindGauge
	kindHistogram
)

var (
	workerLabels  = []string{"worker", "cpu", "iface", "queue"}
	serviceLabels = []string{"service", "vip", "port", "protocol"}
	realLabels    = append(append([]string(nil), serviceLabels...), "real", "real_port")
)

// metricDesc is one exported metric family.
type metricDesc struct {
	name string
	kind kind
	desc *prometheus.Desc
}

// descs holds every family the fastlvs collector emits. Describe sends them
// all and ExportedNames lists them, so the two never disagree.
type descs struct {
	all []*metricDesc

	workerCounts                    [dataplane.NumCounts]*metricDesc
	workerDrops, workerBatchSize    *metricDesc
	workerConns, workerConnCapacity *metricDesc
	workerUnderPressure             *metricDesc

	xskRxDropped, xskRxInvalidDescs, xskTxInvalidDescs, xskRxRingFull *metricDesc
	xskFillRingEmpty, xskTxRingEmpty, xskKicks, xskKickErrors         *metricDesc

	steerPackets, steerNoSocket *metricDesc

	serviceConns, serviceActive, serviceInactive                          *metricDesc
	serviceInPackets, serviceOutPackets, serviceInBytes, serviceOutBytes  *metricDesc
	overflowShedding, overflowLoadRatio, overflowShed, overflowShedActive *metricDesc

	realConns, realActive, realInactive, realWeight          *metricDesc
	realInPackets, realOutPackets, realInBytes, realOutBytes *metricDesc

	healthUp, healthLatency, healthChecks, healthFailures *metricDesc

	reloads, reloadFailures, readErrors, buildInfo *metricDesc

	sync syncDescs
}

func (d *descs) add(k kind, name, help string, labels ...string) *metricDesc {
	m := &metricDesc{name: name, kind: k, desc: prometheus.NewDesc(name, help, labels, nil)}
	d.all = append(d.all, m)
	return m
}

func newDescs() *descs {
	d := &descs{}
	withReason := append(append([]string(nil), workerLabels...), "reason")
	for c := range dataplane.NumCounts {
		info := c.Info()
		d.workerCounts[c] = d.add(kindCounter, "fastlvs_worker_"+info.Metric, info.Help, workerLabels...)
	}
	d.workerUnderPressure = d.add(kindGauge, "fastlvs_worker_conntrack_under_pressure", "1 while the worker's connection table is above its high-water mark (conntrack.pressure.high_percent).", workerLabels...)
	d.workerDrops = d.add(kindCounter, "fastlvs_worker_dropped_packets_total", "Frames the worker dropped, by reason.", withReason...)
	d.workerBatchSize = d.add(kindHistogram, "fastlvs_worker_rx_batch_size", "Frames returned per receive call on one socket; empty receives count in le=1.", workerLabels...)
	d.workerConns = d.add(kindGauge, "fastlvs_worker_connections", "Connections in the worker's table.", workerLabels...)
	d.workerConnCapacity = d.add(kindGauge, "fastlvs_worker_connections_capacity", "Connections the worker's table holds at most.", workerLabels...)

	d.xskRxDropped = d.add(kindCounter, "fastlvs_xsk_rx_dropped_total", "Frames the kernel dropped for this AF_XDP socket (XDP_STATISTICS rx_dropped).", workerLabels...)
	d.xskRxInvalidDescs = d.add(kindCounter, "fastlvs_xsk_rx_invalid_descs_total", "Invalid descriptors on the RX side of this socket.", workerLabels...)
	d.xskTxInvalidDescs = d.add(kindCounter, "fastlvs_xsk_tx_invalid_descs_total", "Invalid descriptors on the TX ring of this socket.", workerLabels...)
	d.xskRxRingFull = d.add(kindCounter, "fastlvs_xsk_rx_ring_full_total", "Frames dropped because the RX ring was full.", workerLabels...)
	d.xskFillRingEmpty = d.add(kindCounter, "fastlvs_xsk_fill_ring_empty_total", "Times the kernel found the fill ring empty.", workerLabels...)
	d.xskTxRingEmpty = d.add(kindCounter, "fastlvs_xsk_tx_ring_empty_total", "Times the kernel found the TX ring empty when woken.", workerLabels...)
	d.xskKicks = d.add(kindCounter, "fastlvs_xsk_tx_kicks_total", "sendto calls that woke the kernel to transmit.", workerLabels...)
	d.xskKickErrors = d.add(kindCounter, "fastlvs_xsk_tx_kick_errors_total", "TX wake-ups that failed.", workerLabels...)

	d.steerPackets = d.add(kindCounter, "fastlvs_steer_packets_total", "Frames the XDP steering program saw, by outcome: steered to a socket or passed to the kernel.", "iface", "outcome")
	d.steerNoSocket = d.add(kindCounter, "fastlvs_steer_no_socket_packets_total", "Frames to steer that went to the kernel because their queue had no AF_XDP socket.", "iface")

	d.serviceConns = d.add(kindCounter, "fastlvs_service_connections_total", "Connections scheduled for the service (ipvsadm --stats Conns).", serviceLabels...)
	d.serviceActive = d.add(kindGauge, "fastlvs_service_active_connections", "Active connections of the service's real servers (ActiveConn summed).", serviceLabels...)
	d.serviceInactive = d.add(kindGauge, "fastlvs_service_inactive_connections", "Inactive connections of the service's real servers (InActConn summed).", serviceLabels...)
	d.serviceInPackets = d.add(kindCounter, "fastlvs_service_in_packets_total", "Packets from clients to the service (InPkts).", serviceLabels...)
	d.serviceOutPackets = d.add(kindCounter, "fastlvs_service_out_packets_total", "Packets from the service to clients (OutPkts).", serviceLabels...)
	d.serviceInBytes = d.add(kindCounter, "fastlvs_service_in_bytes_total", "Bytes from clients to the service (InBytes).", serviceLabels...)
	d.serviceOutBytes = d.add(kindCounter, "fastlvs_service_out_bytes_total", "Bytes from the service to clients (OutBytes).", serviceLabels...)
	d.overflowShedding = d.add(kindGauge, "fastlvs_service_overflow_shedding", "1 while the service sends its new connections to the other site (overflow), else 0.", serviceLabels...)
	d.overflowLoadRatio = d.add(kindGauge, "fastlvs_service_overflow_load_ratio", "The service's load over its capacity, as overflow last measured it.", serviceLabels...)
	d.overflowShed = d.add(kindCounter, "fastlvs_service_overflow_shed_connections_total", "New connections of the service sent to the other site (overflow).", serviceLabels...)
	d.overflowShedActive = d.add(kindGauge, "fastlvs_service_overflow_shed_active_connections", "Connections shed to the other site that are still established.", serviceLabels...)

	d.realConns = d.add(kindCounter, "fastlvs_real_server_connections_total", "Connections scheduled to the real server.", realLabels...)
	d.realActive = d.add(kindGauge, "fastlvs_real_server_active_connections", "Active connections of the real server (ActiveConn).", realLabels...)
	d.realInactive = d.add(kindGauge, "fastlvs_real_server_inactive_connections", "Inactive connections of the real server (InActConn).", realLabels...)
	d.realWeight = d.add(kindGauge, "fastlvs_real_server_weight", "Weight in force, after health-check overrides (0 = quiesced).", realLabels...)
	d.realInPackets = d.add(kindCounter, "fastlvs_real_server_in_packets_total", "Packets from clients forwarded to the real server.", realLabels...)
	d.realOutPackets = d.add(kindCounter, "fastlvs_real_server_out_packets_total", "Packets from the real server back to clients.", realLabels...)
	d.realInBytes = d.add(kindCounter, "fastlvs_real_server_in_bytes_total", "Bytes from clients forwarded to the real server.", realLabels...)
	d.realOutBytes = d.add(kindCounter, "fastlvs_real_server_out_bytes_total", "Bytes from the real server back to clients.", realLabels...)

	d.healthUp = d.add(kindGauge, "fastlvs_health_up", "1 while the real server passes its health check.", realLabels...)
	d.healthLatency = d.add(kindGauge, "fastlvs_health_latency_seconds", "Duration of the last health check.", realLabels...)
	d.healthChecks = d.add(kindCounter, "fastlvs_health_checks_total", "Health checks run.", realLabels...)
	d.healthFailures = d.add(kindCounter, "fastlvs_health_check_failures_total", "Health checks that failed.", realLabels...)

	d.addSync()
	d.reloads = d.add(kindCounter, "fastlvs_config_reloads_total", "Configuration reloads applied.")
	d.reloadFailures = d.add(kindCounter, "fastlvs_config_reload_failures_total", "Configuration reloads refused (the running table stayed).")
	d.readErrors = d.add(kindCounter, "fastlvs_metrics_read_errors_total", "Socket or steering counters that could not be read during scrapes.")
	d.buildInfo = d.add(kindGauge, "fastlvs_build_info", "Always 1; the labels describe the running build.", "version", "revision", "goversion")
	return d
}

// seriesNames returns the names of the series a family exposes.
func (m *metricDesc) seriesNames() []string {
	if m.kind == kindHistogram {
		return []string{m.name + "_bucket", m.name + "_sum", m.name + "_count"}
	}
	return []string{m.name}
}
