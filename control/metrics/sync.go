package metrics

import "github.com/prometheus/client_golang/prometheus"

// SyncSample is the connection sync's counters at one instant (the daemon
// keeps them; see control/sync.go).
type SyncSample struct {
	DatagramsSent, DatagramsReceived, SendErrors uint64
	RecordsApplied                               uint64 // by every worker
	InFull                                       uint64 // records lost to a worker's full sync ring
	Bad                                          map[string]uint64
}

type syncDescs struct {
	sent, received, applied, bad, sendErrors, inFull *metricDesc
}

func (d *descs) addSync() {
	d.sync.sent = d.add(kindCounter, "fastlvs_sync_datagrams_sent_total", "Connection sync datagrams sent to the peer director.")
	d.sync.received = d.add(kindCounter, "fastlvs_sync_datagrams_received_total", "Sync datagrams from the peer accepted: authentic and not replayed.")
	d.sync.applied = d.add(kindCounter, "fastlvs_sync_records_applied_total", "The peer's connection records the workers took into their tables.")
	d.sync.bad = d.add(kindCounter, "fastlvs_sync_bad_datagrams_total", "Sync datagrams dropped, by reason (not_peer, malformed, bad_mac, replay), and records dropped (bad_record).", "reason")
	d.sync.sendErrors = d.add(kindCounter, "fastlvs_sync_send_errors_total", "Sync datagrams the socket refused to send.")
	d.sync.inFull = d.add(kindCounter, "fastlvs_sync_in_ring_full_total", "The peer's records lost because the owning worker's sync ring was full.")
}

func (c *collector) collectSync(ch chan<- prometheus.Metric, s SyncSample) {
	d := &c.d.sync
	counter(ch, d.sent, s.DatagramsSent)
	counter(ch, d.received, s.DatagramsReceived)
	counter(ch, d.applied, s.RecordsApplied)
	counter(ch, d.sendErrors, s.SendErrors)
	counter(ch, d.inFull, s.InFull)
	for reason, n := range s.Bad {
		counter(ch, d.bad, n, reason)
	}
}
