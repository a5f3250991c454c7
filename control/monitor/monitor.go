// Package monitor serves the director's web page: an operator logs in over
// HTTPS and watches per-core packet rates, drops, services, real servers and
// their health live (server-sent events, once a second); an admin sets a
// real server's weight, quiesces, restores or drains it through the API's
// own validated change path (api.Backend). Pages, script and style are
// embedded in the binary.
package monitor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"fastlvs/control/api"
	"fastlvs/control/health"
	"fastlvs/dataplane"
)

// Config is the monitor section of the daemon's configuration.
type Config struct {
	Listen    string `mapstructure:"listen" yaml:"listen,omitempty"`
	CertFile  string `mapstructure:"cert_file" yaml:"cert_file,omitempty"`
	KeyFile   string `mapstructure:"key_file" yaml:"key_file,omitempty"`
	UsersFile string `mapstructure:"users_file" yaml:"users_file,omitempty"`
}

// Sources are what the monitor reads and changes; the daemon fills them.
type Sources struct {
	// Backend lists services with their live numbers and applies changes:
	// the same object the control API drives.
	Backend api.Backend
	// Workers are the dataplane's workers; only their Stats are read.
	Workers []*dataplane.Worker
	// Health is the last check of a real server; false when it is not checked.
	Health func(service api.ServiceKey, real netip.AddrPort) (health.Status, bool)
	// ServiceName is a service's name in the configuration ("" if none).
	ServiceName func(api.ServiceKey) string
	// Sync is the connection sync's state; nil, or returning nil, when none
	// is configured.
	Sync func() *SyncState
	// Reloads and ReloadFailures count the configuration reloads.
	Reloads, ReloadFailures func() uint64
}

// Monitor is the web monitor of one daemon.
type Monitor struct {
	sources  Sources
	users    *userFile
	sessions *sessions
	limiter  *loginLimiter
	sampler  *sampler
	restore  *restoreWeights
	now      func() time.Time
}

// New loads the users file; Serve starts the page.
func New(cfg Config, sources Sources) (*Monitor, error) {
	users, err := loadUserFile(cfg.UsersFile)
	if err != nil {
		return nil, fmt.Errorf("monitor.users_file: %w (create it with: fastlvs passwd --users-file %s --role admin NAME)", err, cfg.UsersFile)
	}
	now := time.Now
	return &Monitor{
		sources:  sources,
		users:    users,
		sessions: newSessions(now),
		limiter:  newLoginLimiter(now),
		sampler:  newSampler(sources, historyLength),
		restore:  newRestoreWeights(),
		now:      now,
	}, nil
}

// Listen opens the HTTPS listener: the certificate configured or the
// self-signed one (see loadCertificate). A plain-HTTP request on it fails.
func Listen(cfg Config) (net.Listener, error) {
	cert, err := loadCertificate(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("monitor: listen on %s: %w", cfg.Listen, err)
	}
	return tls.NewListener(ln, &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}), nil
}

// Serve answers on ln (from Listen) until ctx ends.
func (m *Monitor) Serve(ctx context.Context, ln net.Listener) error {
	go m.sampler.routineSample(ctx, time.Second)
	server := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(slog.Default().Handler(), slog.LevelDebug),
	}
	errs := make(chan error, 1)
	go func() { errs <- server.Serve(ln) }()
	select {
	case err := <-errs:
		return fmt.Errorf("monitor: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := server.Shutdown(shutdownCtx) // event streams end with ctx (BaseContext)
	if serveErr := <-errs; !errors.Is(serveErr, http.ErrServerClosed) && err == nil {
		err = serveErr
	}
	return err
}
