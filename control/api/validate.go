package api

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
)

// Schedulers are the scheduler names a service may use.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// SchedulerFlags are the accepted Service.Flags values.
var SchedulerFlags = []string{"flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port", "ops"}

func invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// ValidateKey checks a service key; field prefixes the names in the error.
func ValidateKey(k ServiceKey, field string) error {
	if k.Protocol != ProtocolTCP && k.Protocol != ProtocolUDP {
		return invalid(field+".protocol", "must be tcp or udp, not %q", k.Protocol)
	}
	if !k.Address.IsValid() || k.Address.IsUnspecified() {
		return invalid(field+".address", "must be a unicast IPv4 or IPv6 address")
	}
	if k.Address.Zone() != "" {
		return invalid(field+".address", "must not carry a zone")
	}
	return nil
}

// ValidateService checks a service written through the API and fills the
// defaults ipvsadm applies: scheduler wlc, persistence timeout 300 s, and a
// single-address netmask spelled as the empty string.
func ValidateService(s *Service) error {
	if err := ValidateKey(s.Key, "key"); err != nil {
		return err
	}
	if s.Key.Address.Is4In6() {
		s.Key.Address = s.Key.Address.Unmap()
	}
	if s.Scheduler == "" {
		s.Scheduler = DefaultScheduler
	}
	if !slices.Contains(Schedulers, s.Scheduler) {
		return invalid("scheduler", "unknown scheduler %q", s.Scheduler)
	}
	if s.Key.Port == 0 && !s.Persistent {
		return invalid("key.port", "zero port needs a persistent service")
	}
	if err := validateFlags(s); err != nil {
		return err
	}
	if s.Persistent {
		if s.Timeout == 0 {
			s.Timeout = DefaultPersistentTimeout
		}
		if s.Timeout > MaxTimeout {
			return invalid("timeout", "must be at most %d seconds", MaxTimeout)
		}
	} else if s.Timeout != 0 {
		return invalid("timeout", "needs persistent")
	}
	netmask, err := normalizeNetmask(s.Netmask, s.Key.Address.Is6())
	if err != nil {
		return err
	}
	if netmask != "" && !s.Persistent {
		return invalid("netmask", "needs persistent")
	}
	s.Netmask = netmask
	if s.Forward != "" && !validForward(s.Forward) {
		return invalid("forward", "must be dr, nat, fullnat or tun, not %q", s.Forward)
	}
	for i, a := range s.LocalAddresses {
		field := fmt.Sprintf("local_addresses[%d]", i)
		if !a.IsValid() || a.IsUnspecified() {
			return invalid(field, "must be a unicast address")
		}
		if slices.Contains(s.LocalAddresses[:i], a) {
			return invalid(field, "duplicate local address %s", a)
		}
	}
	for i := range s.RealServers {
		field := fmt.Sprintf("real_servers[%d]", i)
		rs := &s.RealServers[i]
		if err := ValidateRealServer(rs, field); err != nil {
			return err
		}
		if rs.Address.Is4() != s.Key.Address.Is4() && forwardOf(*s, *rs) != ForwardTunnel {
			return invalid(field+".address", "a different address family is allowed only for tunneling servers")
		}
		for _, prev := range s.RealServers[:i] {
			if prev.AddrPort() == rs.AddrPort() {
				return invalid(field, "duplicate real server %s", rs.AddrPort())
			}
		}
	}
	return nil
}

func forwardOf(s Service, rs RealServer) string {
	if rs.Forward != "" {
		return rs.Forward
	}
	if s.Forward != "" {
		return s.Forward
	}
	return ForwardDR
}

func validateFlags(s *Service) error {
	for i, f := range s.Flags {
		field := fmt.Sprintf("flags[%d]", i)
		if !slices.Contains(SchedulerFlags, f) {
			return invalid(field, "unknown scheduler flag %q", f)
		}
		if slices.Contains(s.Flags[:i], f) {
			return invalid(field, "duplicate flag %q", f)
		}
		switch f {
		case "sh-fallback", "sh-port":
			if s.Scheduler != "sh" && s.Scheduler != "mh" {
				return invalid(field, "flag %q needs scheduler sh or mh", f)
			}
		case "mh-fallback", "mh-port":
			if s.Scheduler != "mh" {
				return invalid(field, "flag %q needs scheduler mh", f)
			}
		case "ops":
			if s.Key.Protocol != ProtocolUDP {
				return invalid(field, "one-packet scheduling is only for UDP services")
			}
		}
	}
	return nil
}

// normalizeNetmask checks a persistence netmask and returns "" for the
// single-address mask so that equal states compare equal.
func normalizeNetmask(mask string, ipv6 bool) (string, error) {
	if mask == "" {
		return "", nil
	}
	if ipv6 {
		bits, err := strconv.Atoi(mask)
		if err != nil || bits < 1 || bits > 128 {
			return "", invalid("netmask", "an IPv6 netmask is a prefix length 1-128, not %q", mask)
		}
		if bits == 128 {
			return "", nil
		}
		return strconv.Itoa(bits), nil
	}
	a, err := netip.ParseAddr(mask)
	if err != nil || !a.Is4() {
		return "", invalid("netmask", "an IPv4 netmask is dotted, like 255.255.255.0, not %q", mask)
	}
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	if inverse := ^v; inverse&(inverse+1) != 0 {
		return "", invalid("netmask", "%q is not a contiguous netmask", mask)
	}
	if v == math.MaxUint32 {
		return "", nil
	}
	return a.String(), nil
}

func validForward(f string) bool {
	switch f {
	case ForwardDR, ForwardNAT, ForwardFullNAT, ForwardTunnel:
		return true
	}
	return false
}

// ValidateRealServer checks a real server written through the API. An empty
// Forward means the service's default (dr if it has none).
func ValidateRealServer(rs *RealServer, field string) error {
	if !rs.Address.IsValid() || rs.Address.IsUnspecified() {
		return invalid(field+".address", "must be a unicast IPv4 or IPv6 address")
	}
	rs.Address = rs.Address.Unmap()
	if rs.Forward != "" && !validForward(rs.Forward) {
		return invalid(field+".forward", "must be dr, nat, fullnat or tun, not %q", rs.Forward)
	}
	if rs.Weight < 0 || rs.Weight > 65535 {
		return invalid(field+".weight", "must be 0-65535, not %d", rs.Weight)
	}
	if rs.UpperThreshold > math.MaxInt32 {
		return invalid(field+".upper_threshold", "must be at most %d", math.MaxInt32)
	}
	if rs.LowerThreshold > math.MaxInt32 {
		return invalid(field+".lower_threshold", "must be at most %d", math.MaxInt32)
	}
	return nil
}

// ValidateTimeouts checks the connection timeouts.
func ValidateTimeouts(t Timeouts) error {
	for _, f := range []struct {
		name  string
		value uint32
	}{{"tcp", t.TCP}, {"tcp_fin", t.TCPFin}, {"udp", t.UDP}} {
		if f.value > MaxTimeout {
			return invalid(f.name, "must be at most %d seconds", MaxTimeout)
		}
	}
	return nil
}
