package control

import (
	"context"
	"fastlvs/control/config"
	"log/slog"
	"net/netip"
	"sync"

	"fastlvs/control/api"
	"fastlvs/control/health"
	"fastlvs/control/monitor"
)

// startMonitor opens the web monitor's HTTPS listener when one is
// configured. The monitor changes the director only through an API backend,
// the API's own validated change path.
func (d *Daemon) startMonitor(ctx context.Context, cfg config.MonitorConfig, running *sync.WaitGroup) error {
	if cfg.Listen == "" {
		return nil
	}
	m, err := monitor.New(monitor.Config(cfg), monitor.Sources{
		Backend:        newAPIBackend(d),
		Workers:        d.dp.Workers,
		Health:         d.healthOf,
		ServiceName:    d.serviceName,
		Sync:           d.syncState,
		Reloads:        d.Reloads.Load,
		ReloadFailures: d.ReloadFailures.Load,
	})
	if err != nil {
		return err
	}
	ln, err := monitor.Listen(monitor.Config(cfg))
	if err != nil {
		return err
	}
	slog.Info("monitor listening", "addr", "https://"+ln.Addr().String())
	running.Add(1)
	go func() {
		defer running.Done()
		if err := m.Serve(ctx, ln); err != nil {
			slog.Error("monitor endpoint stopped", "err", err)
		}
	}()
	return nil
}

// healthOf is the health-check status of one real server of a service, by
// the key healthChecks.update gives its target.
func (d *Daemon) healthOf(service api.ServiceKey, real netip.AddrPort) (health.Status, bool) {
	key := dataplaneKeyOf(service).String() + "/" + real.String()
	return d.checks.manager.Status(key)
}

// serviceName is the configured name of the service with key k.
func (d *Daemon) serviceName(k api.ServiceKey) string {
	cfg := d.Config()
	if i := serviceIndex(cfg, k); i >= 0 {
		return cfg.Services[i].Name
	}
	return ""
}

// syncState is the connection sync's configuration and counters; nil
// without sync.
func (d *Daemon) syncState() *monitor.SyncState {
	cfg := d.Config().Sync
	if cfg.Listen == "" && cfg.Peer == "" {
		return nil
	}
	var bad uint64
	for i := range d.Sync.Bad {
		bad += d.Sync.Bad[i].Load()
	}
	return &monitor.SyncState{
		Listen: cfg.Listen, Peer: cfg.Peer,
		Sent: d.Sync.DatagramsSent.Load(), SendErrors: d.Sync.SendErrors.Load(),
		BadDatagrams: bad, InboxFull: d.Sync.InFull.Load(),
	}
}
