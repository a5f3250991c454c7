package metrics

import (
	"net/netip"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"fastlvs/control/health"
)

// healthTarget is a health-check key taken apart. The control plane keys
// checks "<proto>/<vip:port>/<real:port>" (tcp/198.18.0.10:80/198.18.2.11:80,
// IPv6 addresses in brackets).
type healthTarget struct {
	proto string
	vip   netip.AddrPort
	real  netip.AddrPort
}

func parseHealthKey(key string) (healthTarget, bool) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 {
		return healthTarget{}, false
	}
	vip, err1 := netip.ParseAddrPort(parts[1])
	real, err2 := netip.ParseAddrPort(parts[2])
	if err1 != nil || err2 != nil {
		return healthTarget{}, false
	}
	return healthTarget{proto: parts[0], vip: vip, real: real}, true
}

// collectHealth emits one row per checked real server, labelled like the
// real-server rows so the two join; the service name comes from the table
// in force (empty if the service just left it). Keys that do not parse are
// skipped: they are not real-server checks.
func (c *collector) collectHealth(ch chan<- prometheus.Metric, statuses map[string]health.Status, services []ServiceSample) {
	d := c.d
	for key, st := range statuses {
		t, ok := parseHealthKey(key)
		if !ok {
			c.readErrors.Add(1)
			continue
		}
		l := []string{serviceName(services, t), t.vip.Addr().Unmap().String(), strconv.Itoa(int(t.vip.Port())), t.proto}
		rl := realLabelValues(l, t.real.Addr(), t.real.Port())
		up := 0.0
		if st.Up {
			up = 1
		}
		gauge(ch, d.healthUp, up, rl...)
		gauge(ch, d.healthLatency, st.LastLatency.Seconds(), rl...)
		counter(ch, d.healthChecks, st.Checks, rl...)
		counter(ch, d.healthFailures, st.Failures, rl...)
	}
}

func serviceName(services []ServiceSample, t healthTarget) string {
	for i := range services {
		s := &services[i]
		if s.VIP.Unmap() == t.vip.Addr().Unmap() && s.Port == t.vip.Port() && protocolName(s.Proto) == t.proto {
			return s.Name
		}
	}
	return ""
}
