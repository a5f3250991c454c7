// Package apitest holds an in-memory api.Backend and a helper that serves it
// on a unix socket, for tests of the API, fastlvsadm and the daemon wiring.
package apitest

import (
	"net/netip"
	"slices"
	"sync"

	"fastlvs/control/api"
)

// Backend is an in-memory api.Backend with the semantics the daemon must
// have: existence checks, per-call atomicity, real servers inheriting the
// service's forwarding method, timeouts where 0 keeps a value.
type Backend struct {
	mu          sync.Mutex
	services    []api.Service
	timeouts    api.Timeouts
	connections []api.Connection
}

// New returns an empty table with the IPVS default timeouts (900 120 300).
func New() *Backend {
	return &Backend{timeouts: api.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}}
}

// Update runs f on the table under the lock, so a test can set counters,
// rates or connection counts that only the dataplane would produce.
func (b *Backend) Update(f func(services []api.Service)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b.services)
}

// SetConnections replaces the connection table.
func (b *Backend) SetConnections(conns []api.Connection) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.connections = slices.Clone(conns)
}

func cloneService(s api.Service) api.Service {
	s.Flags = slices.Clone(s.Flags)
	s.LocalAddresses = slices.Clone(s.LocalAddresses)
	s.RealServers = slices.Clone(s.RealServers)
	return s
}

func (b *Backend) indexLocked(k api.ServiceKey) int {
	return slices.IndexFunc(b.services, func(s api.Service) bool { return s.Key == k })
}

func (b *Backend) serviceLocked(k api.ServiceKey) (*api.Service, error) {
	i := b.indexLocked(k)
	if i < 0 {
		return nil, api.ErrServiceNotFound(k)
	}
	return &b.services[i], nil
}

// ListServices returns a deep copy in insertion order.
func (b *Backend) ListServices() ([]api.Service, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]api.Service, len(b.services))
	for i, s := range b.services {
		out[i] = cloneService(s)
	}
	return out, nil
}

// resolveRealServer fills the real server's defaults from its service.
func resolveRealServer(s api.Service, rs api.RealServer) (api.RealServer, error) {
	if rs.Forward == "" {
		rs.Forward = s.Forward
	}
	if rs.Forward == "" {
		rs.Forward = api.ForwardDR
	}
	if rs.Port == 0 || rs.Forward == api.ForwardDR || rs.Forward == api.ForwardTunnel {
		rs.Port = s.Key.Port
	}
	if rs.Address.Is4() != s.Key.Address.Is4() && rs.Forward != api.ForwardTunnel {
		return rs, &api.FieldError{Field: api.FieldRealServer + ".address", Message: "a different address family is allowed only for tunneling servers"}
	}
	rs.ActiveConns, rs.InactiveConns, rs.PersistConns = 0, 0, 0
	rs.Stats, rs.Rates = api.Stats{}, api.Rates{}
	return rs, nil
}

// AddService adds s, failing if it exists.
func (b *Backend) AddService(s api.Service) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.indexLocked(s.Key) >= 0 {
		return api.ErrServiceExists(s.Key)
	}
	s = cloneService(s)
	s.Stats, s.Rates = api.Stats{}, api.Rates{}
	for i, rs := range s.RealServers {
		resolved, err := resolveRealServer(s, rs)
		if err != nil {
			return err
		}
		s.RealServers[i] = resolved
	}
	b.services = append(b.services, s)
	return nil
}

// EditService changes a service's settings; its real servers, counters and
// (unless s lists some) local addresses are kept.
func (b *Backend) EditService(s api.Service) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	current, err := b.serviceLocked(s.Key)
	if err != nil {
		return err
	}
	current.Scheduler = s.Scheduler
	current.Flags = slices.Clone(s.Flags)
	current.Persistent = s.Persistent
	current.Timeout = s.Timeout
	current.Netmask = s.Netmask
	current.Forward = s.Forward
	if s.LocalAddresses != nil {
		current.LocalAddresses = slices.Clone(s.LocalAddresses)
	}
	return nil
}

// DeleteService removes a service.
func (b *Backend) DeleteService(k api.ServiceKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	i := b.indexLocked(k)
	if i < 0 {
		return api.ErrServiceNotFound(k)
	}
	b.services = slices.Delete(b.services, i, i+1)
	return nil
}

// Clear removes every service.
func (b *Backend) Clear() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.services = nil
	return nil
}

// AddRealServer adds a real server, failing if the service lacks or has it.
func (b *Backend) AddRealServer(k api.ServiceKey, rs api.RealServer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.serviceLocked(k)
	if err != nil {
		return err
	}
	resolved, err := resolveRealServer(*s, rs)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(s.RealServers, func(r api.RealServer) bool { return r.AddrPort() == resolved.AddrPort() }) {
		return api.ErrRealServerExists(k, resolved.AddrPort())
	}
	s.RealServers = append(s.RealServers, resolved)
	return nil
}

// EditRealServer changes forwarding, weight and thresholds of a real server.
func (b *Backend) EditRealServer(k api.ServiceKey, rs api.RealServer) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.serviceLocked(k)
	if err != nil {
		return err
	}
	resolved, err := resolveRealServer(*s, rs)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.RealServers, func(r api.RealServer) bool { return r.AddrPort() == resolved.AddrPort() })
	if i < 0 {
		return api.ErrRealServerNotFound(k, resolved.AddrPort())
	}
	current := &s.RealServers[i]
	current.Forward = resolved.Forward
	current.Weight = resolved.Weight
	current.UpperThreshold = resolved.UpperThreshold
	current.LowerThreshold = resolved.LowerThreshold
	return nil
}

// DeleteRealServer removes a real server.
func (b *Backend) DeleteRealServer(k api.ServiceKey, addr netip.AddrPort) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.serviceLocked(k)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(s.RealServers, func(r api.RealServer) bool { return r.AddrPort() == addr })
	if i < 0 {
		return api.ErrRealServerNotFound(k, addr)
	}
	s.RealServers = slices.Delete(s.RealServers, i, i+1)
	return nil
}

func zeroService(s *api.Service) {
	s.Stats, s.Rates = api.Stats{}, api.Rates{}
	for i := range s.RealServers {
		s.RealServers[i].Stats, s.RealServers[i].Rates = api.Stats{}, api.Rates{}
	}
}

// Zero resets counters of one service or, with nil, of all.
func (b *Backend) Zero(k *api.ServiceKey) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if k == nil {
		for i := range b.services {
			zeroService(&b.services[i])
		}
		return nil
	}
	s, err := b.serviceLocked(*k)
	if err != nil {
		return err
	}
	zeroService(s)
	return nil
}

// Timeouts returns the connection timeouts.
func (b *Backend) Timeouts() (api.Timeouts, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.timeouts, nil
}

// SetTimeouts sets the non-zero timeouts.
func (b *Backend) SetTimeouts(t api.Timeouts) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.TCP != 0 {
		b.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		b.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		b.timeouts.UDP = t.UDP
	}
	return nil
}

// Connections returns the connection table set by SetConnections.
func (b *Backend) Connections() ([]api.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.connections), nil
}

// AddLocalAddress adds a FULLNAT local address.
func (b *Backend) AddLocalAddress(k api.ServiceKey, a netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.serviceLocked(k)
	if err != nil {
		return err
	}
	if slices.Contains(s.LocalAddresses, a) {
		return api.ErrLocalAddressExists(k, a)
	}
	s.LocalAddresses = append(s.LocalAddresses, a)
	return nil
}

// DeleteLocalAddress removes a FULLNAT local address.
func (b *Backend) DeleteLocalAddress(k api.ServiceKey, a netip.Addr) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, err := b.serviceLocked(k)
	if err != nil {
		return err
	}
	i := slices.Index(s.LocalAddresses, a)
	if i < 0 {
		return api.ErrLocalAddressNotFound(k, a)
	}
	s.LocalAddresses = slices.Delete(s.LocalAddresses, i, i+1)
	return nil
}
