// Package health checks real servers the way keepalived's checkers do: one
// goroutine per target probes it at a fixed interval from the kernel's
// network stack (ordinary sockets, never VIP traffic), counts consecutive
// successes and failures, and reports every up/down transition once.
package health

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"time"
)

// Check types.
const (
	TypeTCP   = "tcp"
	TypeHTTP  = "http"
	TypeHTTPS = "https"
	TypeUDP   = "udp"
	TypeICMP  = "icmp"
	TypeDNS   = "dns"
	TypeExec  = "exec"
	TypeNone  = "none"
)

// Defaults applied to zero fields of a Spec.
const (
	DefaultInterval  = 2 * time.Second
	DefaultTimeout   = 1 * time.Second
	DefaultRise      = 1
	DefaultFall      = 1
	DefaultStatusMin = 200
	DefaultStatusMax = 399
	DefaultPath      = "/"
	DefaultDNSType   = "A"
)

// Spec says how to check one real server. It is a plain value: two targets
// with equal specs and addresses are checked the same way.
type Spec struct {
	Type     string // tcp | http | https | udp | icmp | dns | exec | none ("" = tcp)
	Interval time.Duration
	Timeout  time.Duration // bounds one attempt; an attempt longer than Interval delays the next
	Rise     int           // consecutive successes to go up
	Fall     int           // consecutive failures to go down
	WarmUp   time.Duration // random delay before the first attempt, up to this, spreads thousands of targets
	// StartDown makes a new target start down and need Rise successes; by
	// default it starts up (alive), as keepalived does.
	StartDown bool

	Port uint16 // 0 = the real server's port

	// http / https
	Path      string // default "/"
	StatusMin int    // default 200
	StatusMax int    // default 399
	BodyRegex string // optional; matched against the first MaxBodyBytes of the body
	Host      string // Host header; default the target address
	SNI       string // TLS server name; default Host's name, none for an IP
	// VerifyTLS turns certificate verification on. It is off by default,
	// like keepalived's SSL_GET: real servers usually serve the VIP's name.
	VerifyTLS bool
	// InsecureTLS forces verification off even when VerifyTLS is set.
	InsecureTLS bool

	// udp: send Payload, expect a reply containing Expect (empty Expect: any
	// reply); an ICMP port unreachable means down.
	Payload []byte
	Expect  []byte

	// dns: query DNSName/DNSType over UDP; NOERROR with at least one answer = up.
	DNSName string
	DNSType string // A AAAA NS CNAME SOA PTR MX TXT SRV ANY; default A

	// exec: keepalived MISC_CHECK (misc_dynamic) semantics: exit 0 up,
	// 1 down, 2..255 up with weight exit-2. The process group is killed on
	// timeout.
	Command string
	Args    []string

	// InhibitOnFailure asks the caller to set a down server's weight to 0
	// instead of removing it; the checker only carries it.
	InhibitOnFailure bool

	SourceAddr netip.Addr // optional local address the checks are sent from
}

// Target is one real server to check.
type Target struct {
	Key  string // stable id, e.g. "tcp/198.18.0.10:80/198.18.2.11:80"
	Addr netip.AddrPort
	Spec Spec
}

// Status is the live state of one target.
type Status struct {
	Up          bool
	Weight      int // -1 = the configured weight; exec checks may set it
	LastLatency time.Duration
	LastError   string
	Transitions int
	Since       time.Time // last transition, or when checking started
	Checks      uint64
	Failures    uint64
}

// Event reports one transition: up/down, or a new weight while up.
type Event struct {
	Key     string         `json:"key"`
	Addr    netip.AddrPort `json:"addr"`
	Up      bool           `json:"up"`
	Weight  int            `json:"weight"`
	Latency time.Duration  `json:"latency_ns"`
	Reason  string         `json:"reason"`
	At      time.Time      `json:"at"`
}

// withDefaults returns s with every zero field that has a default filled in.
func (s Spec) withDefaults() Spec {
	if s.Type == "" {
		s.Type = TypeTCP
	}
	if s.Interval <= 0 {
		s.Interval = DefaultInterval
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.Rise <= 0 {
		s.Rise = DefaultRise
	}
	if s.Fall <= 0 {
		s.Fall = DefaultFall
	}
	if s.Path == "" {
		s.Path = DefaultPath
	}
	if s.StatusMin == 0 && s.StatusMax == 0 {
		s.StatusMin, s.StatusMax = DefaultStatusMin, DefaultStatusMax
	}
	if s.DNSType == "" {
		s.DNSType = DefaultDNSType
	}
	return s
}

// Validate reports the first field that cannot work, for the config layer to
// refuse at load time. A target with an invalid spec is still tracked by the
// Manager, and every check of it fails with this error.
func (s Spec) Validate() error {
	s = s.withDefaults()
	switch s.Type {
	case TypeTCP, TypeUDP, TypeICMP, TypeNone:
	case TypeHTTP, TypeHTTPS:
		if s.StatusMin > s.StatusMax {
			return fmt.Errorf("health check status range %d-%d is empty", s.StatusMin, s.StatusMax)
		}
		if s.Path[0] != '/' {
			return fmt.Errorf("health check path %q must start with /", s.Path)
		}
		if s.BodyRegex != "" {
			if _, err := regexp.Compile(s.BodyRegex); err != nil {
				return fmt.Errorf("health check body_regex: %w", err)
			}
		}
	case TypeDNS:
		if s.DNSName == "" {
			return errors.New("health check dns needs a name to query")
		}
		if _, ok := dnsTypes[s.DNSType]; !ok {
			return fmt.Errorf("health check dns type %q is not supported", s.DNSType)
		}
		if _, err := buildDNSQuery(0, s.DNSName, dnsTypes[s.DNSType]); err != nil {
			return fmt.Errorf("health check dns name: %w", err)
		}
	case TypeExec:
		if s.Command == "" {
			return errors.New("health check exec needs a command")
		}
	default:
		return fmt.Errorf("health check type %q is not one of tcp http https udp icmp dns exec none", s.Type)
	}
	return nil
}
