package control

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"

	"fastlvs/control/api"
	"fastlvs/control/bgp"
	"fastlvs/control/health"
	"fastlvs/control/metrics"
)

// startEndpoints opens the API and metrics listeners before the dataplane
// runs, so a taken port fails the start instead of a silent half-daemon.
// Both serve until ctx ends; running is done when both have stopped.
func (d *Daemon) startEndpoints(ctx context.Context, running *sync.WaitGroup) error {
	cfg := d.Config()
	if err := d.startSync(ctx, cfg.Sync, running); err != nil {
		return err
	}
	if cfg.Metrics != "" {
		ln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", cfg.Metrics, err)
		}
		reg := metrics.NewRegistry(metrics.Sources{
			Dataplane:      d.dp,
			Health:         func() map[string]health.Status { return d.checks.manager.Statuses() },
			Reloads:        d.Reloads.Load,
			ReloadFailures: d.ReloadFailures.Load,
			ConnCapacity:   d.dp.ConnCapacityPerWorker(),
		})
		if d.speaker != nil {
			reg.MustRegister(bgp.NewCollector(d.speaker))
		}
		running.Add(1)
		go func() {
			defer running.Done()
			if err := metrics.ServeListener(ctx, ln, reg); err != nil {
				slog.Error("metrics endpoint stopped", "err", err)
			}
		}()
	}
	if cfg.API != "" {
		ln, err := api.Listen(cfg.API, cfg.APIToken)
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
		ln.Close() // Serve listens again; this only proved the address usable
		running.Add(1)
		go func() {
			defer running.Done()
			if err := api.Serve(ctx, cfg.API, cfg.APIToken, api.NewHandler(scaleOutBackend{Backend: newAPIBackend(d), daemon: d}, cfg.APIToken)); err != nil {
				slog.Error("api endpoint stopped", "err", err)
			}
		}()
	}
	return nil
}
