package metrics

import "github.com/prometheus/client_golang/prometheus"

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

	workerRxPackets, workerRxBytes, workerTxPackets, workerTxBytes *metricDesc
	workerDrops, workerHandoffIn, workerHandoffOut                 *metricDesc
	workerBatchSize, workerBusyPolls, workerIdlePolls              *metricDesc
	workerConns, workerConnCapacity, workerConnsCreated            *metricDesc
	workerEvictions, workerFragNeeded, workerLearnedHops           *metricDesc
	workerSyncPublished, workerSyncOutFull                         *metricDesc
	workerSyncApplied, workerSyncUnknown                           *metricDesc

	xskRxDropped, xskRxInvalidDescs, xskTxInvalidDescs, xskRxRingFull *metricDesc
	xskFillRingEmpty, xskTxRingEmpty, xskKicks, xskKickErrors         *metricDesc

	steerPackets, steerNoSocket *metricDesc

	serviceConns, serviceActive, serviceInactive                         *metricDesc
	serviceInPackets, serviceOutPackets, serviceInBytes, serviceOutBytes *metricDesc

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
	d.workerRxPackets = d.add(kindCounter, "fastlvs_worker_rx_packets_total", "Frames the worker received from its AF_XDP sockets.", workerLabels...)
	d.workerRxBytes = d.add(kindCounter, "fastlvs_worker_rx_bytes_total", "Bytes of the frames the worker received, Ethernet header included.", workerLabels...)
	d.workerTxPackets = d.add(kindCounter, "fastlvs_worker_tx_packets_total", "Frames the worker put on its TX rings.", workerLabels...)
	d.workerTxBytes = d.add(kindCounter, "fastlvs_worker_tx_bytes_total", "Bytes of the frames the worker transmitted.", workerLabels...)
	d.workerDrops = d.add(kindCounter, "fastlvs_worker_dropped_packets_total", "Frames the worker dropped, by reason.", withReason...)
	d.workerHandoffIn = d.add(kindCounter, "fastlvs_worker_handoff_in_packets_total", "Frames other workers handed to this one, the owner of their connection.", workerLabels...)
	d.workerHandoffOut = d.add(kindCounter, "fastlvs_worker_handoff_out_packets_total", "Frames this worker handed to the worker owning their connection.", workerLabels...)
	d.workerBatchSize = d.add(kindHistogram, "fastlvs_worker_rx_batch_size", "Frames returned per receive call on one socket; empty receives count in le=1.", workerLabels...)
	d.workerBusyPolls = d.add(kindCounter, "fastlvs_worker_busy_polls_total", "Polls that found frames to handle.", workerLabels...)
	d.workerIdlePolls = d.add(kindCounter, "fastlvs_worker_idle_polls_total", "Polls that found nothing to do.", workerLabels...)
	d.workerEvictions = d.add(kindCounter, "fastlvs_worker_connections_evicted_total", "Connections replaced by a new one whose replies carry the same tuple (a client reusing its port).", workerLabels...)
	d.workerFragNeeded = d.add(kindCounter, "fastlvs_worker_frag_needed_sent_total", "ICMP fragmentation-needed answers to tunnel packets over the egress MTU.", workerLabels...)
	d.workerSyncPublished = d.add(kindCounter, "fastlvs_worker_sync_published_total", "Connections the worker published for the peer director.", workerLabels...)
	d.workerSyncOutFull = d.add(kindCounter, "fastlvs_worker_sync_out_full_total", "Connections not published for the peer: the worker's sync ring was full.", workerLabels...)
	d.workerSyncApplied = d.add(kindCounter, "fastlvs_worker_sync_applied_total", "The peer director's connections taken into this worker's table.", workerLabels...)
	d.workerSyncUnknown = d.add(kindCounter, "fastlvs_worker_sync_unknown_total", "The peer's connections this worker refused: a bad field, a service or real server this director does not have, a FULLNAT local port not its own or already held.", workerLabels...)
	d.workerLearnedHops = d.add(kindCounter, "fastlvs_worker_learned_next_hop_packets_total", "Replies sent to a next hop learned from the client's own packet, before the kernel's neighbour entry reached the snapshot.", workerLabels...)
	d.workerConns = d.add(kindGauge, "fastlvs_worker_connections", "Connections in the worker's table.", workerLabels...)
	d.workerConnCapacity = d.add(kindGauge, "fastlvs_worker_connections_capacity", "Connections the worker's table holds at most.", workerLabels...)
	d.workerConnsCreated = d.add(kindCounter, "fastlvs_worker_connections_created_total", "Connections the worker created.", workerLabels...)

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
