package control

// The daemon side of the control API (api.Backend). Every write is an edit
// of the running configuration through Daemon.Change, so the API and the
// file obey the same validation and nothing is half-applied; reads combine
// the configuration with the dataplane's live counters.
//
// Where fastlvs differs from IPVS, on purpose or by its design:
//   - The configuration holds one forwarding method per service. A real
//     server naming another method than its service's is refused (field
//     "forward"), except that a service without real servers takes the method
//     of its first one (ipvsadm -A has no forwarding option, so a service
//     added by -A and filled by -a must get its method from there), and a
//     service without real servers becomes fullnat when it gets a local
//     address. A fullnat service therefore needs its local addresses before
//     its first real server.
//   - Services added through the API are not health-checked (their check
//     type is "none"), as with ipvsadm: keepalived's file is where checks live.
//   - Weight is the configured weight; a health check's verdict comes
//     beside it (Health, OutOfRotation, WeightInForce), so -S saves what was
//     configured and -L can show what is in rotation.
//   - PersistConns is always 0: templates live in the workers' tables and
//     are not counted per real server.
//   - Rates are estimated by sampling the counters every 2 s and smoothing
//     with weight 1/4, as IPVS's estimator does; the sampler starts with the
//     first listing, so that listing reports zero rates.
//   - Scheduler flags flag-1..3 have a meaning only for sh and mh (fallback,
//     port); elsewhere, and one-packet scheduling (ops), are refused.

import (
	"errors"
	"fastlvs/control/config"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"fastlvs/conntrack"
	"fastlvs/control/api"
	"fastlvs/dataplane"
	"fastlvs/xsk"
)

// workerAnswerTimeout bounds how long a request waits for the workers
// (listing connections, installing timeouts).
const workerAnswerTimeout = 2 * time.Second

// apiBackend serves the API over a running daemon. config and change are
// the daemon's; dp is nil in tests, which then see no live counters,
// connections or workers.
type apiBackend struct {
	config func() *config.Config
	change func(edit func(cfg *config.Config) error) error
	// health is the health-check verdict on a real server; nil when nothing
	// is checked.
	health func(RealServerKey) (Override, bool)
	dp     *dataplane.Dataplane
	rates  *rateEstimator
}

// newAPIBackend is the api.Backend of d.
func newAPIBackend(d *Daemon) api.Backend {
	b := &apiBackend{config: d.Config, change: d.Change, health: d.override, dp: d.Dataplane()}
	b.rates = newRateEstimator(rateInterval, b.sampleTraffic)
	return b
}

// errorScope says which service (and real server) an edit touched, so that
// a configuration error can be named in the request's own terms.
type errorScope struct {
	service      int // index in cfg.Services, -1 when the edit is global
	real         int // index in its real_servers when the request names one real server, else -1
	localAddress bool
}

var globalScope = errorScope{service: -1, real: -1}

// apply runs edit through the daemon's atomic change and translates what a
// refusal says into the API's field names.
func (b *apiBackend) apply(edit func(cfg *config.Config) (errorScope, error)) error {
	scope := globalScope
	err := b.change(func(cfg *config.Config) error {
		var err error
		scope, err = edit(cfg)
		return err
	})
	return apiErrorOf(err, scope)
}

// apiErrorOf turns a *ConfigError into a *api.FieldError (400); other
// errors pass unchanged.
func apiErrorOf(err error, scope errorScope) error {
	var ce *config.ConfigError
	if err == nil || !errors.As(err, &ce) {
		return err
	}
	return &api.FieldError{Field: scope.apiField(ce.Field), Message: ce.Reason}
}

// apiField renames a configuration path (services[2].real_servers[0].weight)
// to the request's JSON field (real_server.weight); a path outside the
// request's service stays whole.
func (s errorScope) apiField(configField string) string {
	if s.service < 0 {
		return configField
	}
	rest, ok := strings.CutPrefix(configField, fmt.Sprintf("services[%d]", s.service))
	if !ok {
		return configField
	}
	rest = strings.TrimPrefix(rest, ".")
	if s.real >= 0 {
		if tail, ok := strings.CutPrefix(rest, fmt.Sprintf("real_servers[%d]", s.real)); ok {
			return api.FieldRealServer + tail
		}
	}
	head, tail := rest, ""
	if i := strings.IndexAny(rest, ".["); i >= 0 {
		head, tail = rest[:i], rest[i:]
	}
	switch head {
	case "":
		return api.FieldService
	case "vip":
		return "key.address"
	case "port":
		return "key.port"
	case "protocol":
		return "key.protocol"
	case "persistence":
		return "timeout"
	case "persistence_netmask":
		return "netmask"
	case "local_addresses":
		if s.localAddress {
			return api.FieldLocalAddress
		}
	}
	return head + tail
}

// ---- mapping between the API's types and the configuration ----

func apiKeyOf(sc *config.ServiceConfig) api.ServiceKey {
	return api.ServiceKey{Protocol: sc.Protocol, Address: sc.VIP.Unmap(), Port: uint16(sc.Port)}
}

func dataplaneKeyOf(k api.ServiceKey) dataplane.ServiceKey {
	proto := dataplane.ProtoTCP
	if k.Protocol == api.ProtocolUDP {
		proto = dataplane.ProtoUDP
	}
	return dataplane.ServiceKey{Addr: k.Address.Unmap().As16(), Port: k.Port, Proto: proto}
}

// serviceIndex finds a service by key; -1 when there is none.
// findService is the service an edit of k works on, with the scope its
// errors are named in; a missing service is the error.
func findService(cfg *config.Config, k api.ServiceKey, localAddress bool) (*config.ServiceConfig, errorScope, error) {
	i := serviceIndex(cfg, k)
	scope := errorScope{service: i, real: -1, localAddress: localAddress}
	if i < 0 {
		return nil, scope, api.ErrServiceNotFound(k)
	}
	return &cfg.Services[i], scope, nil
}

func serviceIndex(cfg *config.Config, k api.ServiceKey) int {
	return slices.IndexFunc(cfg.Services, func(sc config.ServiceConfig) bool { return apiKeyOf(&sc) == k })
}

func realIndex(sc *config.ServiceConfig, addr netip.AddrPort) int {
	return slices.IndexFunc(sc.RealServers, func(rc config.RealServerConfig) bool {
		return netip.AddrPortFrom(rc.Address.Unmap(), uint16(rc.Port)) == addr
	})
}

// serviceToAPI describes a validated service without live numbers.
func serviceToAPI(sc *config.ServiceConfig) api.Service {
	s := api.Service{
		Key:            apiKeyOf(sc),
		Scheduler:      sc.Scheduler,
		Flags:          slices.Clone(sc.Flags),
		Forward:        sc.Forward,
		LocalAddresses: slices.Clone(sc.LocalAddresses),
	}
	if sc.Persistence > 0 {
		s.Persistent = true
		s.Timeout = uint32((sc.Persistence + time.Second - 1) / time.Second)
		s.Netmask = netmaskToAPI(sc.VIP, sc.PersistencePrefix)
	}
	for i := range sc.RealServers {
		rc := &sc.RealServers[i]
		s.RealServers = append(s.RealServers, api.RealServer{
			Address:        rc.Address.Unmap(),
			Port:           uint16(rc.Port),
			Forward:        sc.Forward,
			Weight:         int32(rc.Weight),
			UpperThreshold: uint32(rc.UpperThreshold),
			LowerThreshold: uint32(rc.LowerThreshold),
		})
	}
	return s
}

// netmaskToAPI spells a persistence prefix as the API does: dotted for
// IPv4, a prefix length for IPv6, empty for a single address.
func netmaskToAPI(vip netip.Addr, prefix int) string {
	if prefix <= 0 || prefix >= vip.BitLen() {
		return ""
	}
	if vip.Is6() {
		return strconv.Itoa(prefix)
	}
	mask := ^uint32(0) << (32 - prefix)
	return netip.AddrFrom4([4]byte{byte(mask >> 24), byte(mask >> 16), byte(mask >> 8), byte(mask)}).String()
}

// flagsFromAPI maps the API's scheduler flags to the configuration's names,
// which exist for sh and mh only.
func flagsFromAPI(scheduler string, flags []string) ([]string, error) {
	var out []string
	for i, f := range flags {
		field := fmt.Sprintf("flags[%d]", i)
		if f == "ops" {
			return nil, &api.FieldError{Field: field, Message: "one-packet scheduling (ops) is not supported by fastlvs"}
		}
		if scheduler != "sh" && scheduler != "mh" {
			return nil, &api.FieldError{Field: field, Message: fmt.Sprintf("flag %q has no meaning for scheduler %s in fastlvs (only sh and mh take flags)", f, scheduler)}
		}
		switch f {
		case "flag-1", "sh-fallback", "mh-fallback":
			f = scheduler + "-fallback"
		case "flag-2", "sh-port", "mh-port":
			f = scheduler + "-port"
		default:
			return nil, &api.FieldError{Field: field, Message: fmt.Sprintf("flag %q has no meaning for scheduler %s", f, scheduler)}
		}
		if !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out, nil
}

// setServiceOptions writes the settings ipvsadm -A/-E carry (scheduler,
// flags, persistence) into sc.
func setServiceOptions(sc *config.ServiceConfig, s api.Service) error {
	flags, err := flagsFromAPI(s.Scheduler, s.Flags)
	if err != nil {
		return err
	}
	sc.Scheduler, sc.Flags = s.Scheduler, flags
	if sc.Scheduler != "mh" {
		sc.MaglevTableSize = 0 // an mh-only setting the API cannot see
	}
	sc.Persistence, sc.PersistenceNetmask = 0, ""
	if s.Persistent {
		timeout := s.Timeout
		if timeout == 0 {
			timeout = api.DefaultPersistentTimeout
		}
		sc.Persistence = time.Duration(timeout) * time.Second
		sc.PersistenceNetmask = s.Netmask
	}
	return nil
}

func forwardMismatch(service, real string) string {
	return fmt.Sprintf("fastlvs has one forwarding method per service: this service forwards by %s, "+
		"a %s real server needs a service of its own", service, real)
}

// settleForward makes the service's method want, or says why it cannot:
// only a service without (other) real servers may change its method.
// except is the index of a real server being edited, or -1.
func settleForward(sc *config.ServiceConfig, want string, except int, field string) error {
	if want == "" || want == sc.Forward {
		return nil
	}
	for i := range sc.RealServers {
		if i != except {
			return &api.FieldError{Field: field, Message: forwardMismatch(sc.Forward, want)}
		}
	}
	switch {
	case want == api.ForwardFullNAT && len(sc.LocalAddresses) == 0:
		return &api.FieldError{Field: field, Message: "a fullnat service needs its local addresses before its first real server"}
	case want != api.ForwardFullNAT && len(sc.LocalAddresses) > 0:
		return &api.FieldError{Field: field, Message: fmt.Sprintf("the service has local addresses, which only fullnat uses; remove them before forwarding by %s", want)}
	}
	sc.Forward = want
	return nil
}

// realFromAPI builds a real server of sc, whose method is settled: dr and
// tun, and port 0, take the service's port.
func realFromAPI(sc *config.ServiceConfig, rs api.RealServer) config.RealServerConfig {
	port := int(rs.Port)
	if port == 0 || sc.Forward == api.ForwardDR || sc.Forward == api.ForwardTunnel {
		port = sc.Port
	}
	return config.RealServerConfig{
		Address:        rs.Address.Unmap(),
		Port:           port,
		Weight:         int(rs.Weight),
		UpperThreshold: int(rs.UpperThreshold),
		LowerThreshold: int(rs.LowerThreshold),
	}
}

// serviceFromAPI builds a new service. Its method is the one it names, else
// its first real server's, else fullnat when it lists local addresses, else
// dr. It is not health-checked.
func serviceFromAPI(s api.Service) (config.ServiceConfig, error) {
	sc := config.DefaultService()
	sc.HealthCheck.Type = "none"
	sc.Protocol, sc.VIP, sc.Port = s.Key.Protocol, s.Key.Address.Unmap(), int(s.Key.Port)
	if err := setServiceOptions(&sc, s); err != nil {
		return sc, err
	}
	sc.LocalAddresses = slices.Clone(s.LocalAddresses)
	sc.Forward = s.Forward
	for _, rs := range s.RealServers {
		if sc.Forward == "" {
			sc.Forward = rs.Forward
		}
	}
	if sc.Forward == "" && len(sc.LocalAddresses) > 0 {
		sc.Forward = api.ForwardFullNAT
	}
	if sc.Forward == "" {
		sc.Forward = config.DefaultForward
	}
	for i, rs := range s.RealServers {
		if rs.Forward != "" && rs.Forward != sc.Forward {
			return sc, &api.FieldError{Field: fmt.Sprintf("real_servers[%d].forward", i), Message: forwardMismatch(sc.Forward, rs.Forward)}
		}
		sc.RealServers = append(sc.RealServers, realFromAPI(&sc, rs))
	}
	return sc, nil
}

// ---- edits: pure functions of the configuration ----

func addService(cfg *config.Config, s api.Service) (errorScope, error) {
	scope := errorScope{service: len(cfg.Services), real: -1}
	if serviceIndex(cfg, s.Key) >= 0 {
		return scope, api.ErrServiceExists(s.Key)
	}
	sc, err := serviceFromAPI(s)
	if err != nil {
		return scope, err
	}
	cfg.Services = append(cfg.Services, sc)
	return scope, nil
}

func editService(cfg *config.Config, s api.Service) (errorScope, error) {
	i := serviceIndex(cfg, s.Key)
	scope := errorScope{service: i, real: -1}
	if i < 0 {
		return scope, api.ErrServiceNotFound(s.Key)
	}
	sc := &cfg.Services[i]
	if err := setServiceOptions(sc, s); err != nil {
		return scope, err
	}
	if s.LocalAddresses != nil {
		sc.LocalAddresses = slices.Clone(s.LocalAddresses)
	}
	return scope, settleForward(sc, s.Forward, -1, "forward")
}

func deleteService(cfg *config.Config, k api.ServiceKey) (errorScope, error) {
	i := serviceIndex(cfg, k)
	if i < 0 {
		return globalScope, api.ErrServiceNotFound(k)
	}
	cfg.Services = slices.Delete(cfg.Services, i, i+1)
	return globalScope, nil
}

func addRealServer(cfg *config.Config, k api.ServiceKey, rs api.RealServer) (errorScope, error) {
	sc, scope, err := findService(cfg, k, false)
	if err != nil {
		return scope, err
	}
	if err := settleForward(sc, rs.Forward, -1, api.FieldRealServer+".forward"); err != nil {
		return scope, err
	}
	rc := realFromAPI(sc, rs)
	if realIndex(sc, netip.AddrPortFrom(rc.Address, uint16(rc.Port))) >= 0 {
		return scope, api.ErrRealServerExists(k, netip.AddrPortFrom(rc.Address, uint16(rc.Port)))
	}
	scope.real = len(sc.RealServers)
	sc.RealServers = append(sc.RealServers, rc)
	return scope, nil
}

func editRealServer(cfg *config.Config, k api.ServiceKey, rs api.RealServer) (errorScope, error) {
	sc, scope, err := findService(cfg, k, false)
	if err != nil {
		return scope, err
	}
	// The address is looked up with the port the current method gives it.
	rc := realFromAPI(sc, rs)
	addr := netip.AddrPortFrom(rc.Address, uint16(rc.Port))
	j := realIndex(sc, addr)
	if j < 0 {
		return scope, api.ErrRealServerNotFound(k, addr)
	}
	scope.real = j
	if err := settleForward(sc, rs.Forward, j, api.FieldRealServer+".forward"); err != nil {
		return scope, err
	}
	current := &sc.RealServers[j]
	current.Weight, current.UpperThreshold, current.LowerThreshold = rc.Weight, rc.UpperThreshold, rc.LowerThreshold
	return scope, nil
}

func deleteRealServer(cfg *config.Config, k api.ServiceKey, addr netip.AddrPort) (errorScope, error) {
	sc, scope, err := findService(cfg, k, false)
	if err != nil {
		return scope, err
	}
	j := realIndex(sc, addr)
	if j < 0 {
		return scope, api.ErrRealServerNotFound(k, addr)
	}
	sc.RealServers = slices.Delete(sc.RealServers, j, j+1)
	return scope, nil
}

func addLocalAddress(cfg *config.Config, k api.ServiceKey, addr netip.Addr) (errorScope, error) {
	sc, scope, err := findService(cfg, k, true)
	if err != nil {
		return scope, err
	}
	if slices.Contains(sc.LocalAddresses, addr) {
		return scope, api.ErrLocalAddressExists(k, addr)
	}
	if sc.Forward != api.ForwardFullNAT {
		if len(sc.RealServers) > 0 {
			return scope, &api.FieldError{Field: api.FieldLocalAddress,
				Message: fmt.Sprintf("local addresses are for fullnat services; this one forwards by %s to its real servers", sc.Forward)}
		}
		sc.Forward = api.ForwardFullNAT
	}
	sc.LocalAddresses = append(sc.LocalAddresses, addr)
	return scope, nil
}

func deleteLocalAddress(cfg *config.Config, k api.ServiceKey, addr netip.Addr) (errorScope, error) {
	sc, scope, err := findService(cfg, k, true)
	if err != nil {
		return scope, err
	}
	j := slices.Index(sc.LocalAddresses, addr)
	if j < 0 {
		return scope, api.ErrLocalAddressNotFound(k, addr)
	}
	sc.LocalAddresses = slices.Delete(sc.LocalAddresses, j, j+1)
	return scope, nil
}

func timeoutsToAPI(t config.ConntrackTimeouts) api.Timeouts {
	secs := func(d time.Duration) uint32 { return uint32(d / time.Second) }
	return api.Timeouts{TCP: secs(t.TCP), TCPFin: secs(t.TCPFin), UDP: secs(t.UDP)}
}

// setTimeouts writes the non-zero timeouts (0 keeps a value, as ipvsadm --set).
func setTimeouts(cfg *config.Config, t api.Timeouts) {
	for _, f := range []struct {
		secs uint32
		dst  *time.Duration
	}{{t.TCP, &cfg.Conntrack.Timeouts.TCP}, {t.TCPFin, &cfg.Conntrack.Timeouts.TCPFin}, {t.UDP, &cfg.Conntrack.Timeouts.UDP}} {
		if f.secs > 0 {
			*f.dst = time.Duration(f.secs) * time.Second
		}
	}
}

// ---- api.Backend ----

func (b *apiBackend) ListServices() ([]api.Service, error) {
	cfg := b.config()
	out := make([]api.Service, 0, len(cfg.Services))
	for i := range cfg.Services {
		s := serviceToAPI(&cfg.Services[i])
		b.addHealth(&cfg.Services[i], &s)
		b.addLiveNumbers(&s)
		out = append(out, s)
	}
	return out, nil
}

func (b *apiBackend) AddService(s api.Service) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return addService(cfg, s) })
}

func (b *apiBackend) EditService(s api.Service) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return editService(cfg, s) })
}

func (b *apiBackend) DeleteService(k api.ServiceKey) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return deleteService(cfg, k) })
}

func (b *apiBackend) Clear() error {
	return b.apply(func(cfg *config.Config) (errorScope, error) {
		cfg.Services = nil
		return globalScope, nil
	})
}

func (b *apiBackend) AddRealServer(k api.ServiceKey, rs api.RealServer) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return addRealServer(cfg, k, rs) })
}

func (b *apiBackend) EditRealServer(k api.ServiceKey, rs api.RealServer) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return editRealServer(cfg, k, rs) })
}

func (b *apiBackend) DeleteRealServer(k api.ServiceKey, addr netip.AddrPort) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return deleteRealServer(cfg, k, addr) })
}

func (b *apiBackend) AddLocalAddress(k api.ServiceKey, addr netip.Addr) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return addLocalAddress(cfg, k, addr) })
}

func (b *apiBackend) DeleteLocalAddress(k api.ServiceKey, addr netip.Addr) error {
	return b.apply(func(cfg *config.Config) (errorScope, error) { return deleteLocalAddress(cfg, k, addr) })
}

func (b *apiBackend) Zero(k *api.ServiceKey) error {
	cfg := b.config()
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		if k != nil && apiKeyOf(sc) != *k {
			continue
		}
		b.zeroService(sc)
	}
	if k != nil && serviceIndex(cfg, *k) < 0 {
		return api.ErrServiceNotFound(*k)
	}
	return nil
}

func (b *apiBackend) zeroService(sc *config.ServiceConfig) {
	if b.dp == nil {
		return
	}
	key := dataplaneKeyOf(apiKeyOf(sc))
	if st := b.dp.Registry.ServiceOf(key); st != nil {
		dataplane.Zero(st.Stats)
	}
	b.rates.reset(RealServerKey{Service: key})
	for _, rc := range sc.RealServers {
		if st := b.dp.Registry.RealOf(key, rc.Address, uint16(rc.Port)); st != nil {
			dataplane.Zero(st.Stats)
		}
		b.rates.reset(RealServerKey{Service: key, Real: netip.AddrPortFrom(rc.Address.Unmap(), uint16(rc.Port))})
	}
}

func (b *apiBackend) Timeouts() (api.Timeouts, error) {
	return timeoutsToAPI(b.config().Conntrack.Timeouts), nil
}

// SetTimeouts records the timeouts in the configuration, then installs them
// in every worker's table; connections already armed keep their deadline
// until their next packet, as in IPVS.
func (b *apiBackend) SetTimeouts(t api.Timeouts) error {
	err := b.apply(func(cfg *config.Config) (errorScope, error) {
		setTimeouts(cfg, t)
		return globalScope, nil
	})
	if err != nil || b.dp == nil {
		return err
	}
	return pushConntrack(b.dp, b.config().Conntrack)
}

// pushConntrack installs every state's timeout and the pressure defences in
// every worker's table.
func pushConntrack(dp *dataplane.Dataplane, cfg config.ConntrackConfig) error {
	timeouts, pressure := compileTimeouts(cfg.Timeouts), compilePressure(cfg.Pressure)
	err := dp.OnWorker(workerAnswerTimeout, func(_ *dataplane.Worker, conns *conntrack.Table) {
		conns.SetTimeouts(timeouts)
		conns.SetPressure(pressure)
	})
	if err != nil {
		return fmt.Errorf("install timeouts (saved in the configuration): %w", err)
	}
	return nil
}

// listSlotsPerCall is how many record slots a connection listing scans per
// visit to a worker: 2048 slots take about 25 µs to scan (16384 took 190 µs
// in a half-full 1M table), a pause of the order of a batch.
const listSlotsPerCall = 2048

// Connections lists every worker's connections (not the persistence
// templates), visiting each worker as often as needed to scan
// listSlotsPerCall slots at a time, so no worker stalls on a large table.
// A worker that does not answer in time fails the listing; if it answers
// later, its answer is dropped.
func (b *apiBackend) Connections() ([]api.Connection, error) {
	if b.dp == nil {
		return nil, nil
	}
	var (
		mu        sync.Mutex
		out       []api.Connection
		abandoned bool
	)
	cursors := make([]conntrack.Ref, len(b.dp.Workers))
	for i := range cursors {
		cursors[i] = 1
	}
	for pending := len(cursors); pending > 0; {
		err := b.dp.OnWorker(workerAnswerTimeout, func(w *dataplane.Worker, conns *conntrack.Table) {
			if cursors[w.ID] == 0 {
				return
			}
			now := xsk.MonotonicNanos()
			var mine []api.Connection
			next := conns.RangeFrom(cursors[w.ID], listSlotsPerCall, func(_ conntrack.Ref, c *conntrack.Conn, expiresAt int64) bool {
				if !c.IsTemplate() {
					mine = append(mine, connectionToAPI(c, expiresAt, now))
				}
				return true
			})
			mu.Lock()
			defer mu.Unlock()
			if !abandoned {
				out = append(out, mine...)
				cursors[w.ID] = next
			}
		})
		mu.Lock()
		if err != nil {
			abandoned = true
			mu.Unlock()
			return nil, fmt.Errorf("list connections: %w", err)
		}
		pending = 0
		for _, c := range cursors {
			if c != 0 {
				pending++
			}
		}
		mu.Unlock()
	}
	return out, nil
}

// connectionToAPI describes one connection; expiresAt and now are
// monotonic nanoseconds.
func connectionToAPI(c *conntrack.Conn, expiresAt, now int64) api.Connection {
	addr := func(a [16]byte, port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.AddrFrom16(a).Unmap(), port)
	}
	proto := api.ProtocolTCP
	if c.Proto == dataplane.ProtoUDP {
		proto = api.ProtocolUDP
	}
	conn := api.Connection{
		Protocol:       proto,
		Client:         addr(c.Client, c.ClientPort),
		Virtual:        addr(c.Virtual, c.VirtualPort),
		Real:           addr(c.Real, c.RealPort),
		State:          c.State.String(),
		ExpiresSeconds: uint32(max(0, expiresAt-now) / int64(time.Second)),
	}
	if dataplane.Method(c.Forward) == dataplane.MethodFullNAT {
		conn.Local = addr(c.Local, c.LocalPort)
	}
	return conn
}

// ---- live numbers ----

func statsToAPI(t dataplane.TrafficTotals) api.Stats {
	return api.Stats{Conns: t.Conns, InPackets: t.InPackets, OutPackets: t.OutPackets, InBytes: t.InBytes, OutBytes: t.OutBytes}
}

// addLiveNumbers fills counters, rates and connection counts from the
// dataplane's registry.
func (b *apiBackend) addLiveNumbers(s *api.Service) {
	if b.dp == nil {
		return
	}
	b.rates.start()
	key := dataplaneKeyOf(s.Key)
	if st := b.dp.Registry.ServiceOf(key); st != nil {
		s.Stats = statsToAPI(dataplane.Sum(st.Stats))
	}
	s.Rates = b.rates.rates(RealServerKey{Service: key})
	for i := range s.RealServers {
		rs := &s.RealServers[i]
		st := b.dp.Registry.RealOf(key, rs.Address, rs.Port)
		if st == nil {
			continue
		}
		rs.Stats = statsToAPI(dataplane.Sum(st.Stats))
		rs.ActiveConns, rs.InactiveConns = st.Load.Active(), st.Load.Inactive()
		rs.Rates = b.rates.rates(RealServerKey{Service: key, Real: rs.AddrPort()})
	}
	s.Overflow = overflowToAPI(b.dp.Table(), key)
}

// sampleTraffic reads the counters of every configured service (Real zero)
// and real server.
func (b *apiBackend) sampleTraffic() map[RealServerKey]dataplane.TrafficTotals {
	cfg := b.config()
	out := map[RealServerKey]dataplane.TrafficTotals{}
	for i := range cfg.Services {
		sc := &cfg.Services[i]
		key := dataplaneKeyOf(apiKeyOf(sc))
		if st := b.dp.Registry.ServiceOf(key); st != nil {
			out[RealServerKey{Service: key}] = dataplane.Sum(st.Stats)
		}
		for _, rc := range sc.RealServers {
			if st := b.dp.Registry.RealOf(key, rc.Address, uint16(rc.Port)); st != nil {
				out[RealServerKey{Service: key, Real: netip.AddrPortFrom(rc.Address.Unmap(), uint16(rc.Port))}] = dataplane.Sum(st.Stats)
			}
		}
	}
	return out
}

// rateInterval is how often the estimator samples, as IPVS's estimator.
const rateInterval = 2 * time.Second

// rateEstimator keeps smoothed per-second rates of every service and real
// server. Its goroutine starts with the first listing and lives as long as
// the daemon: one sample of the registry every 2 s.
type rateEstimator struct {
	interval time.Duration
	sample   func() map[RealServerKey]dataplane.TrafficTotals
	once     sync.Once

	mu      sync.Mutex
	entries map[RealServerKey]*rateEntry
}

func newRateEstimator(interval time.Duration, sample func() map[RealServerKey]dataplane.TrafficTotals) *rateEstimator {
	return &rateEstimator{interval: interval, sample: sample, entries: map[RealServerKey]*rateEntry{}}
}

func (e *rateEstimator) start() {
	e.once.Do(func() {
		e.observe(e.sample())
		go func() {
			tick := time.NewTicker(e.interval)
			defer tick.Stop()
			for range tick.C {
				e.observe(e.sample())
			}
		}()
	})
}

// observe folds one sample in; entries no longer sampled are dropped.
func (e *rateEstimator) observe(sample map[RealServerKey]dataplane.TrafficTotals) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for key, cur := range sample {
		entry, ok := e.entries[key]
		if !ok {
			e.entries[key] = &rateEntry{last: cur}
			continue
		}
		entry.update(cur, e.interval)
	}
	for key := range e.entries {
		if _, ok := sample[key]; !ok {
			delete(e.entries, key)
		}
	}
}

func (e *rateEstimator) rates(key RealServerKey) api.Rates {
	e.mu.Lock()
	defer e.mu.Unlock()
	if entry, ok := e.entries[key]; ok {
		return entry.rates()
	}
	return api.Rates{}
}

// reset forgets a key's history (its counters were zeroed); the next sample
// starts it again.
func (e *rateEstimator) reset(key RealServerKey) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.entries, key)
}

// rateEntry is one estimate: the last sample and the smoothed rates of
// conns, in packets, out packets, in bytes and out bytes per second.
type rateEntry struct {
	last dataplane.TrafficTotals
	avg  [5]float64
}

// update smooths the rate of the last interval in with weight 1/4 (IPVS's
// avg += (rate - avg) >> 2). A counter that went down was zeroed: that
// interval counts from zero.
func (r *rateEntry) update(cur dataplane.TrafficTotals, interval time.Duration) {
	now := [5]uint64{cur.Conns, cur.InPackets, cur.OutPackets, cur.InBytes, cur.OutBytes}
	last := [5]uint64{r.last.Conns, r.last.InPackets, r.last.OutPackets, r.last.InBytes, r.last.OutBytes}
	for i := range now {
		delta := now[i]
		if now[i] >= last[i] {
			delta = now[i] - last[i]
		}
		rate := float64(delta) / interval.Seconds()
		r.avg[i] += (rate - r.avg[i]) / 4
	}
	r.last = cur
}

func (r *rateEntry) rates() api.Rates {
	round := func(v float64) uint64 { return uint64(v + 0.5) }
	return api.Rates{CPS: round(r.avg[0]), InPPS: round(r.avg[1]), OutPPS: round(r.avg[2]), InBPS: round(r.avg[3]), OutBPS: round(r.avg[4])}
}

// addHealth puts the health checks' verdicts beside the configured weights
// of s, the listing of sc: what CompileTable made of them.
func (b *apiBackend) addHealth(sc *config.ServiceConfig, s *api.Service) {
	key := dataplaneKeyOf(s.Key)
	for i := range s.RealServers {
		rs, rc := &s.RealServers[i], &sc.RealServers[i]
		check := healthCheckOf(sc, rc)
		if check.Type == "none" || check.Type == "" {
			continue
		}
		rs.Health = api.HealthUp
		var o Override
		ok := false
		if b.health != nil {
			o, ok = b.health(RealServerKey{Service: key, Real: netip.AddrPortFrom(rc.Address.Unmap(), uint16(rc.Port))})
		}
		if !ok {
			continue
		}
		if o.Weight >= 0 {
			rs.WeightInForce = new(int32(o.Weight))
		}
		if o.Down {
			rs.Health = api.HealthDown
			rs.OutOfRotation = !check.InhibitOnFailure
			rs.WeightInForce = new(int32(0))
		}
	}
}
