package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits of the bgp section.
const (
	configMaxASN      = 1<<32 - 1
	configMinHoldTime = 3 * time.Second // RFC 4271: 0 or at least 3 s
	configMaxHoldTime = 65535 * time.Second
)

// validateBGP checks the bgp section and drain_grace.
func (c *Config) validateBGP() error {
	if c.DrainGrace < 0 {
		return Errorf("drain_grace", "must not be negative (got %s)", c.DrainGrace)
	}
	b := c.BGP
	if b == nil {
		for i := range c.Services {
			if c.Services[i].BGP != nil {
				return Errorf(fmt.Sprintf("services[%d].bgp", i), "needs the bgp section")
			}
		}
		return nil
	}
	if b.ASN < 1 || b.ASN > configMaxASN {
		return Errorf("bgp.asn", "must be between 1 and %d (got %d)", configMaxASN, b.ASN)
	}
	if !b.RouterID.Is4() || b.RouterID.IsUnspecified() {
		return Errorf("bgp.router_id", "must be a non-zero IPv4 address (got %q)", b.RouterID)
	}
	if b.ListenPort < 0 || b.ListenPort > 65535 {
		return Errorf("bgp.listen_port", "must be between 0 (do not listen) and 65535 (got %d)", b.ListenPort)
	}
	if len(b.Peers) == 0 {
		return Errorf("bgp.peers", "at least one peer is needed")
	}
	seen := map[string]int{}
	for i := range b.Peers {
		if err := b.Peers[i].validate(fmt.Sprintf("bgp.peers[%d]", i), b.ListenPort); err != nil {
			return err
		}
		if first, ok := seen[b.Peers[i].Address.String()]; ok {
			return Errorf(fmt.Sprintf("bgp.peers[%d].address", i), "duplicate peer %s (same as bgp.peers[%d])", b.Peers[i].Address, first)
		}
		seen[b.Peers[i].Address.String()] = i
	}
	if err := validateRouteAttributes("bgp", b.MED, b.Communities); err != nil {
		return err
	}
	if len(b.NextHop) > 2 {
		return Errorf("bgp.next_hop", "at most one IPv4 and one IPv6 address (got %d)", len(b.NextHop))
	}
	for i, hop := range b.NextHop {
		if hop.IsUnspecified() || hop.IsMulticast() {
			return Errorf(fmt.Sprintf("bgp.next_hop[%d]", i), "%s is not a usable next hop", hop)
		}
		if i == 1 && hop.Is4() == b.NextHop[0].Is4() {
			return Errorf("bgp.next_hop[1]", "a second next hop must be of the other family")
		}
	}
	return c.validateServiceBGP()
}

// validateServiceBGP checks the services' own attributes: services sharing
// a VIP announce one route, so they must not disagree.
func (c *Config) validateServiceBGP() error {
	first := map[string]int{}
	for i := range c.Services {
		path, own := fmt.Sprintf("services[%d].bgp", i), c.Services[i].BGP
		if own != nil {
			if err := validateRouteAttributes(path, own.MED, own.Communities); err != nil {
				return err
			}
		}
		vip := c.Services[i].VIP.String()
		j, seen := first[vip]
		if !seen {
			first[vip] = i
			continue
		}
		if fmt.Sprint(own) != fmt.Sprint(c.Services[j].BGP) {
			return Errorf(path, "differs from services[%d].bgp, which announces the same vip %s", j, vip)
		}
	}
	return nil
}

// validateRouteAttributes checks a MED and a community list under path.
func validateRouteAttributes(path string, med int, communities []string) error {
	if med < 0 || med > configMaxASN {
		return Errorf(path+".med", "must be between 0 (none) and %d (got %d)", configMaxASN, med)
	}
	_, err := ParseCommunities(path+".communities", communities)
	return err
}

func (p *BGPPeerConfig) validate(path string, listenPort int) error {
	switch {
	case !p.Address.IsValid() || p.Address.IsUnspecified() || p.Address.IsMulticast():
		return Errorf(path+".address", "must be the router's unicast address (got %q)", p.Address)
	case p.Port < 0 || p.Port > 65535:
		return Errorf(path+".port", "must be between 0 (179) and 65535 (got %d)", p.Port)
	case p.ASN < 1 || p.ASN > configMaxASN:
		return Errorf(path+".asn", "must be between 1 and %d (got %d)", configMaxASN, p.ASN)
	case p.HoldTime != 0 && (p.HoldTime < configMinHoldTime || p.HoldTime > configMaxHoldTime || p.HoldTime%time.Second != 0):
		return Errorf(path+".hold_time", "must be whole seconds between %s and %s (got %s)", configMinHoldTime, configMaxHoldTime, p.HoldTime)
	case len(p.Password) > 80: // TCP_MD5SIG_MAXKEYLEN
		return Errorf(path+".password", "at most 80 bytes (got %d)", len(p.Password))
	case p.Passive && listenPort == 0:
		return Errorf(path+".passive", "a passive peer must connect to us: set bgp.listen_port")
	}
	return nil
}

// ParseCommunities parses "high:low" communities (RFC 1997) into their
// 32-bit values; path names the list in errors.
func ParseCommunities(path string, communities []string) ([]uint32, error) {
	values := make([]uint32, 0, len(communities))
	for i, text := range communities {
		high, low, ok := strings.Cut(text, ":")
		h, errHigh := strconv.ParseUint(high, 10, 16)
		l, errLow := strconv.ParseUint(low, 10, 16)
		if !ok || errHigh != nil || errLow != nil {
			return nil, Errorf(fmt.Sprintf("%s[%d]", path, i), "%q is not a community (want ASN:value, each 0-65535)", text)
		}
		values = append(values, uint32(h)<<16|uint32(l))
	}
	return values, nil
}
