// Package config is the fastlvs configuration: its schema (schema.go), how
// it is read from YAML, FASTLVS_* variables and flags (load.go), and how it
// is checked, every error naming its field (validate.go). These structs are
// specs: plain, copyable values. Compiling them into a dataplane table is
// package control's job and the only step that touches the running system;
// tools such as the keepalived importer use this package without the
// daemon.
package config

import (
	"fmt"
	"net/netip"
	"time"
)

// Config is the whole fastlvs configuration file.
type Config struct {
	// Interfaces are the ports the director serves; two interfaces make a
	// two-arm director (clients on the first, real servers on the second).
	Interfaces []string `mapstructure:"interfaces" yaml:"interfaces"`
	// VLANs name the kernel device standing for a VLAN of an interface when
	// it is not an 802.1Q sub-interface of it (those are found without
	// being named; see OPERATIONS.md, VLANs).
	VLANs []VLANConfig `mapstructure:"vlans" yaml:"vlans,omitempty"`
	// Workers is the number of packet workers; 0 means "auto" (one per queue).
	Workers int `mapstructure:"workers" yaml:"workers" fastlvs:"auto"`
	// CPUs pins workers to these CPUs, in order; empty leaves them unpinned.
	CPUs []int `mapstructure:"cpus" yaml:"cpus,omitempty"`
	// API is where the control API listens: unix:///path or tcp://host:port.
	API string `mapstructure:"api" yaml:"api"`
	// APIToken is the bearer token a tcp:// API requires (at least 32 bytes).
	APIToken string `mapstructure:"api_token" yaml:"api_token,omitempty"`
	// APITLS serves a tcp:// API over TLS; without it the daemon warns.
	APITLS APITLSConfig `mapstructure:"api_tls" yaml:"api_tls,omitempty"`
	// Metrics is the host:port of the Prometheus endpoint; empty disables it.
	Metrics string `mapstructure:"metrics" yaml:"metrics"`
	// UMEMFrames is the number of frames per AF_XDP socket (power of two);
	// a worker's sockets on all interfaces pool theirs in one UMEM.
	UMEMFrames int `mapstructure:"umem_frames" yaml:"umem_frames"`
	// RingSize is the descriptor count of the rx/tx/fill/completion rings (power of two).
	RingSize int `mapstructure:"ring_size" yaml:"ring_size"`
	// XDPMode is auto, native or generic.
	XDPMode string `mapstructure:"xdp_mode" yaml:"xdp_mode"`
	// AFXDPBind is copy, zerocopy or auto: how the AF_XDP sockets bind.
	AFXDPBind string `mapstructure:"af_xdp_bind" yaml:"af_xdp_bind,omitempty"`
	// WorkerPriority schedules the worker threads: normal, nice:<-20..19>
	// or fifo:<1..99>; default nice:-10 (docs/TUNING.md says why).
	WorkerPriority string          `mapstructure:"worker_priority" yaml:"worker_priority,omitempty"`
	Conntrack      ConntrackConfig `mapstructure:"conntrack" yaml:"conntrack"`
	Options        Options         `mapstructure:"options" yaml:"options"`
	// Sync exchanges connections with a peer director, so the peer carries
	// them on after a failover.
	Sync SyncConfig `mapstructure:"sync" yaml:"sync,omitempty"`
	// Notify is told of every health-check transition (up or down).
	Notify NotifyConfig `mapstructure:"notify" yaml:"notify,omitempty"`
	// Monitor serves the web monitor over HTTPS; empty listen disables it.
	Monitor  MonitorConfig   `mapstructure:"monitor" yaml:"monitor,omitempty"`
	Services []ServiceConfig `mapstructure:"services" yaml:"services"`

	// BGP announces the VIPs of usable services to routers; nil runs no
	// speaker. Changing it needs a restart.
	BGP *BGPConfig `mapstructure:"bgp" yaml:"bgp,omitempty"`
	// DrainGrace is how long a stopping director (SIGTERM, POST /v1/drain)
	// keeps forwarding after withdrawing its VIPs, so routers move new flows
	// first. It applies only with bgp: without it nothing is withdrawn.
	DrainGrace time.Duration `mapstructure:"drain_grace" yaml:"drain_grace,omitempty"`

	// OverflowAccept serves connections that other sites' directors shed to
	// this one's VIPs (their services' overflow); nil accepts none.
	OverflowAccept *OverflowAcceptConfig `mapstructure:"overflow_accept" yaml:"overflow_accept,omitempty"`
}

// OverflowAcceptConfig names the other sites' directors whose tunnelled
// connections this director opens and serves.
type OverflowAcceptConfig struct {
	// From lists the peers' addresses: tunnel packets from any other source
	// are dropped (overflow_peer_refused), whatever is inside.
	From []netip.Addr `mapstructure:"from" yaml:"from"`
	// GUEPort is the UDP port peers send GUE to; 0 accepts IPIP only.
	GUEPort int `mapstructure:"gue_port" yaml:"gue_port,omitempty"`
}

// OverflowConfig sheds a service's new connections to another site while
// its load is over its capacity: above High times the capacity they are
// tunnelled to To, below Low times it they stay home again. Established
// connections never move.
type OverflowConfig struct {
	// To is the other site's director (an address its overflow_accept
	// steers; its services must include this one's VIP and port).
	To netip.Addr `mapstructure:"to" yaml:"to"`
	// High and Low are load ratios (0 means 1.1 and 0.7).
	High float64 `mapstructure:"high" yaml:"high,omitempty"`
	Low  float64 `mapstructure:"low" yaml:"low,omitempty"`
	// Capacity is the number of active connections the site serves at a
	// load of 1; 0 means the sum of the real servers' upper_threshold.
	Capacity int `mapstructure:"capacity" yaml:"capacity,omitempty"`
	// Tunnel is ipip (the default) or gue, to GUEPort.
	Tunnel  string `mapstructure:"tunnel" yaml:"tunnel,omitempty"`
	GUEPort int    `mapstructure:"gue_port" yaml:"gue_port,omitempty"`
}

// Overflow defaults.
const (
	DefaultOverflowHigh = 1.1
	DefaultOverflowLow  = 0.7
)

// APITLSConfig names the certificate (PEM, chain first) and its key for a
// TCP API over TLS.
// VLANConfig says that frames tagged ID on Interface belong to the kernel
// device Device: its addresses, routes and neighbours are that VLAN's.
type VLANConfig struct {
	Interface string `mapstructure:"interface" yaml:"interface"`
	ID        int    `mapstructure:"id" yaml:"id"`
	Device    string `mapstructure:"device" yaml:"device"`
}

type APITLSConfig struct {
	CertFile string `mapstructure:"cert_file" yaml:"cert_file,omitempty"`
	KeyFile  string `mapstructure:"key_file" yaml:"key_file,omitempty"`
}

// BGPConfig is the embedded BGP speaker (control/bgp). A VIP is announced as
// a /32 or /128 while at least one of its services is usable.
type BGPConfig struct {
	ASN      int        `mapstructure:"asn" yaml:"asn"`
	RouterID netip.Addr `mapstructure:"router_id" yaml:"router_id"`
	// ListenPort is where passive peers connect; 0 (the default) listens on
	// no port, since the director dials its routers.
	ListenPort int             `mapstructure:"listen_port" yaml:"listen_port,omitempty"`
	Peers      []BGPPeerConfig `mapstructure:"peers" yaml:"peers"`
	// Communities ("65000:100") and MED (0 = none) go with every VIP.
	Communities []string `mapstructure:"communities" yaml:"communities,omitempty"`
	MED         int      `mapstructure:"med" yaml:"med,omitempty"`
	// NextHop holds at most one address per family; a family without one
	// announces each session's local address.
	NextHop []netip.Addr `mapstructure:"next_hop" yaml:"next_hop,omitempty"`
}

// BGPPeerConfig is one router the speaker peers with.
type BGPPeerConfig struct {
	Address netip.Addr `mapstructure:"address" yaml:"address"`
	// Port 0 means 179.
	Port int `mapstructure:"port" yaml:"port,omitempty"`
	ASN  int `mapstructure:"asn" yaml:"asn"`
	// HoldTime 0 means 90s; keepalives go every third of it.
	HoldTime time.Duration `mapstructure:"hold_time" yaml:"hold_time,omitempty"`
	// Password turns on TCP MD5 signatures (RFC 2385).
	Password string `mapstructure:"password" yaml:"password,omitempty"`
	// Passive waits for the router to connect (needs listen_port).
	Passive bool `mapstructure:"passive" yaml:"passive,omitempty"`
}

// SyncConfig names where this director receives its peer's connections and
// where it sends its own (IP:port each). Peer is required for either: only
// datagrams from the peer's address are accepted. KeyFile holds the shared
// secret (at least 32 bytes, not readable by everyone) that authenticates
// every datagram; sync does not run without it.
type SyncConfig struct {
	Listen  string `mapstructure:"listen" yaml:"listen,omitempty"`
	Peer    string `mapstructure:"peer" yaml:"peer,omitempty"`
	KeyFile string `mapstructure:"key_file" yaml:"key_file,omitempty"`
}

// MonitorConfig places the web monitor: listen, cert_file, key_file and
// users_file. Without cert_file and key_file a self-signed certificate is
// generated beside users_file.
type MonitorConfig struct {
	Listen    string `mapstructure:"listen" yaml:"listen,omitempty"`
	CertFile  string `mapstructure:"cert_file" yaml:"cert_file,omitempty"`
	KeyFile   string `mapstructure:"key_file" yaml:"key_file,omitempty"`
	UsersFile string `mapstructure:"users_file" yaml:"users_file,omitempty"`
}

// NotifyConfig names the hooks run on health-check transitions.
type NotifyConfig struct {
	// Exec is a shell command run with FASTLVS_EVENT=up|down, FASTLVS_TARGET,
	// FASTLVS_ADDR, FASTLVS_WEIGHT and FASTLVS_REASON in its environment.
	Exec string `mapstructure:"exec" yaml:"exec,omitempty"`
	// Webhook receives each transition as a JSON POST.
	Webhook string `mapstructure:"webhook" yaml:"webhook,omitempty"`
}

// ConntrackConfig sizes the per-worker connection tables.
type ConntrackConfig struct {
	// Capacity is the total number of connection entries, shared out among workers.
	Capacity int               `mapstructure:"capacity" yaml:"capacity"`
	Timeouts ConntrackTimeouts `mapstructure:"timeouts" yaml:"timeouts"`
	Pressure ConntrackPressure `mapstructure:"pressure" yaml:"pressure"`
}

// ConntrackTimeouts are the idle timeouts of each connection state: tcp,
// tcpfin and udp are those of `ipvsadm --set tcp tcpfin udp`; the others
// are the rest of IPVS's tcp_timeouts table (omitted: IPVS's value).
type ConntrackTimeouts struct {
	TCP          time.Duration `mapstructure:"tcp" yaml:"tcp"`
	TCPFin       time.Duration `mapstructure:"tcpfin" yaml:"tcpfin"`
	UDP          time.Duration `mapstructure:"udp" yaml:"udp"`
	TCPSynSent   time.Duration `mapstructure:"tcp_syn_sent" yaml:"tcp_syn_sent,omitempty"`
	TCPSynRecv   time.Duration `mapstructure:"tcp_syn_recv" yaml:"tcp_syn_recv,omitempty"`
	TCPTimeWait  time.Duration `mapstructure:"tcp_time_wait" yaml:"tcp_time_wait,omitempty"`
	TCPClose     time.Duration `mapstructure:"tcp_close" yaml:"tcp_close,omitempty"`
	TCPCloseWait time.Duration `mapstructure:"tcp_close_wait" yaml:"tcp_close_wait,omitempty"`
	TCPLastAck   time.Duration `mapstructure:"tcp_last_ack" yaml:"tcp_last_ack,omitempty"`
	TCPListen    time.Duration `mapstructure:"tcp_listen" yaml:"tcp_listen,omitempty"`
	TCPSynAck    time.Duration `mapstructure:"tcp_synack" yaml:"tcp_synack,omitempty"`
	TCPNone      time.Duration `mapstructure:"tcp_none" yaml:"tcp_none,omitempty"`
	ICMP         time.Duration `mapstructure:"icmp" yaml:"icmp,omitempty"`
}

// ConntrackPressure defends a filling table against floods of half-open
// connections: from HighPercent of the capacity, a connection that never
// completed its handshake (or a UDP flow whose client never spoke again
// after an answer) lives only
// EmbryonicTimeout; when the table is full, a new connection replaces a
// random old half-open one. Established connections are never touched.
type ConntrackPressure struct {
	HighPercent      int           `mapstructure:"high_percent" yaml:"high_percent"`
	EmbryonicTimeout time.Duration `mapstructure:"embryonic_timeout" yaml:"embryonic_timeout"`
}

// Options mirror the IPVS sysctls of the same names.
type Options struct {
	// ExpireNodestConn drops a connection whose real server was removed
	// instead of letting it time out.
	ExpireNodestConn bool `mapstructure:"expire_nodest_conn" yaml:"expire_nodest_conn"`
	// ExpireQuiescentTemplate expires persistence templates that point at a
	// real server of weight 0.
	ExpireQuiescentTemplate bool `mapstructure:"expire_quiescent_template" yaml:"expire_quiescent_template"`
	// SloppyTCP creates a connection from any TCP packet but a reset, not
	// only from a SYN (IPVS's sloppy_tcp): with a deterministic scheduler
	// (mh, sh, dh) a director that ECMP hands a running flow picks the same
	// real server, so the flow survives the move.
	SloppyTCP bool `mapstructure:"sloppy_tcp" yaml:"sloppy_tcp"`
}

// ServiceConfig is one virtual service (an `ipvsadm -A` line plus its checks).
type ServiceConfig struct {
	// Name labels the service in metrics and the API; Validate fills
	// "<protocol>-<vip>-<port>" when it is empty.
	Name string     `mapstructure:"name" yaml:"name"`
	VIP  netip.Addr `mapstructure:"vip" yaml:"vip"`
	// Port 0 means every port (persistent services only).
	Port      int      `mapstructure:"port" yaml:"port"`
	Protocol  string   `mapstructure:"protocol" yaml:"protocol"`
	Scheduler string   `mapstructure:"scheduler" yaml:"scheduler"`
	Flags     []string `mapstructure:"flags" yaml:"flags,omitempty"`
	// Persistence is the template timeout; 0 disables persistence. In YAML,
	// `true` means 360s like ipvsadm -p without a value.
	Persistence time.Duration `mapstructure:"persistence" yaml:"persistence,omitempty" fastlvs:"booldur"`
	// PersistenceNetmask groups clients for persistence: a dotted mask or
	// prefix length for IPv4, a prefix length for IPv6. Empty means the whole
	// address.
	PersistenceNetmask string `mapstructure:"persistence_netmask" yaml:"persistence_netmask,omitempty"`
	// PersistencePrefix is the prefix length derived from PersistenceNetmask by
	// Validate (32 or 128 when the netmask is empty).
	PersistencePrefix int `mapstructure:"-" yaml:"-"`
	// Forward is dr, nat, fullnat or tun.
	Forward string `mapstructure:"forward" yaml:"forward"`
	// Tunnel is the encapsulation of forward tun: ipip (the default: IPIP,
	// IPv6-in-IP) or gue (the same inside UDP to GUEPort with a GUE header).
	Tunnel  string `mapstructure:"tunnel" yaml:"tunnel,omitempty"`
	GUEPort int    `mapstructure:"gue_port" yaml:"gue_port,omitempty"`
	// LocalAddresses are the FULLNAT source addresses (fullnat only).
	LocalAddresses []netip.Addr `mapstructure:"local_addresses" yaml:"local_addresses,omitempty"`
	SynProxy       bool         `mapstructure:"synproxy" yaml:"synproxy,omitempty"`
	// ClientAddress is how a FULLNAT real server learns the client: none,
	// toa, proxy_v1 or proxy_v2 (empty is none).
	ClientAddress string `mapstructure:"client_address" yaml:"client_address,omitempty"`
	// MaglevTableSize is the mh lookup table size (prime); 0 picks the default.
	MaglevTableSize int                `mapstructure:"maglev_table_size" yaml:"maglev_table_size,omitempty"`
	HealthCheck     HealthCheckConfig  `mapstructure:"health_check" yaml:"health_check"`
	SorryServer     *SorryServerConfig `mapstructure:"sorry_server" yaml:"sorry_server,omitempty"`
	// Quorum is the total weight of healthy real servers below which the
	// service is served by the sorry server (keepalived's quorum).
	Quorum int `mapstructure:"quorum" yaml:"quorum,omitempty"`
	// DrainTimeout bounds how long connections to a real server removed from
	// the configuration live on; 0 lets them run until they end (IPVS).
	DrainTimeout time.Duration      `mapstructure:"drain_timeout" yaml:"drain_timeout,omitempty"`
	RealServers  []RealServerConfig `mapstructure:"real_servers" yaml:"real_servers"`

	// BGP sets the MED and communities announced with this service's VIP
	// instead of the bgp section's; services sharing a VIP must agree.
	BGP *ServiceBGPConfig `mapstructure:"bgp" yaml:"bgp,omitempty"`

	// Overflow sheds new connections to another site while the service is
	// over its capacity; nil never sheds.
	Overflow *OverflowConfig `mapstructure:"overflow" yaml:"overflow,omitempty"`
}

// ServiceBGPConfig is a VIP's own BGP attributes: a MED of 0 or no
// communities keep the bgp section's.
type ServiceBGPConfig struct {
	MED         int      `mapstructure:"med" yaml:"med,omitempty"`
	Communities []string `mapstructure:"communities" yaml:"communities,omitempty"`
}

// RealServerConfig is one real server of a service.
type RealServerConfig struct {
	Address netip.Addr `mapstructure:"address" yaml:"address"`
	// Port 0 means the service's port (Validate fills it in).
	Port   int `mapstructure:"port" yaml:"port"`
	Weight int `mapstructure:"weight" yaml:"weight"`
	// UpperThreshold caps active connections (0 = no cap); the server takes new
	// connections again once it falls below LowerThreshold.
	UpperThreshold int `mapstructure:"upper_threshold" yaml:"upper_threshold,omitempty"`
	LowerThreshold int `mapstructure:"lower_threshold" yaml:"lower_threshold,omitempty"`
	// HealthCheck overrides the service's check for this server; nil inherits
	// it. When read from YAML the override is already merged over the
	// service's check, so it is complete.
	HealthCheck *HealthCheckConfig `mapstructure:"health_check" yaml:"health_check,omitempty"`
}

// HealthCheckConfig says how to probe a real server.
type HealthCheckConfig struct {
	// Type is tcp, http, https, udp, icmp, dns, exec or none. Validate fills
	// tcp for TCP services and udp for UDP services when it is empty.
	Type     string        `mapstructure:"type" yaml:"type"`
	Interval time.Duration `mapstructure:"interval" yaml:"interval"`
	Timeout  time.Duration `mapstructure:"timeout" yaml:"timeout"`
	// Rise is the number of consecutive successes that mark a server up,
	// Fall the number of consecutive failures that mark it down.
	Rise int `mapstructure:"rise" yaml:"rise"`
	Fall int `mapstructure:"fall" yaml:"fall"`
	// WarmUp delays each target's first check by a random time up to this,
	// so thousands of checks do not start in the same instant.
	WarmUp time.Duration `mapstructure:"warm_up" yaml:"warm_up,omitempty"`
	// Port 0 probes the real server's own port.
	Port int `mapstructure:"port" yaml:"port,omitempty"`
	// Path, Status, BodyRegex and Host are for http and https; an empty
	// Path means "/", an empty Status means "200-399".
	Path      string `mapstructure:"path" yaml:"path,omitempty"`
	Status    string `mapstructure:"status" yaml:"status,omitempty"`
	BodyRegex string `mapstructure:"body_regex" yaml:"body_regex,omitempty"`
	Host      string `mapstructure:"host" yaml:"host,omitempty"`
	// SNI is the TLS server name of an https check.
	SNI string `mapstructure:"sni" yaml:"sni,omitempty"`
	// Payload is sent and Expect must appear in the reply (tcp and udp).
	Payload string `mapstructure:"payload" yaml:"payload,omitempty"`
	Expect  string `mapstructure:"expect" yaml:"expect,omitempty"`
	// DNSName is the name a dns check resolves; empty means ".".
	DNSName string `mapstructure:"dns_name" yaml:"dns_name,omitempty"`
	// Command is run by an exec check; exit status 0 means healthy.
	Command string `mapstructure:"command" yaml:"command,omitempty"`
	// InhibitOnFailure sets a failed server's weight to 0 instead of removing it.
	InhibitOnFailure bool `mapstructure:"inhibit_on_failure" yaml:"inhibit_on_failure,omitempty"`
}

// SorryServerConfig takes the traffic of a service that has no healthy real
// server (or less than its quorum).
type SorryServerConfig struct {
	Address netip.Addr `mapstructure:"address" yaml:"address"`
	// Port 0 means the service's port.
	Port int `mapstructure:"port" yaml:"port,omitempty"`
}

// Defaults, the values an omitted key takes.
const (
	DefaultAPI             = "unix:///run/fastlvs.sock"
	DefaultMetrics         = "127.0.0.1:9120"
	DefaultUMEMFrames      = 4096
	DefaultRingSize        = 2048
	DefaultXDPMode         = "auto"
	DefaultAFXDPBind       = "copy"
	DefaultWorkerPriority  = "nice:-10" // measured: docs/TUNING.md
	DefaultConntrackSize   = 1 << 20
	DefaultScheduler       = "wlc"
	DefaultProtocol        = "tcp"
	DefaultForward         = "dr"
	DefaultWeight          = 1
	DefaultPersistenceTrue = 360 * time.Second // ipvsadm -p without a timeout
	DefaultDrainGrace      = 5 * time.Second

	// DefaultPressureHighPercent and DefaultEmbryonicTimeout are conntrack.DefaultPressure.
	DefaultPressureHighPercent = 75
	DefaultEmbryonicTimeout    = 3 * time.Second
)

// DefaultConfig returns a Config with every default filled and no services.
func DefaultConfig() Config {
	return Config{
		API:            DefaultAPI,
		Metrics:        DefaultMetrics,
		UMEMFrames:     DefaultUMEMFrames,
		RingSize:       DefaultRingSize,
		XDPMode:        DefaultXDPMode,
		AFXDPBind:      DefaultAFXDPBind,
		WorkerPriority: DefaultWorkerPriority,
		DrainGrace:     DefaultDrainGrace,
		Conntrack: ConntrackConfig{
			Capacity: DefaultConntrackSize,
			Timeouts: ConntrackTimeouts{TCP: 900 * time.Second, TCPFin: 120 * time.Second, UDP: 300 * time.Second},
			Pressure: ConntrackPressure{HighPercent: DefaultPressureHighPercent, EmbryonicTimeout: DefaultEmbryonicTimeout},
		},
	}
}

// DefaultService returns a service with the default protocol, scheduler,
// forwarding method and health check, and no address yet.
func DefaultService() ServiceConfig {
	return ServiceConfig{
		Protocol:    DefaultProtocol,
		Scheduler:   DefaultScheduler,
		Forward:     DefaultForward,
		HealthCheck: DefaultHealthCheck(),
	}
}

// DefaultRealServer returns a real server of the default weight.
func DefaultRealServer() RealServerConfig {
	return RealServerConfig{Weight: DefaultWeight}
}

// DefaultHealthCheck returns the default check timing; the type is filled by
// Validate from the service's protocol.
func DefaultHealthCheck() HealthCheckConfig {
	return HealthCheckConfig{Interval: 2 * time.Second, Timeout: time.Second, Rise: 2, Fall: 3}
}

// RealServerCheck returns the health check that applies to real server i: its
// own override, or the service's check.
func (s *ServiceConfig) RealServerCheck(i int) HealthCheckConfig {
	if hc := s.RealServers[i].HealthCheck; hc != nil {
		return *hc
	}
	return s.HealthCheck
}

// String names the service for logs: "web (tcp 198.18.0.10:80)".
func (s *ServiceConfig) String() string {
	return fmt.Sprintf("%s (%s %s)", s.Name, s.Protocol, netip.AddrPortFrom(s.VIP, uint16(s.Port)))
}

// ConfigError is a refused configuration value: the field's path in the YAML
// document (services[0].real_servers[2].weight) and why it was refused.
type ConfigError struct {
	Field  string
	Reason string
}

func (e *ConfigError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

func Errorf(field, format string, args ...any) error {
	return &ConfigError{Field: field, Reason: fmt.Sprintf(format, args...)}
}
