package metrics

import (
	"errors"
	"net/netip"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"fastlvs/dataplane"
	"fastlvs/dataplane/steer"
)

// fakeReader returns fixed samples.
type fakeReader struct {
	workers  []WorkerSample
	sockets  []SocketSample
	steering []SteeringSample
	services []ServiceSample
}

func (f *fakeReader) Workers() []WorkerSample    { return f.workers }
func (f *fakeReader) Sockets() []SocketSample    { return f.sockets }
func (f *fakeReader) Steering() []SteeringSample { return f.steering }
func (f *fakeReader) Services() []ServiceSample  { return f.services }

// populatedReader has every kind of row: two workers on two interfaces, one
// unreadable socket, one NAT service with two real servers.
func populatedReader() *fakeReader {
	w0 := WorkerSample{ID: 0, CPU: 1, Conns: 5, ConnCapacity: 1000, BatchFrames: 100}
	for c, v := range map[dataplane.Count]uint64{
		dataplane.CountRxPackets: 100, dataplane.CountRxBytes: 6400, dataplane.CountTxPackets: 90, dataplane.CountTxBytes: 5760,
		dataplane.CountHandoffIn: 3, dataplane.CountHandoffOut: 4, dataplane.CountBusyPolls: 20, dataplane.CountIdlePolls: 80,
		dataplane.CountNewConns: 7,
	} {
		w0.Counts[c] = v
	}
	w0.Drops[dataplane.DropReplyNoConn] = 6
	w0.Drops[dataplane.DropTxRingFull] = 4
	w0.Batches[0] = 80 // empty or single-frame receives
	w0.Batches[3] = 12 // 5..8 frames
	w0.Batches[5] = 1  // 17..32 frames
	w1 := WorkerSample{ID: 1, CPU: 0, ConnCapacity: 1000, BatchFrames: 1}
	w1.Counts[dataplane.CountRxPackets] = 1
	w1.Batches[0] = 9
	sock := func(iface string, q, cpu int, dropped uint64) SocketSample {
		s := SocketSample{Iface: iface, Queue: q, Worker: q, CPU: cpu}
		s.Stats.Rx_dropped = dropped
		s.Stats.Rx_ring_full = dropped / 2
		s.Stats.Kicks = 11
		return s
	}
	return &fakeReader{
		workers: []WorkerSample{w0, w1},
		sockets: []SocketSample{
			sock("eth0", 0, 1, 10), sock("eth0", 1, 0, 20), sock("eth1", 0, 1, 30),
			{Iface: "eth1", Queue: 1, Worker: 1, Err: errors.New("bad fd")},
		},
		steering: []SteeringSample{
			{Iface: "eth0", Stats: steer.Stats{SteeredService: 50, SteeredNATReply: 40, Passed: 9, NoSocket: 1}},
			{Iface: "eth1", Stats: steer.Stats{PassedFragment: 2}},
		},
		services: []ServiceSample{{
			Name: "dns", VIP: netip.MustParseAddr("198.18.0.10"), Port: 53, Proto: dataplane.ProtoUDP,
			Traffic: dataplane.TrafficTotals{Conns: 12, InPackets: 50, OutPackets: 40, InBytes: 3000, OutBytes: 2400},
			Reals: []RealSample{
				{Addr: netip.MustParseAddr("198.18.2.11"), Port: 53, Weight: 1, Active: 0, Inactive: 7,
					Traffic: dataplane.TrafficTotals{Conns: 7, InPackets: 30, OutPackets: 25, InBytes: 1800, OutBytes: 1500}},
				{Addr: netip.MustParseAddr("198.18.2.12"), Port: 0, Weight: 3, Active: 2, Inactive: 3,
					Traffic: dataplane.TrafficTotals{Conns: 5, InPackets: 20, OutPackets: 15, InBytes: 1200, OutBytes: 900}},
			},
			Overflow: &OverflowSample{To: netip.MustParseAddr("198.18.9.1"), Shedding: true, LoadRatio: 1.25,
				Traffic: dataplane.TrafficTotals{Conns: 4}, Active: 2},
		}},
	}
}

// series gathers reg into "name{label="value",...}" → value, labels sorted
// by name as the text format writes them. Histograms contribute _count and
// _sum rows.
func series(tb testing.TB, reg *prometheus.Registry) map[string]float64 {
	tb.Helper()
	families, err := reg.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+`="`+l.GetValue()+`"`)
			}
			sort.Strings(pairs)
			labels := "{" + strings.Join(pairs, ",") + "}"
			switch {
			case m.Counter != nil:
				out[f.GetName()+labels] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[f.GetName()+labels] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[f.GetName()+"_count"+labels] = float64(m.GetHistogram().GetSampleCount())
				out[f.GetName()+"_sum"+labels] = m.GetHistogram().GetSampleSum()
			case m.Untyped != nil:
				out[f.GetName()+labels] = m.GetUntyped().GetValue()
			}
		}
	}
	return out
}
