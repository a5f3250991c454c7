package control

import (
	"fastlvs/control/config"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"sync"

	"fastlvs/control/health"
)

// healthChecks runs the configured checks and turns their verdicts into
// table overrides.
type healthChecks struct {
	daemon  *Daemon
	manager *health.Manager

	mu   sync.Mutex // guards keys: update runs on reloads, onChange on the manager
	keys map[string]RealServerKey
}

func newHealthChecks(d *Daemon) *healthChecks {
	h := &healthChecks{daemon: d, keys: map[string]RealServerKey{}}
	notify := d.Config().Notify
	var notifier *health.Notifier
	if notify.Exec != "" || notify.Webhook != "" {
		notifier = &health.Notifier{Exec: notify.Exec, Webhook: notify.Webhook}
	}
	h.manager = health.NewManagerWithOptions(health.Options{
		OnChange: h.onChange,
		Notifier: notifier,
		OnNotifyError: func(e health.Event, err error) {
			slog.Warn("health notification failed", "real_server", e.Addr, "err", err)
		},
	})
	return h
}

func (h *healthChecks) onChange(e health.Event) {
	h.mu.Lock()
	key, ok := h.keys[e.Key]
	h.mu.Unlock()
	if !ok {
		return
	}
	slog.Info("health check transition", "real_server", e.Addr, "up", e.Up, "reason", e.Reason)
	o := Override{Down: !e.Up, Weight: e.Weight}
	h.daemon.setOverride(key, o)
}

// update replaces the checked targets with those of cfg. A real server
// whose check was turned off starts afresh if it is checked again later:
// its last verdict no longer applies (and uncheckedRealServers has lifted
// it from the table).
func (h *healthChecks) update(cfg *config.Config) {
	var targets []health.Target
	keys := map[string]RealServerKey{}
	var unchecked []string
	forEachRealServer(cfg, func(sc *config.ServiceConfig, rc *config.RealServerConfig, rk RealServerKey) {
		hc := healthCheckOf(sc, rc)
		if !checked(hc) {
			unchecked = append(unchecked, checkKey(rk))
			return
		}
		port := uint16(rc.Port)
		if port == 0 {
			port = uint16(sc.Port)
		}
		addr := netip.AddrPortFrom(rc.Address.Unmap(), port)
		keys[checkKey(rk)] = rk
		targets = append(targets, health.Target{Key: checkKey(rk), Addr: addr, Spec: healthSpec(hc)})
	})
	h.mu.Lock()
	h.keys = keys
	h.mu.Unlock()
	h.manager.Update(targets)
	h.manager.Forget(unchecked...)
}

// uncheckedRealServers lists the real servers of cfg that have no health
// check: a verdict recorded for one of them (its check was just turned off)
// must not keep it out of rotation.
func uncheckedRealServers(cfg *config.Config) []RealServerKey {
	var out []RealServerKey
	forEachRealServer(cfg, func(sc *config.ServiceConfig, rc *config.RealServerConfig, rk RealServerKey) {
		if !checked(healthCheckOf(sc, rc)) {
			out = append(out, rk)
		}
	})
	return out
}

func checked(hc *config.HealthCheckConfig) bool { return hc.Type != "" && hc.Type != health.TypeNone }

// checkKey names a real server's check for the health manager.
func checkKey(rk RealServerKey) string { return rk.Service.String() + "/" + rk.Real.String() }

// forEachRealServer calls fn for every real server of every service of cfg
// that compiles.
func forEachRealServer(cfg *config.Config, fn func(sc *config.ServiceConfig, rc *config.RealServerConfig, rk RealServerKey)) {
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		svc, err := compileService(sc)
		if err != nil {
			continue
		}
		for j := range sc.RealServers {
			rc := &sc.RealServers[j]
			fn(sc, rc, RealServerKey{Service: svc.Key(), Real: netip.AddrPortFrom(rc.Address.Unmap(), uint16(rc.Port))})
		}
	}
}

func healthSpec(hc *config.HealthCheckConfig) health.Spec {
	s := health.Spec{
		Type: hc.Type, Interval: hc.Interval, Timeout: hc.Timeout, Rise: hc.Rise, Fall: hc.Fall, WarmUp: hc.WarmUp,
		Port: uint16(hc.Port), Path: hc.Path, BodyRegex: hc.BodyRegex, Host: hc.Host, SNI: hc.SNI,
		Payload: []byte(hc.Payload), Expect: []byte(hc.Expect), DNSName: hc.DNSName,
		InhibitOnFailure: hc.InhibitOnFailure,
	}
	if lo, hi, ok := strings.Cut(hc.Status, "-"); ok {
		s.StatusMin, _ = strconv.Atoi(lo)
		s.StatusMax, _ = strconv.Atoi(hi)
	} else if hc.Status != "" {
		s.StatusMin, _ = strconv.Atoi(hc.Status)
		s.StatusMax = s.StatusMin
	}
	if hc.Command != "" {
		fields := strings.Fields(hc.Command)
		s.Command, s.Args = fields[0], fields[1:]
	}
	return s
}

func (h *healthChecks) close() { h.manager.Close() }
