package control

import (
	"context"
	"crypto/tls"
	"fastlvs/control/config"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"fastlvs/control/api"
	"fastlvs/control/bgp"
	"fastlvs/control/health"
	"fastlvs/control/metrics"
	"fastlvs/synproxy"
)

// startEndpoints opens the API and metrics listeners before the dataplane
// runs, so a taken port fails the start instead of a silent half-daemon.
// Both serve until ctx ends; running is done when both have stopped.
func (d *Daemon) startEndpoints(ctx context.Context, running *sync.WaitGroup) error {
	cfg := d.Config()
	if err := d.startSync(ctx, cfg.Sync, running); err != nil {
		return err
	}
	running.Add(1)
	go func() {
		defer running.Done()
		d.routineRotateCookies(ctx)
	}()
	if cfg.Metrics != "" {
		ln, err := net.Listen("tcp", cfg.Metrics)
		if err != nil {
			return fmt.Errorf("metrics: listen on %s: %w", cfg.Metrics, err)
		}
		src := metrics.Sources{
			Dataplane:      d.dp,
			Health:         func() map[string]health.Status { return d.checks.manager.Statuses() },
			Reloads:        d.Reloads.Load,
			ReloadFailures: d.ReloadFailures.Load,
			ConnCapacity:   d.dp.ConnCapacityPerWorker(),
		}
		if cfg.Sync.Peer != "" {
			src.Sync = d.syncSample
		}
		reg := metrics.NewRegistry(src)
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
	if err := d.startMonitor(ctx, cfg.Monitor, running); err != nil {
		return err
	}
	if cfg.API != "" {
		tlsConfig, err := loadAPITLS(cfg.APITLS)
		if err != nil {
			return err
		}
		if tlsConfig == nil && strings.HasPrefix(cfg.API, "tcp://") {
			slog.Warn("the TCP api is served without TLS: its bearer token and every change cross the network in clear; set api_tls", "api", cfg.API)
		}
		ln, err := api.Listen(cfg.API, cfg.APIToken)
		if err != nil {
			return fmt.Errorf("api: %w", err)
		}
		ln.Close() // Serve listens again; this only proved the address usable
		running.Add(1)
		go func() {
			defer running.Done()
			if err := api.Serve(ctx, cfg.API, cfg.APIToken, tlsConfig, api.NewHandler(scaleOutBackend{Backend: newAPIBackend(d), daemon: d}, cfg.APIToken)); err != nil {
				slog.Error("api endpoint stopped", "err", err)
			}
		}()
	}
	return nil
}

// routineRotateCookies gives the SYN proxy a new cookie secret every cookie
// period; the previous one keeps validating the cookies still in flight.
func (d *Daemon) routineRotateCookies(ctx context.Context) {
	tick := time.NewTicker(synproxy.CookiePeriod)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := d.dp.Registry.RotateCookieSecret(); err != nil {
				slog.Error("rotate the SYN-proxy cookie secret", "err", err)
			}
		}
	}
}

// loadAPITLS reads api_tls's certificate and key; nil when api_tls is not
// set.
func loadAPITLS(t config.APITLSConfig) (*tls.Config, error) {
	if t.CertFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, config.Errorf("api_tls", "%v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
