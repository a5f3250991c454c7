// Package api is the daemon's versioned HTTP/JSON control API: the request and
// response types, the handler that validates requests and calls a Backend,
// the listener (unix socket or TCP with a bearer token) and the Client that
// fastlvsadm uses.
package api

import (
	"fmt"
	"net/netip"
	"strings"
)

// Protocol names used in ServiceKey.Protocol and Connection.Protocol.
const (
	ProtocolTCP = "tcp"
	ProtocolUDP = "udp"
)

// Forwarding methods used in RealServer.Forward and Service.Forward.
const (
	ForwardDR      = "dr"
	ForwardNAT     = "nat"
	ForwardFullNAT = "fullnat"
	ForwardTunnel  = "tun"
)

// DefaultScheduler is what a service gets when it names none (as in ipvsadm).
const DefaultScheduler = "wlc"

// DefaultPersistentTimeout is ipvsadm's timeout for "-p" without a value.
const DefaultPersistentTimeout = 300

// MaxTimeout is ipvsadm's largest accepted timeout: 31 days in seconds.
const MaxTimeout = 86400 * 31

// ServiceKey names a virtual service.
type ServiceKey struct {
	Protocol string     `json:"protocol"`
	Address  netip.Addr `json:"address"`
	Port     uint16     `json:"port"`
}

// String renders the key like ipvsadm names a service: "TCP 198.18.0.10:80"
// or "UDP [2001:2::10]:53".
func (k ServiceKey) String() string {
	return strings.ToUpper(k.Protocol) + " " + netip.AddrPortFrom(k.Address, k.Port).String()
}

// Service is a virtual service with its real servers. Stats, Rates and the
// connection counters of its real servers are read-only: they are reported by
// ListServices and ignored on writes.
type Service struct {
	Key       ServiceKey `json:"key"`
	Scheduler string     `json:"scheduler"`
	// Flags are scheduler flags: flag-1, flag-2, flag-3, sh-fallback, sh-port
	// (sh and mh), mh-fallback, mh-port (mh), and ops (one-packet scheduling, UDP).
	Flags      []string `json:"flags,omitempty"`
	Persistent bool     `json:"persistent"`
	// Timeout is the persistence timeout in seconds (0 with Persistent means
	// DefaultPersistentTimeout).
	Timeout uint32 `json:"timeout"`
	// Netmask is the persistence granularity: a dotted IPv4 mask
	// ("255.255.255.0") for IPv4 services, a prefix length ("64") for IPv6
	// ones; empty means a single address (/32 or /128).
	Netmask string `json:"netmask,omitempty"`
	// Forward is the default forwarding method for real servers that name none.
	Forward        string       `json:"forward,omitempty"`
	LocalAddresses []netip.Addr `json:"local_addresses,omitempty"`
	RealServers    []RealServer `json:"real_servers,omitempty"`
	Stats          Stats        `json:"stats"`
	Rates          Rates        `json:"rates"`
	// Overflow is the service's site overflow, read-only (set in the
	// configuration file); nil without one. It is no real server.
	Overflow *Overflow `json:"overflow,omitempty"`
}

// Overflow is where a service sheds new connections over its capacity and
// how it stands: Shedding now or not, the LoadRatio that decided it,
// ShedConns so far and ActiveConns of them still established.
type Overflow struct {
	To          netip.Addr `json:"to"`
	High        float64    `json:"high"`
	Low         float64    `json:"low"`
	Capacity    uint32     `json:"capacity"`
	Shedding    bool       `json:"shedding"`
	LoadRatio   float64    `json:"load_ratio"`
	ShedConns   uint64     `json:"shed_conns"`
	ActiveConns int64      `json:"active_conns"`
}

// RealServer is one destination of a service.
type RealServer struct {
	Address        netip.Addr `json:"address"`
	Port           uint16     `json:"port"`
	Forward        string     `json:"forward"`
	Weight         int32      `json:"weight"`
	UpperThreshold uint32     `json:"upper_threshold"`
	LowerThreshold uint32     `json:"lower_threshold"`
	ActiveConns    int64      `json:"active_conns"`
	InactiveConns  int64      `json:"inactive_conns"`
	PersistConns   int64      `json:"persist_conns"`
	Stats          Stats      `json:"stats"`
	Rates          Rates      `json:"rates"`

	// Health is what the real server's health check says, HealthUp or
	// HealthDown; empty when it has no check. Ignored in requests.
	Health string `json:"health,omitempty"`
	// OutOfRotation: its health check took it out of the table (down,
	// without inhibit_on_failure); ipvsadm under keepalived would not list it.
	OutOfRotation bool `json:"out_of_rotation,omitempty"`
	// WeightInForce, when set, is the weight the table uses instead of
	// Weight: 0 for a down server with inhibit_on_failure, or the weight an
	// exec check set. Weight stays the configured one (what -S saves).
	WeightInForce *int32 `json:"weight_in_force,omitempty"`
}

// Health states of RealServer.Health.
const (
	HealthUp   = "up"
	HealthDown = "down"
)

// AddrPort is the real server's address and port.
func (r RealServer) AddrPort() netip.AddrPort { return netip.AddrPortFrom(r.Address, r.Port) }

// Stats are cumulative counters.
type Stats struct {
	Conns      uint64 `json:"conns"`
	InPackets  uint64 `json:"in_packets"`
	OutPackets uint64 `json:"out_packets"`
	InBytes    uint64 `json:"in_bytes"`
	OutBytes   uint64 `json:"out_bytes"`
}

// Rates are per-second estimates (connections, packets, bytes).
type Rates struct {
	CPS    uint64 `json:"cps"`
	InPPS  uint64 `json:"in_pps"`
	OutPPS uint64 `json:"out_pps"`
	InBPS  uint64 `json:"in_bps"`
	OutBPS uint64 `json:"out_bps"`
}

// Timeouts are the connection idle timeouts in seconds; 0 on a write leaves
// the value unchanged (as ipvsadm --set does).
type Timeouts struct {
	TCP    uint32 `json:"tcp"`
	TCPFin uint32 `json:"tcp_fin"`
	UDP    uint32 `json:"udp"`
}

// Connection is one entry of the connection table.
type Connection struct {
	Protocol       string         `json:"protocol"`
	Client         netip.AddrPort `json:"client"`
	Virtual        netip.AddrPort `json:"virtual"`
	Real           netip.AddrPort `json:"real"`
	State          string         `json:"state"`
	ExpiresSeconds uint32         `json:"expires_seconds"`
	// Local is the FULLNAT local address and port (zero otherwise).
	Local netip.AddrPort `json:"local,omitzero"`
}

// LocalAddress is the body of the laddrs endpoints.
type LocalAddress struct {
	Address netip.Addr `json:"address"`
}

// Error is the JSON body of every 4xx/5xx answer.
type Error struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// FieldError is what the handler produces for an invalid request and what a
// Backend returns to refuse one. NotFound maps to 404, Exists to 409, anything
// else to 400. Field names the offending JSON field ("key", "real_server",
// "local_address", "scheduler", ...).
type FieldError struct {
	Field    string
	Message  string
	NotFound bool
	Exists   bool
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Field names used by the error constructors below; fastlvsadm relies on them
// to print ipvsadm's messages.
const (
	FieldService      = "key"
	FieldRealServer   = "real_server"
	FieldLocalAddress = "local_address"
)

// ErrServiceNotFound is the error a Backend returns for an unknown service.
func ErrServiceNotFound(k ServiceKey) error {
	return &FieldError{Field: FieldService, Message: fmt.Sprintf("no such service %s", k), NotFound: true}
}

// ErrServiceExists is the error a Backend returns when adding a known service.
func ErrServiceExists(k ServiceKey) error {
	return &FieldError{Field: FieldService, Message: fmt.Sprintf("service %s already exists", k), Exists: true}
}

// ErrRealServerNotFound is the error for an unknown real server of a service.
func ErrRealServerNotFound(k ServiceKey, rs netip.AddrPort) error {
	return &FieldError{Field: FieldRealServer, Message: fmt.Sprintf("no such real server %s in %s", rs, k), NotFound: true}
}

// ErrRealServerExists is the error when adding a real server twice.
func ErrRealServerExists(k ServiceKey, rs netip.AddrPort) error {
	return &FieldError{Field: FieldRealServer, Message: fmt.Sprintf("real server %s already exists in %s", rs, k), Exists: true}
}

// ErrLocalAddressNotFound is the error for removing an unknown local address.
func ErrLocalAddressNotFound(k ServiceKey, a netip.Addr) error {
	return &FieldError{Field: FieldLocalAddress, Message: fmt.Sprintf("no such local address %s in %s", a, k), NotFound: true}
}

// ErrLocalAddressExists is the error when adding a local address twice.
func ErrLocalAddressExists(k ServiceKey, a netip.Addr) error {
	return &FieldError{Field: FieldLocalAddress, Message: fmt.Sprintf("local address %s already exists in %s", a, k), Exists: true}
}

// Backend is what the API drives: the running daemon (control.OfflineBackend
// in tests, the same backend without a dataplane).
// Each call is applied atomically: either entirely or not at all.
type Backend interface {
	ListServices() ([]Service, error)
	// AddService adds a service with the real servers and local addresses it
	// lists. The handler has already run ValidateService on it.
	AddService(Service) error
	// EditService changes scheduler, flags, persistence, netmask and default
	// forwarding; real servers and counters are kept, and local addresses too
	// unless the service lists some.
	EditService(Service) error
	DeleteService(ServiceKey) error
	Clear() error
	// AddRealServer: an empty Forward means the service's Forward (dr if
	// none); for dr and tun, and for port 0, the port is the service's.
	AddRealServer(ServiceKey, RealServer) error
	// EditRealServer changes forwarding, weight and thresholds.
	EditRealServer(ServiceKey, RealServer) error
	DeleteRealServer(ServiceKey, netip.AddrPort) error
	// Zero resets the counters of one service, or of all when the key is nil.
	Zero(*ServiceKey) error
	Timeouts() (Timeouts, error)
	SetTimeouts(Timeouts) error
	Connections() ([]Connection, error)
	AddLocalAddress(ServiceKey, netip.Addr) error
	DeleteLocalAddress(ServiceKey, netip.Addr) error
}
