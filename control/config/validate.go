package config

// Validate refuses a configuration with one line naming the field and the
// reason, and normalizes what it accepts (fills derived fields). A reload runs
// it before anything is compiled, so a refused file leaves the running table
// untouched.

import (
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"fastlvs/dataplane"
)

// configSchedulers are the scheduler names a service may use (the IPVS set plus mh
// and twos, "power of two choices").
var configSchedulers = []string{"rr", "wrr", "lc", "wlc", "sed", "nq", "fo", "ovf", "lblc", "lblcr", "dh", "sh", "mh", "twos"}

// Forwarding methods, protocols, health check types and XDP modes accepted.
var (
	configForwardMethods = []string{"dr", "nat", "fullnat", "tun"}
	configProtocols      = []string{"tcp", "udp"}
	configCheckTypes     = []string{"tcp", "http", "https", "udp", "icmp", "dns", "exec", "none"}
	configXDPModes       = []string{"auto", "native", "generic"}
)

// configSchedulerFlags maps each IPVS scheduler flag to the scheduler it applies to.
var configSchedulerFlags = map[string]string{
	"sh-fallback": "sh", "sh-port": "sh",
	"mh-fallback": "mh", "mh-port": "mh",
}

const (
	configMaxInterfaces    = 2
	configMaxInterfaceName = 15 // IFNAMSIZ - 1
	configMinRingSize      = 64
	configMaxRingSize      = 1 << 15
	configMaxUMEMFrames    = 1 << 20
	configMaxWeight        = 65535
	configMaxMaglevSize    = 1 << 22
)

var configNamePattern = regexp.MustCompile(`^[A-Za-z0-9._:-]+$`)

// Validate checks every field and returns the first refusal as a
// *ConfigError. It fills derived values: empty service names
// ("tcp-198.18.0.10-80"), empty health-check types (tcp or udp after the
// service's protocol), real-server ports of 0 (the service's port) and
// PersistencePrefix.
func (c *Config) Validate() error {
	if err := c.validateGlobals(); err != nil {
		return err
	}
	seenServices := make(map[string]int, len(c.Services))
	seenNames := make(map[string]int, len(c.Services))
	for i := range c.Services {
		path := fmt.Sprintf("services[%d]", i)
		service := &c.Services[i]
		if err := service.validate(path); err != nil {
			return err
		}
		key := fmt.Sprintf("%s %s", service.Protocol, netip.AddrPortFrom(service.VIP, uint16(service.Port)))
		if first, ok := seenServices[key]; ok {
			return Errorf(path, "duplicate service %s (same as services[%d])", key, first)
		}
		seenServices[key] = i
		if first, ok := seenNames[service.Name]; ok {
			return Errorf(path+".name", "duplicate name %q (same as services[%d])", service.Name, first)
		}
		seenNames[service.Name] = i
	}
	return nil
}

func (c *Config) validateGlobals() error {
	if len(c.Interfaces) > configMaxInterfaces {
		return Errorf("interfaces", "at most %d interfaces (one-arm or two-arm director), got %d", configMaxInterfaces, len(c.Interfaces))
	}
	for i, name := range c.Interfaces {
		path := fmt.Sprintf("interfaces[%d]", i)
		switch {
		case name == "":
			return Errorf(path, "must not be empty")
		case len(name) > configMaxInterfaceName || strings.ContainsAny(name, "/ \t"):
			return Errorf(path, "%q is not an interface name", name)
		case slices.Index(c.Interfaces, name) < i:
			return Errorf(path, "duplicate interface %q", name)
		}
	}
	if err := c.validateVLANs(); err != nil {
		return err
	}
	for _, f := range []struct{ path, value string }{{"sync.listen", c.Sync.Listen}, {"sync.peer", c.Sync.Peer}} {
		if f.value == "" {
			continue
		}
		if ap, err := netip.ParseAddrPort(f.value); err != nil || ap.Port() == 0 {
			return Errorf(f.path, "%q is not an IP:port", f.value)
		}
	}
	if err := c.validateBGP(); err != nil {
		return err
	}
	if err := c.validateOverflowAccept(); err != nil {
		return err
	}
	if err := c.Sync.validate(); err != nil {
		return err
	}
	if err := validateMonitor(c.Monitor); err != nil {
		return err
	}
	if c.Notify.Webhook != "" {
		if u, err := url.Parse(c.Notify.Webhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return Errorf("notify.webhook", "%q is not an http(s) URL", c.Notify.Webhook)
		}
	}
	if c.Workers < 0 {
		return Errorf("workers", `must be "auto" or at least 1 (got %d)`, c.Workers)
	}
	for i, cpu := range c.CPUs {
		path := fmt.Sprintf("cpus[%d]", i)
		if cpu < 0 {
			return Errorf(path, "must not be negative (got %d)", cpu)
		}
		if slices.Index(c.CPUs, cpu) < i {
			return Errorf(path, "duplicate cpu %d", cpu)
		}
	}
	if err := c.validateAPI(); err != nil {
		return err
	}
	if c.Metrics != "" {
		if err := validateConfigHostPort(c.Metrics); err != nil {
			return Errorf("metrics", "%q is not host:port (%v)", c.Metrics, err)
		}
	}
	if !configPowerOfTwo(c.RingSize) || c.RingSize < configMinRingSize || c.RingSize > configMaxRingSize {
		return Errorf("ring_size", "must be a power of two between %d and %d (got %d)", configMinRingSize, configMaxRingSize, c.RingSize)
	}
	if !configPowerOfTwo(c.UMEMFrames) || c.UMEMFrames > configMaxUMEMFrames {
		return Errorf("umem_frames", "must be a power of two up to %d (got %d)", configMaxUMEMFrames, c.UMEMFrames)
	}
	if c.UMEMFrames < 2*c.RingSize {
		return Errorf("umem_frames", "must be at least twice ring_size so the fill and tx rings both fit (got %d, ring_size %d)", c.UMEMFrames, c.RingSize)
	}
	if !slices.Contains(configXDPModes, c.XDPMode) {
		return Errorf("xdp_mode", "unknown mode %q (want one of %s)", c.XDPMode, strings.Join(configXDPModes, ", "))
	}
	if _, err := dataplane.ParseBindMode(c.AFXDPBind); err != nil {
		return Errorf("af_xdp_bind", "%v", err)
	}
	if _, err := dataplane.ParsePriority(c.WorkerPriority); err != nil {
		return Errorf("worker_priority", "%v", err)
	}
	if c.Conntrack.Capacity < 1 {
		return Errorf("conntrack.capacity", "must be at least 1 (got %d)", c.Conntrack.Capacity)
	}
	t := &c.Conntrack.Timeouts
	for _, timeout := range []struct {
		name     string
		value    time.Duration
		optional bool // 0 keeps IPVS's value
	}{
		{"tcp", t.TCP, false}, {"tcpfin", t.TCPFin, false}, {"udp", t.UDP, false},
		{"tcp_syn_sent", t.TCPSynSent, true}, {"tcp_syn_recv", t.TCPSynRecv, true},
		{"tcp_time_wait", t.TCPTimeWait, true}, {"tcp_close", t.TCPClose, true},
		{"tcp_close_wait", t.TCPCloseWait, true}, {"tcp_last_ack", t.TCPLastAck, true},
		{"tcp_listen", t.TCPListen, true}, {"tcp_synack", t.TCPSynAck, true},
		{"tcp_none", t.TCPNone, true}, {"icmp", t.ICMP, true},
	} {
		if timeout.value < 0 || (timeout.value == 0 && !timeout.optional) {
			return Errorf("conntrack.timeouts."+timeout.name, "must be positive")
		}
	}
	p := c.Conntrack.Pressure
	if p.HighPercent < 1 || p.HighPercent > 100 {
		return Errorf("conntrack.pressure.high_percent", "must be between 1 and 100 (got %d)", p.HighPercent)
	}
	if p.EmbryonicTimeout <= 0 {
		return Errorf("conntrack.pressure.embryonic_timeout", "must be positive")
	}
	return nil
}

// apiTokenMinLength is the shortest api_token accepted: 32 bytes, as many
// as a random 256-bit key.
const apiTokenMinLength = 32

func (c *Config) validateAPI() error {
	scheme, rest, ok := strings.Cut(c.API, "://")
	switch {
	case ok && scheme == "unix":
		if !strings.HasPrefix(rest, "/") {
			return Errorf("api", "%q needs an absolute socket path (unix:///run/fastlvs.sock)", c.API)
		}
	case ok && scheme == "tcp":
		if err := validateConfigHostPort(rest); err != nil {
			return Errorf("api", "%q is not tcp://host:port (%v)", c.API, err)
		}
		if c.APIToken == "" {
			return Errorf("api_token", "required when the api listens on tcp")
		}
		if len(c.APIToken) < apiTokenMinLength {
			return Errorf("api_token", "%d bytes is too short to resist guessing: at least %d", len(c.APIToken), apiTokenMinLength)
		}
	default:
		return Errorf("api", "%q is not unix:///path or tcp://host:port", c.API)
	}
	switch t := c.APITLS; {
	case t == APITLSConfig{}:
	case scheme != "tcp":
		return Errorf("api_tls", "only for an api on tcp://")
	case t.CertFile == "":
		return Errorf("api_tls.cert_file", "required with api_tls.key_file")
	case t.KeyFile == "":
		return Errorf("api_tls.key_file", "required with api_tls.cert_file")
	}
	return nil
}

func validateConfigHostPort(text string) error {
	_, port, err := net.SplitHostPort(text)
	if err != nil {
		return err
	}
	if number, err := strconv.ParseUint(port, 10, 16); err != nil || number == 0 {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

func (s *ServiceConfig) validate(path string) error {
	if err := validateConfigAddress(path+".vip", s.VIP); err != nil {
		return err
	}
	if err := validateConfigPort(path+".port", s.Port); err != nil {
		return err
	}
	if !slices.Contains(configProtocols, s.Protocol) {
		return Errorf(path+".protocol", "unknown protocol %q (want one of %s)", s.Protocol, strings.Join(configProtocols, ", "))
	}
	if s.Name == "" {
		s.Name = fmt.Sprintf("%s-%s-%d", s.Protocol, s.VIP, s.Port)
	}
	if !configNamePattern.MatchString(s.Name) {
		return Errorf(path+".name", "%q may hold only letters, digits and . _ : -", s.Name)
	}
	if !slices.Contains(configSchedulers, s.Scheduler) {
		return Errorf(path+".scheduler", "unknown scheduler %q (want one of %s)", s.Scheduler, strings.Join(configSchedulers, ", "))
	}
	for i, flag := range s.Flags {
		flagPath := fmt.Sprintf("%s.flags[%d]", path, i)
		scheduler, known := configSchedulerFlags[flag]
		switch {
		case !known:
			return Errorf(flagPath, "unknown flag %q (want one of sh-fallback, sh-port, mh-fallback, mh-port)", flag)
		case scheduler != s.Scheduler:
			return Errorf(flagPath, "%s applies only to scheduler %s (service uses %s)", flag, scheduler, s.Scheduler)
		case slices.Index(s.Flags, flag) < i:
			return Errorf(flagPath, "duplicate flag %q", flag)
		}
	}
	if err := s.validatePersistence(path); err != nil {
		return err
	}
	if !slices.Contains(configForwardMethods, s.Forward) {
		return Errorf(path+".forward", "unknown forwarding method %q (want one of %s)", s.Forward, strings.Join(configForwardMethods, ", "))
	}
	if s.DrainTimeout < 0 {
		return Errorf(path+".drain_timeout", "must not be negative (got %s)", s.DrainTimeout)
	}
	if err := s.validateLocalAddresses(path); err != nil {
		return err
	}
	if err := s.validateTunnel(path); err != nil {
		return err
	}
	if err := s.validateOverflow(path); err != nil {
		return err
	}
	if s.SynProxy {
		if s.Protocol != "tcp" {
			return Errorf(path+".synproxy", "applies only to tcp services")
		}
		if s.Forward != "nat" && s.Forward != "fullnat" {
			return Errorf(path+".synproxy", "needs forward nat or fullnat (the director must see the replies), not %s", s.Forward)
		}
	}
	if err := s.validateClientAddress(path); err != nil {
		return err
	}
	if s.MaglevTableSize != 0 {
		if s.Scheduler != "mh" {
			return Errorf(path+".maglev_table_size", "applies only to scheduler mh (service uses %s)", s.Scheduler)
		}
		if s.MaglevTableSize < 0 || s.MaglevTableSize > configMaxMaglevSize || !configPrime(s.MaglevTableSize) {
			return Errorf(path+".maglev_table_size", "must be a prime up to %d (got %d)", configMaxMaglevSize, s.MaglevTableSize)
		}
		if s.MaglevTableSize < len(s.RealServers) {
			return Errorf(path+".maglev_table_size", "must be at least the number of real servers (%d), got %d", len(s.RealServers), s.MaglevTableSize)
		}
	}
	if err := s.HealthCheck.validate(path+".health_check", s.Protocol); err != nil {
		return err
	}
	if sorry := s.SorryServer; sorry != nil {
		if err := validateConfigAddress(path+".sorry_server.address", sorry.Address); err != nil {
			return err
		}
		if sorry.Address.Is4() != s.VIP.Is4() {
			return Errorf(path+".sorry_server.address", "%s is not of the vip's address family", sorry.Address)
		}
		if err := validateConfigPort(path+".sorry_server.port", sorry.Port); err != nil {
			return err
		}
	}
	if s.Quorum < 0 {
		return Errorf(path+".quorum", "must not be negative (got %d)", s.Quorum)
	}
	for i := range s.RealServers {
		if err := s.validateRealServer(fmt.Sprintf("%s.real_servers[%d]", path, i), i); err != nil {
			return err
		}
	}
	return nil
}

func (s *ServiceConfig) validatePersistence(path string) error {
	if s.Persistence < 0 {
		return Errorf(path+".persistence", "must not be negative (got %s)", s.Persistence)
	}
	if s.Port == 0 && s.Persistence == 0 {
		return Errorf(path+".port", "0 (all ports) needs persistence")
	}
	bitsInAddr := s.VIP.BitLen()
	s.PersistencePrefix = bitsInAddr
	if s.PersistenceNetmask == "" {
		return nil
	}
	netmaskPath := path + ".persistence_netmask"
	if s.Persistence == 0 {
		return Errorf(netmaskPath, "needs persistence")
	}
	if prefix, err := strconv.Atoi(strings.TrimPrefix(s.PersistenceNetmask, "/")); err == nil {
		if prefix < 1 || prefix > bitsInAddr {
			return Errorf(netmaskPath, "prefix length must be between 1 and %d (got %d)", bitsInAddr, prefix)
		}
		s.PersistencePrefix = prefix
		return nil
	}
	if !s.VIP.Is4() {
		return Errorf(netmaskPath, "%q is not a prefix length (IPv6 services take e.g. 64)", s.PersistenceNetmask)
	}
	mask, err := netip.ParseAddr(s.PersistenceNetmask)
	if err != nil || !mask.Is4() {
		return Errorf(netmaskPath, "%q is not a netmask (e.g. 255.255.255.0 or 24)", s.PersistenceNetmask)
	}
	raw := mask.As4()
	value := uint32(raw[0])<<24 | uint32(raw[1])<<16 | uint32(raw[2])<<8 | uint32(raw[3])
	ones := bits.LeadingZeros32(^value)
	if value == 0 || bits.TrailingZeros32(value) != 32-ones {
		return Errorf(netmaskPath, "%q is not a contiguous netmask", s.PersistenceNetmask)
	}
	s.PersistencePrefix = ones
	return nil
}

func (s *ServiceConfig) validateLocalAddresses(path string) error {
	if s.Forward != "fullnat" {
		if len(s.LocalAddresses) > 0 {
			return Errorf(path+".local_addresses", "only for forward fullnat (service uses %s)", s.Forward)
		}
		return nil
	}
	if len(s.LocalAddresses) == 0 {
		return Errorf(path+".local_addresses", "required for forward fullnat")
	}
	for i, addr := range s.LocalAddresses {
		addrPath := fmt.Sprintf("%s.local_addresses[%d]", path, i)
		if err := validateConfigAddress(addrPath, addr); err != nil {
			return err
		}
		if addr.Is4() != s.VIP.Is4() {
			return Errorf(addrPath, "%s is not of the vip's address family", addr)
		}
		if slices.Index(s.LocalAddresses, addr) < i {
			return Errorf(addrPath, "duplicate local address %s", addr)
		}
	}
	return nil
}

func (s *ServiceConfig) validateRealServer(path string, index int) error {
	server := &s.RealServers[index]
	if err := validateConfigAddress(path+".address", server.Address); err != nil {
		return err
	}
	if server.Address.Is4() != s.VIP.Is4() {
		return Errorf(path+".address", "%s is not of the vip's address family (mixing IPv4 and IPv6 is not supported)", server.Address)
	}
	if err := validateConfigPort(path+".port", server.Port); err != nil {
		return err
	}
	if s.Port == 0 && server.Port != 0 {
		return Errorf(path+".port", "must be 0 when the service port is 0 (got %d)", server.Port)
	}
	if server.Port == 0 {
		server.Port = s.Port
	}
	if (s.Forward == "dr" || s.Forward == "tun") && server.Port != s.Port {
		return Errorf(path+".port", "forward %s cannot change the port (got %d, service port %d)", s.Forward, server.Port, s.Port)
	}
	for i := range index {
		if other := s.RealServers[i]; other.Address == server.Address && other.Port == server.Port {
			return Errorf(path, "duplicate real server %s (same as real_servers[%d])", netip.AddrPortFrom(server.Address, uint16(server.Port)), i)
		}
	}
	if server.Weight < 0 || server.Weight > configMaxWeight {
		return Errorf(path+".weight", "must be between 0 and %d (got %d)", configMaxWeight, server.Weight)
	}
	if server.UpperThreshold < 0 {
		return Errorf(path+".upper_threshold", "must not be negative (got %d)", server.UpperThreshold)
	}
	if server.LowerThreshold < 0 {
		return Errorf(path+".lower_threshold", "must not be negative (got %d)", server.LowerThreshold)
	}
	if server.LowerThreshold > 0 && server.UpperThreshold == 0 {
		return Errorf(path+".lower_threshold", "needs upper_threshold")
	}
	if server.LowerThreshold > server.UpperThreshold {
		return Errorf(path+".lower_threshold", "must not exceed upper_threshold %d (got %d)", server.UpperThreshold, server.LowerThreshold)
	}
	if server.HealthCheck != nil {
		if err := server.HealthCheck.validate(path+".health_check", s.Protocol); err != nil {
			return err
		}
	}
	return nil
}

func (h *HealthCheckConfig) validate(path, protocol string) error {
	if h.Type == "" {
		h.Type = protocol
	}
	if !slices.Contains(configCheckTypes, h.Type) {
		return Errorf(path+".type", "unknown type %q (want one of %s)", h.Type, strings.Join(configCheckTypes, ", "))
	}
	if h.WarmUp < 0 {
		return Errorf(path+".warm_up", "must not be negative (got %s)", h.WarmUp)
	}
	if h.Interval <= 0 {
		return Errorf(path+".interval", "must be positive (got %s)", h.Interval)
	}
	if h.Timeout <= 0 {
		return Errorf(path+".timeout", "must be positive (got %s)", h.Timeout)
	}
	if h.Timeout >= h.Interval {
		return Errorf(path+".timeout", "must be shorter than interval %s (got %s)", h.Interval, h.Timeout)
	}
	if h.Rise < 1 {
		return Errorf(path+".rise", "must be at least 1 (got %d)", h.Rise)
	}
	if h.Fall < 1 {
		return Errorf(path+".fall", "must be at least 1 (got %d)", h.Fall)
	}
	if err := validateConfigPort(path+".port", h.Port); err != nil {
		return err
	}
	// Type-specific fields on another type are mistakes, not no-ops.
	for _, field := range []struct {
		name, value string
		types       []string
	}{
		{"path", h.Path, []string{"http", "https"}},
		{"status", h.Status, []string{"http", "https"}},
		{"body_regex", h.BodyRegex, []string{"http", "https"}},
		{"host", h.Host, []string{"http", "https"}},
		{"sni", h.SNI, []string{"https"}},
		{"payload", h.Payload, []string{"tcp", "udp"}},
		{"expect", h.Expect, []string{"tcp", "udp"}},
		{"dns_name", h.DNSName, []string{"dns"}},
		{"command", h.Command, []string{"exec"}},
	} {
		if field.value != "" && !slices.Contains(field.types, h.Type) {
			return Errorf(path+"."+field.name, "applies only to type %s (check type is %s)", strings.Join(field.types, " or "), h.Type)
		}
	}
	if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
		return Errorf(path+".path", "%q must start with /", h.Path)
	}
	if h.Path != "" {
		if _, err := url.ParseRequestURI(h.Path); err != nil {
			return Errorf(path+".path", "%q is not a request path", h.Path)
		}
	}
	if _, err := h.StatusRanges(); err != nil {
		return Errorf(path+".status", "%v", err)
	}
	if h.BodyRegex != "" {
		if _, err := regexp.Compile(h.BodyRegex); err != nil {
			return Errorf(path+".body_regex", "%q does not compile: %v", h.BodyRegex, err)
		}
	}
	if h.Type == "exec" && strings.TrimSpace(h.Command) == "" {
		return Errorf(path+".command", "required for type exec")
	}
	return nil
}

// StatusRanges parses Status ("200-399", "200", "200,301-302") into inclusive
// ranges; an empty Status is 200-399.
func (h *HealthCheckConfig) StatusRanges() ([][2]int, error) {
	if h.Status == "" {
		return [][2]int{{200, 399}}, nil
	}
	var ranges [][2]int
	for part := range strings.SplitSeq(h.Status, ",") {
		low, high, isRange := strings.Cut(strings.TrimSpace(part), "-")
		if !isRange {
			high = low
		}
		first, errLow := strconv.Atoi(strings.TrimSpace(low))
		last, errHigh := strconv.Atoi(strings.TrimSpace(high))
		if errLow != nil || errHigh != nil || first < 100 || last > 599 || first > last {
			return nil, fmt.Errorf("%q is not a status code list (e.g. 200-399 or 200,301)", h.Status)
		}
		ranges = append(ranges, [2]int{first, last})
	}
	return ranges, nil
}

func validateConfigAddress(path string, addr netip.Addr) error {
	switch {
	case !addr.IsValid():
		return Errorf(path, "required")
	case addr.IsUnspecified() || addr.IsMulticast():
		return Errorf(path, "%s is not a unicast address", addr)
	}
	return nil
}

func validateConfigPort(path string, port int) error {
	if port < 0 || port > 65535 {
		return Errorf(path, "must be between 0 and 65535 (got %d)", port)
	}
	return nil
}

func configPowerOfTwo(n int) bool { return n > 0 && n&(n-1) == 0 }

func configPrime(n int) bool {
	if n < 2 {
		return false
	}
	for divisor := 2; divisor*divisor <= n; divisor++ {
		if n%divisor == 0 {
			return false
		}
	}
	return true
}

// SchedulerNames lists the scheduler names a service may use.
func SchedulerNames() []string { return slices.Clone(configSchedulers) }

// validate checks what sync needs besides its addresses: the peer (the only
// accepted source) and a key file; the file itself is read (and refused if
// short or readable by everyone) when sync starts, see readSyncKey.
func (s *SyncConfig) validate() error {
	if s.Listen == "" && s.Peer == "" {
		if s.KeyFile != "" {
			return Errorf("sync.key_file", "set without sync.peer")
		}
		return nil
	}
	if s.Peer == "" {
		return Errorf("sync.peer", "required with sync.listen: only the peer's datagrams are accepted")
	}
	if s.KeyFile == "" {
		return Errorf("sync.key_file", "required: sync datagrams are authenticated with this shared key (at least 32 bytes)")
	}
	return nil
}

func validateMonitor(m MonitorConfig) error {
	if m == (MonitorConfig{}) {
		return nil
	}
	switch {
	case m.Listen == "":
		return Errorf("monitor.listen", "required when the monitor is configured (host:port, e.g. 0.0.0.0:9443)")
	case validateConfigHostPort(m.Listen) != nil:
		return Errorf("monitor.listen", "%q is not host:port (%v)", m.Listen, validateConfigHostPort(m.Listen))
	case m.UsersFile == "":
		return Errorf("monitor.users_file", "required: the monitor needs users (fastlvs passwd --users-file FILE --role admin NAME)")
	case m.CertFile == "" && m.KeyFile != "":
		return Errorf("monitor.cert_file", "required with monitor.key_file")
	case m.CertFile != "" && m.KeyFile == "":
		return Errorf("monitor.key_file", "required with monitor.cert_file")
	}
	return nil
}

// validateTunnel checks the encapsulation of a tun service.
func (s *ServiceConfig) validateTunnel(path string) error {
	switch {
	case s.Tunnel != "" && s.Forward != "tun":
		return Errorf(path+".tunnel", "only for forward tun (service uses %s)", s.Forward)
	case s.GUEPort != 0 && s.Tunnel != "gue":
		return Errorf(path+".gue_port", "only for tunnel gue")
	case s.Tunnel != "" && s.Tunnel != "ipip" && s.Tunnel != "gue":
		return Errorf(path+".tunnel", "unknown tunnel %q (want ipip or gue)", s.Tunnel)
	case s.Tunnel == "gue" && (s.GUEPort < 1 || s.GUEPort > 65535):
		return Errorf(path+".gue_port", "required for tunnel gue: the real servers' GUE port, 1-65535 (got %d)", s.GUEPort)
	}
	return nil
}

// validateClientAddress: client_address names a known way, only FULLNAT
// hides the client, and UDP datagrams carry only a PROXY v2 header.
func (s *ServiceConfig) validateClientAddress(path string) error {
	if s.ClientAddress == "" || s.ClientAddress == "none" {
		return nil
	}
	if _, err := dataplane.ParseClientAddress(s.ClientAddress); err != nil {
		return Errorf(path+".client_address", "%v", err)
	}
	if s.Forward != "fullnat" {
		return Errorf(path+".client_address", "applies only to forward fullnat (the real server sees the client otherwise), not %s", s.Forward)
	}
	if s.Protocol != "tcp" && s.ClientAddress != "proxy_v2" {
		return Errorf(path+".client_address", "%s applies only to tcp services (udp takes proxy_v2)", s.ClientAddress)
	}
	return nil
}
