package control

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"fastlvs/dataplane"
)

// RoutinePrintStats writes one line per worker every interval: packet rates
// since the last line and drops by reason. It is what `fastlvs demo` shows.
func RoutinePrintStats(ctx context.Context, dp *dataplane.Dataplane, interval time.Duration, out io.Writer) {
	type snapshot struct{ rx, tx, drops uint64 }
	prev := make([]snapshot, len(dp.Workers))
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		secs := interval.Seconds()
		var b strings.Builder
		for i, w := range dp.Workers {
			s := w.Stats
			cur := snapshot{rx: s.Count(dataplane.CountRxPackets), tx: s.Count(dataplane.CountTxPackets)}
			var reasons []string
			for d := dataplane.Drop(0); d < dataplane.NumDrops; d++ {
				if n := s.Drops[d].Load(); n > 0 {
					cur.drops += n
					reasons = append(reasons, fmt.Sprintf("%s=%d", d, n))
				}
			}
			// The kernel's own drops before a frame reaches the worker.
			for _, port := range dp.Ports {
				if st, err := port.Sockets[i].Stats(); err == nil {
					for _, k := range []struct {
						name  string
						value uint64
					}{{"rx_dropped", st.Rx_dropped}, {"rx_ring_full", st.Rx_ring_full}, {"fill_ring_empty", st.Rx_fill_ring_empty_descs}} {
						if k.value > 0 {
							reasons = append(reasons, fmt.Sprintf("%s:%s=%d", port.Name, k.name, k.value))
						}
					}
				}
			}
			fmt.Fprintf(&b, "worker %d cpu %d: rx %8.0f pps  tx %8.0f pps  conns %6d  handoff %d/%d  drops %d %s\n",
				w.ID, w.CPU, float64(cur.rx-prev[i].rx)/secs, float64(cur.tx-prev[i].tx)/secs,
				s.Conns.Load(), s.Count(dataplane.CountHandoffOut), s.Count(dataplane.CountHandoffIn), cur.drops, strings.Join(reasons, " "))
			prev[i] = cur
		}
		_, _ = io.WriteString(out, b.String())
	}
}
