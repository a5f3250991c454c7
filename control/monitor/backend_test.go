package monitor

import (
	"errors"
	"net/netip"
	"slices"
	"sync"

	"fastlvs/control/api"
)

// fakeBackend holds services in memory and implements the three methods
// the monitor calls (list, edit and delete a real server); the rest of
// api.Backend is the embedded nil interface, which panics if called.
type fakeBackend struct {
	api.Backend
	mu       sync.Mutex
	services []api.Service
}

func (b *fakeBackend) AddService(s api.Service) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.services = append(b.services, s)
	return nil
}

func (b *fakeBackend) ListServices() ([]api.Service, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := slices.Clone(b.services)
	for i := range out {
		out[i].RealServers = slices.Clone(out[i].RealServers)
	}
	return out, nil
}

func (b *fakeBackend) EditRealServer(k api.ServiceKey, rs api.RealServer) error {
	return b.withReal(k, netip.AddrPortFrom(rs.Address, rs.Port), func(s *api.Service, i int) {
		s.RealServers[i].Weight = rs.Weight
	})
}

func (b *fakeBackend) DeleteRealServer(k api.ServiceKey, addr netip.AddrPort) error {
	return b.withReal(k, addr, func(s *api.Service, i int) {
		s.RealServers = slices.Delete(s.RealServers, i, i+1)
	})
}

func (b *fakeBackend) withReal(k api.ServiceKey, addr netip.AddrPort, fn func(*api.Service, int)) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for si := range b.services {
		s := &b.services[si]
		if s.Key != k {
			continue
		}
		for i, r := range s.RealServers {
			if r.Address == addr.Addr() && r.Port == addr.Port() {
				fn(s, i)
				return nil
			}
		}
	}
	return errors.New("no such real server")
}
