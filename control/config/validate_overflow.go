package config

import (
	"fmt"
	"slices"
)

// validateOverflowAccept checks overflow_accept.
func (c *Config) validateOverflowAccept() error {
	a := c.OverflowAccept
	if a == nil {
		return nil
	}
	if len(a.From) == 0 {
		return Errorf("overflow_accept.from", "at least one peer director is needed (tunnels from anyone else are refused)")
	}
	for i, peer := range a.From {
		path := fmt.Sprintf("overflow_accept.from[%d]", i)
		if err := validateConfigAddress(path, peer); err != nil {
			return err
		}
		if slices.Index(a.From, peer) < i {
			return Errorf(path, "duplicate peer %s", peer)
		}
	}
	return validateConfigPort("overflow_accept.gue_port", a.GUEPort)
}

// validateOverflow checks a service's overflow and fills its defaults.
func (s *ServiceConfig) validateOverflow(path string) error {
	o := s.Overflow
	if o == nil {
		return nil
	}
	path += ".overflow"
	if err := validateConfigAddress(path+".to", o.To); err != nil {
		return err
	}
	if o.To == s.VIP {
		return Errorf(path+".to", "%s is this service's own VIP: name the other site's director", o.To)
	}
	for i := range s.RealServers {
		if s.RealServers[i].Address == o.To {
			return Errorf(path+".to", "%s is real_servers[%d]: name the other site's director", o.To, i)
		}
	}
	if o.High == 0 {
		o.High = DefaultOverflowHigh
	}
	if o.Low == 0 {
		o.Low = DefaultOverflowLow
	}
	switch {
	case o.High < 0:
		return Errorf(path+".high", "must be positive (got %v)", o.High)
	case o.Low < 0 || o.Low >= o.High:
		return Errorf(path+".low", "must be positive and below high %v (got %v): the gap keeps the state from flapping", o.High, o.Low)
	case o.Capacity < 0:
		return Errorf(path+".capacity", "must not be negative (got %d)", o.Capacity)
	case s.SynProxy:
		return Errorf(path, "cannot shed a synproxy service's connections (the director answers their handshake itself)")
	}
	if o.Capacity == 0 {
		for i := range s.RealServers {
			if s.RealServers[i].UpperThreshold == 0 {
				return Errorf(path+".capacity", "required: real_servers[%d] has no upper_threshold to derive it from", i)
			}
		}
		if len(s.RealServers) == 0 {
			return Errorf(path+".capacity", "required: the service has no real servers to derive it from")
		}
	}
	switch {
	case o.Tunnel != "" && o.Tunnel != "ipip" && o.Tunnel != "gue":
		return Errorf(path+".tunnel", "unknown tunnel %q (want ipip or gue)", o.Tunnel)
	case o.GUEPort != 0 && o.Tunnel != "gue":
		return Errorf(path+".gue_port", "only for tunnel gue")
	case o.Tunnel == "gue" && (o.GUEPort < 1 || o.GUEPort > 65535):
		return Errorf(path+".gue_port", "required for tunnel gue: the other site's overflow_accept.gue_port, 1-65535 (got %d)", o.GUEPort)
	}
	return nil
}
