package control

import (
	"fastlvs/control/config"
	"maps"
	"net/netip"
	"time"
)

// drainMemory is how long a passed drain deadline is remembered: long enough
// for any connection that outlived it to have sent a packet (and been cut) or
// expired on its own.
const drainMemory = time.Hour

// nextDraining works out which removed real servers are draining after a
// change from old to next: a server that leaves a service with a
// drain_timeout starts draining now; one that comes back stops.
func nextDraining(current map[RealServerKey]int64, old, next *config.Config, now int64) map[RealServerKey]int64 {
	out := maps.Clone(current)
	if out == nil {
		out = map[RealServerKey]int64{}
	}
	present := map[RealServerKey]bool{}
	for _, key := range realServerKeys(next) {
		present[key] = true
		delete(out, key)
	}
	if old != nil && old != next {
		for i := range old.Services {
			sc := &old.Services[i]
			if sc.DrainTimeout <= 0 {
				continue
			}
			for _, key := range serviceRealKeys(sc) {
				if _, already := out[key]; !present[key] && !already {
					out[key] = now + int64(sc.DrainTimeout)
				}
			}
		}
	}
	for key, until := range out {
		if now > until+int64(drainMemory) {
			delete(out, key)
		}
	}
	return out
}

func realServerKeys(cfg *config.Config) []RealServerKey {
	var keys []RealServerKey
	for i := range cfg.Services {
		keys = append(keys, serviceRealKeys(&cfg.Services[i])...)
	}
	return keys
}

func serviceRealKeys(sc *config.ServiceConfig) []RealServerKey {
	svc, err := compileService(sc)
	if err != nil {
		return nil
	}
	keys := make([]RealServerKey, 0, len(sc.RealServers))
	for _, rc := range sc.RealServers {
		keys = append(keys, RealServerKey{Service: svc.Key(), Real: netip.AddrPortFrom(rc.Address.Unmap(), uint16(rc.Port))})
	}
	return keys
}
