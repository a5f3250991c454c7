package main

import (
	"fastlvs/control/config"
	"sync"
	"testing"

	"fastlvs/control"
	"fastlvs/control/api"
)

// liveBackend is the daemon's own API backend (control.OfflineBackend: the
// same edits, validation and listings) with what only a running dataplane
// adds laid over it: counters, rates and connections, set by the test.
type liveBackend struct {
	*control.OfflineBackend
	mu      sync.Mutex
	numbers func(services []api.Service)
	conns   []api.Connection
}

// newLiveBackend serves the configuration configYAML (none: an empty table).
func newLiveBackend(t *testing.T, configYAML string) *liveBackend {
	t.Helper()
	cfg, err := config.Parse([]byte("interfaces: [eth1]\n" + configYAML))
	if err != nil {
		t.Fatal(err)
	}
	return &liveBackend{OfflineBackend: control.NewOfflineBackend(cfg)}
}

// Update sets the live numbers: f fills them into every listing.
func (b *liveBackend) Update(f func(services []api.Service)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.numbers = f
}

// SetConnections sets what the workers' tables would hold.
func (b *liveBackend) SetConnections(conns []api.Connection) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.conns = conns
}

func (b *liveBackend) ListServices() ([]api.Service, error) {
	services, err := b.OfflineBackend.ListServices()
	b.mu.Lock()
	defer b.mu.Unlock()
	if err == nil && b.numbers != nil {
		b.numbers(services)
	}
	return services, err
}

func (b *liveBackend) Connections() ([]api.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]api.Connection(nil), b.conns...), nil
}
