package control

import (
	"context"
	"fastlvs/control/config"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"fastlvs/control/bgp"
	"fastlvs/dataplane"
)

// Daemon is the running director: the configuration it was given, the
// dataplane it drives and the health checks that adjust it.
type Daemon struct {
	ConfigPath string
	Flags      *pflag.FlagSet
	// WatchConfig reloads on every change of the file, not only on SIGHUP.
	WatchConfig bool

	mu        sync.Mutex // serialises changes to cfg, overrides and the table
	cfg       *config.Config
	overrides map[RealServerKey]Override
	draining  map[RealServerKey]int64 // removed real servers: serve their connections until
	dp        *dataplane.Dataplane
	checks    *healthChecks
	// Scale-out (bgp.go): the VIPs the current table makes usable, the
	// speaker announcing them, and the drain that withdraws them.
	usable    []bgp.Route
	speaker   *bgp.Speaker
	drainOnce sync.Once
	drained   chan struct{} // closed when drain_grace has passed

	Reloads, ReloadFailures atomic.Uint64
	// Sync counts the connection sync's datagrams (sync.go).
	Sync syncCounters
}

// NewDaemon loads and validates the configuration and builds the dataplane,
// attaching to the interfaces. Run starts it.
func NewDaemon(path string, flags *pflag.FlagSet) (*Daemon, error) {
	cfg, err := config.Load(path, flags)
	if err != nil {
		return nil, err
	}
	return NewDaemonFromConfig(cfg, path, flags)
}

// NewDaemonFromConfig builds a daemon around an already validated config
// (the demo's embedded one).
func NewDaemonFromConfig(cfg *config.Config, path string, flags *pflag.FlagSet) (*Daemon, error) {
	dpcfg, err := CompileDataplane(cfg)
	if err != nil {
		return nil, err
	}
	d := &Daemon{ConfigPath: path, Flags: flags, cfg: cfg, overrides: map[RealServerKey]Override{}, draining: map[RealServerKey]int64{}, drained: make(chan struct{})}
	if d.dp, err = dataplane.New(dpcfg); err != nil {
		return nil, err
	}
	d.dp.EnableSync(cfg.Sync.Peer != "", cfg.Sync.Listen != "")
	if cfg.Sync.KeyFile != "" {
		key, err := readSyncKey(cfg.Sync.KeyFile)
		if err != nil {
			d.dp.Close()
			return nil, err
		}
		d.dp.Registry.SeedOwnerHash(ownerSeed(key))
	}
	if err := d.applyLocked(cfg); err != nil {
		d.dp.Close()
		return nil, err
	}
	d.checks = newHealthChecks(d)
	d.checks.update(cfg)
	return d, nil
}

// Dataplane exposes the running dataplane (stats, registry).
func (d *Daemon) Dataplane() *dataplane.Dataplane { return d.dp }

// Config returns the configuration in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// applyLocked compiles cfg with the current overrides into a new table and
// publishes it. On any error the running table stays as it was.
func (d *Daemon) applyLocked(cfg *config.Config) error {
	// A verdict on a real server that keeps its place but lost its check is
	// void. One on a server that left the file stays: the health manager
	// remembers it too, and the server resumes it if it comes back.
	overrides := maps.Clone(d.overrides)
	for _, key := range uncheckedRealServers(cfg) {
		delete(overrides, key)
	}
	spec, err := CompileTable(cfg, overrides)
	if err != nil {
		return err
	}
	draining := nextDraining(d.draining, d.cfg, cfg, dataplane.Now())
	for key, until := range draining {
		spec.Draining = append(spec.Draining, dataplane.DrainSpec{Service: key.Service, Addr: key.Real.Addr(), Port: key.Real.Port(), Until: until})
	}
	table, err := dataplane.Build(spec, d.dp.Registry, len(d.dp.Workers))
	if err != nil {
		return err
	}
	if err := d.dp.Publish(table); err != nil {
		return fmt.Errorf("publish table: %w", err)
	}
	d.cfg = cfg
	d.overrides = overrides
	d.draining = draining
	d.observeTableLocked(cfg, &spec)
	return nil
}

// Reload rereads the configuration file. A file that fails to load,
// validate or compile changes nothing; the error names the field.
func (d *Daemon) Reload() error {
	cfg, err := config.Load(d.ConfigPath, d.Flags)
	if err == nil {
		err = d.checkStatic(cfg)
	}
	var oldConntrack config.ConntrackConfig
	if err == nil {
		d.mu.Lock()
		oldConntrack = d.cfg.Conntrack
		err = d.applyLocked(cfg)
		d.mu.Unlock()
	}
	if err != nil {
		d.ReloadFailures.Add(1)
		return fmt.Errorf("reload refused, running table unchanged: %w", err)
	}
	d.Reloads.Add(1)
	d.checks.update(cfg)
	if cfg.Conntrack != oldConntrack {
		if err := pushConntrack(d.dp, cfg.Conntrack); err != nil {
			slog.Warn("reload: timeouts", "err", err)
		}
	}
	return nil
}

// Change applies an edit to a copy of the running configuration (the API's
// add/edit/delete): the copy is validated and compiled like a file, and only
// a copy that passes replaces the running one. Nothing is half-applied.
// API changes last until the next file reload, which replaces them: the file
// stays the source of truth, as keepalived's file is for ipvsadm's edits.
func (d *Daemon) Change(edit func(cfg *config.Config) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	next, err := editedConfig(d.cfg, edit)
	if err != nil {
		return err
	}
	if err := d.applyLocked(next); err != nil {
		return err
	}
	d.checks.update(next) // a real server added by the API gets its service's check
	return nil
}

// editedConfig applies edit to a deep copy of cfg and validates the result;
// cfg itself is never touched.
func editedConfig(cfg *config.Config, edit func(cfg *config.Config) error) (*config.Config, error) {
	next, err := cloneConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := edit(next); err != nil {
		return nil, err
	}
	if err := next.Validate(); err != nil {
		return nil, err
	}
	return next, nil
}

// cloneConfig deep-copies a configuration through its YAML form, which
// Validate re-derives everything from.
func cloneConfig(cfg *config.Config) (*config.Config, error) {
	text, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	var out config.Config
	if err := yaml.Unmarshal(text, &out); err != nil {
		return nil, fmt.Errorf("copy config: %w", err)
	}
	return &out, nil
}

// checkStatic refuses changes that need a restart rather than applying half
// of them.
func (d *Daemon) checkStatic(cfg *config.Config) error {
	return restartOnlyChange(d.Config(), cfg)
}

// restartOnlyChange names the first setting that differs between old and
// next and that only a restart applies (they size or bind what the daemon
// opened at start).
func restartOnlyChange(old, next *config.Config) error {
	for _, f := range []struct {
		field        string
		before, then any
	}{
		{"interfaces", old.Interfaces, next.Interfaces},
		{"vlans", old.VLANs, next.VLANs},
		{"workers", old.Workers, next.Workers},
		{"cpus", old.CPUs, next.CPUs},
		{"umem_frames", old.UMEMFrames, next.UMEMFrames},
		{"ring_size", old.RingSize, next.RingSize},
		{"xdp_mode", old.XDPMode, next.XDPMode},
		{"af_xdp_bind", old.AFXDPBind, next.AFXDPBind},
		{"worker_priority", old.WorkerPriority, next.WorkerPriority},
		{"conntrack.capacity", old.Conntrack.Capacity, next.Conntrack.Capacity},
		{"api", old.API, next.API},
		{"api_token", old.APIToken, next.APIToken},
		{"api_tls", old.APITLS, next.APITLS},
		{"metrics", old.Metrics, next.Metrics},
		{"sync", old.Sync, next.Sync},
		{"bgp", bgpText(old.BGP), bgpText(next.BGP)},
		{"monitor", old.Monitor, next.Monitor},
	} {
		if fmt.Sprint(f.before) != fmt.Sprint(f.then) {
			return fmt.Errorf("%s: changing it needs a restart (the running daemon keeps %v)", f.field, f.before)
		}
	}
	return nil
}

// override is the health-check verdict recorded for key, if any.
func (d *Daemon) override(key RealServerKey) (Override, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	o, ok := d.overrides[key]
	return o, ok
}

// setOverride records a health-check verdict and republishes the table.
func (d *Daemon) setOverride(key RealServerKey, o Override) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if o == (Override{Weight: -1}) {
		delete(d.overrides, key)
	} else {
		d.overrides[key] = o
	}
	if err := d.applyLocked(d.cfg); err != nil {
		slog.Error("apply health-check change", "real_server", key.Real, "err", err)
	}
}

// Run serves until ctx ends or SIGINT/SIGTERM arrives; SIGHUP reloads.
func (d *Daemon) Run(ctx context.Context) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := d.Reload(); err != nil {
					slog.Error("reload", "err", err)
				} else {
					slog.Info("reloaded", "config", d.ConfigPath)
				}
			}
		}
	}()
	endpointsCtx, stopEndpoints := context.WithCancel(context.Background())
	defer stopEndpoints()
	var endpoints sync.WaitGroup
	err := d.startBGP(endpointsCtx)
	if err == nil {
		err = d.startEndpoints(endpointsCtx, &endpoints)
	}
	if err != nil {
		stopEndpoints()
		endpoints.Wait()
		d.stopBGP()
		d.dp.Close()
		d.checks.close()
		return err
	}
	// A stop drains first: VIPs are withdrawn while the dataplane forwards on.
	dataplaneCtx, stopDataplane := context.WithCancel(context.Background())
	defer stopDataplane()
	go d.routineDrainOnStop(ctx, stopDataplane)
	if d.WatchConfig {
		go d.RoutineWatchConfig(ctx)
	}
	go d.RoutineOverflow(dataplaneCtx)
	slog.Info("fastlvs running", "interfaces", d.cfg.Interfaces, "workers", len(d.dp.Workers), "services", len(d.cfg.Services))
	d.dp.Run(dataplaneCtx)
	stopEndpoints() // nothing may read the sockets once they close
	endpoints.Wait()
	d.stopBGP()
	d.checks.close()
	d.dp.Close()
	slog.Info("fastlvs stopped")
	return nil
}
