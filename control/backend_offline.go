package control

import (
	"fastlvs/control/config"
	"net/netip"
	"sync"

	"fastlvs/control/api"
)

// OfflineBackend is the daemon's API backend over a configuration alone,
// with no dataplane: edits are copied, validated and compiled exactly as the
// daemon's are, listings carry no live counters, and health verdicts are
// set by hand. fastlvsadm's tests run against it, so they see the daemon's
// own rules rather than a stand-in's.
type OfflineBackend struct {
	api.Backend
	mu        sync.Mutex
	cfg       *config.Config
	overrides map[RealServerKey]Override
}

// NewOfflineBackend serves cfg, which must be valid.
func NewOfflineBackend(cfg *config.Config) *OfflineBackend {
	o := &OfflineBackend{cfg: cfg, overrides: map[RealServerKey]Override{}}
	o.Backend = &apiBackend{config: o.config, change: o.change, health: o.override}
	return o
}

// SetHealth records a health check's verdict on a real server of a service,
// as the daemon's checker would.
func (o *OfflineBackend) SetHealth(service api.ServiceKey, real netip.AddrPort, up bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.overrides[RealServerKey{Service: dataplaneKeyOf(service), Real: real}] = Override{Down: !up, Weight: -1}
}

func (o *OfflineBackend) config() *config.Config {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg
}

func (o *OfflineBackend) override(key RealServerKey) (Override, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	v, ok := o.overrides[key]
	return v, ok
}

func (o *OfflineBackend) change(edit func(cfg *config.Config) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	next, err := editedConfig(o.cfg, edit)
	if err != nil {
		return err
	}
	if _, err := CompileTable(next, o.overrides); err != nil {
		return err
	}
	o.cfg = next
	return nil
}
