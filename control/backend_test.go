package control

import (
	"errors"
	"fastlvs/control/config"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"fastlvs/conntrack"
	"fastlvs/control/api"
	"fastlvs/dataplane"
)

const backendTestConfig = `
services:
  - name: web
    vip: 198.18.0.10
    port: 80
    scheduler: wrr
    forward: dr
    health_check: {type: tcp}
    real_servers:
      - {address: 198.18.2.11, weight: 1}
      - {address: 198.18.2.12, weight: 2}
`

// newTestBackend is the backend over backendTestConfig without a dataplane,
// and the OfflineBackend holding its configuration.
func newTestBackend(t *testing.T) (*apiBackend, *OfflineBackend) {
	t.Helper()
	cfg, err := config.Parse([]byte(backendTestConfig))
	if err != nil {
		t.Fatal(err)
	}
	o := NewOfflineBackend(cfg)
	return o.Backend.(*apiBackend), o
}

var (
	webKey   = api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}
	otherKey = api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.11"), Port: 8080}
)

func server(addr string, port uint16, forward string, weight int32) api.RealServer {
	return api.RealServer{Address: netip.MustParseAddr(addr), Port: port, Forward: forward, Weight: weight}
}

// validated runs the handler's validation, as the API does before a Backend sees a service.
func validated(t *testing.T, s api.Service) api.Service {
	t.Helper()
	if err := api.ValidateService(&s); err != nil {
		t.Fatalf("api refuses the test service: %v", err)
	}
	return s
}

func fieldError(t *testing.T, err error) *api.FieldError {
	t.Helper()
	var fe *api.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("want a *api.FieldError, got %T %v", err, err)
	}
	return fe
}

func listed(t *testing.T, b api.Backend, k api.ServiceKey) api.Service {
	t.Helper()
	services, err := b.ListServices()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range services {
		if s.Key == k {
			return s
		}
	}
	t.Fatalf("service %s not listed in %+v", k, services)
	return api.Service{}
}

func TestBackendListsFileService(t *testing.T) {
	b, _ := newTestBackend(t)
	got := listed(t, b, webKey)
	want := api.Service{Key: webKey, Scheduler: "wrr", Forward: "dr", RealServers: []api.RealServer{
		server("198.18.2.11", 80, "dr", 1), server("198.18.2.12", 80, "dr", 2)}}
	for i := range want.RealServers {
		want.RealServers[i].Health = api.HealthUp // the service has a tcp check
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("listed %+v\nwant %+v", got, want)
	}
}

// A real server its check took down is out of rotation, or in it with
// weight 0 when the check inhibits on failure; the configured weight stays.
func TestBackendListsHealthVerdicts(t *testing.T) {
	cfg, err := config.Parse([]byte(`
services:
  - {vip: 198.18.0.10, port: 80, forward: dr, health_check: {type: tcp},
     real_servers: [{address: 198.18.2.11, weight: 3}, {address: 198.18.2.12, weight: 2}]}
  - {vip: 198.18.0.11, port: 80, forward: dr, health_check: {type: tcp, inhibit_on_failure: true},
     real_servers: [{address: 198.18.2.13, weight: 4}]}
  - {vip: 198.18.0.12, port: 80, forward: dr, health_check: {type: none},
     real_servers: [{address: 198.18.2.14, weight: 5}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	b := NewOfflineBackend(cfg)
	b.SetHealth(webKey, netip.MustParseAddrPort("198.18.2.11:80"), false)
	inhibitKey := api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.11"), Port: 80}
	b.SetHealth(inhibitKey, netip.MustParseAddrPort("198.18.2.13:80"), false)
	uncheckedKey := api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.12"), Port: 80}

	type verdict struct {
		health  string
		out     bool
		inForce int32 // -1: no WeightInForce
		weight  int32
	}
	of := func(rs api.RealServer) verdict {
		v := verdict{health: rs.Health, out: rs.OutOfRotation, inForce: -1, weight: rs.Weight}
		if rs.WeightInForce != nil {
			v.inForce = *rs.WeightInForce
		}
		return v
	}
	web := listed(t, b, webKey).RealServers
	if got, want := of(web[0]), (verdict{api.HealthDown, true, 0, 3}); got != want {
		t.Errorf("down server: %+v, want %+v", got, want)
	}
	if got, want := of(web[1]), (verdict{api.HealthUp, false, -1, 2}); got != want {
		t.Errorf("healthy server: %+v, want %+v", got, want)
	}
	if got, want := of(listed(t, b, inhibitKey).RealServers[0]), (verdict{api.HealthDown, false, 0, 4}); got != want {
		t.Errorf("down server with inhibit_on_failure: %+v, want %+v", got, want)
	}
	if got, want := of(listed(t, b, uncheckedKey).RealServers[0]), (verdict{"", false, -1, 5}); got != want {
		t.Errorf("unchecked server: %+v, want %+v", got, want)
	}
}

func TestBackendAddServiceRoundTrips(t *testing.T) {
	b, f := newTestBackend(t)
	in := validated(t, api.Service{
		Key: otherKey, Scheduler: "sh", Flags: []string{"sh-port"}, Persistent: true, Timeout: 600, Netmask: "255.255.255.0",
		RealServers: []api.RealServer{
			{Address: netip.MustParseAddr("198.18.2.13"), Port: 8081, Forward: "nat", Weight: 3, UpperThreshold: 10, LowerThreshold: 5},
			server("198.18.2.14", 0, "", 1),
		},
	})
	if err := b.AddService(in); err != nil {
		t.Fatal(err)
	}
	want := in
	want.Forward = "nat" // taken from the first real server that names one
	want.RealServers = []api.RealServer{in.RealServers[0], server("198.18.2.14", 8080, "nat", 1)}
	if got := listed(t, b, otherKey); !reflect.DeepEqual(got, want) {
		t.Fatalf("listed %+v\nwant %+v", got, want)
	}
	sc := f.cfg.Services[1]
	if sc.HealthCheck.Type != "none" || sc.Persistence != 600*time.Second || sc.PersistencePrefix != 24 || sc.Forward != "nat" {
		t.Fatalf("config: check %q persistence %s prefix %d forward %s", sc.HealthCheck.Type, sc.Persistence, sc.PersistencePrefix, sc.Forward)
	}
	if err := b.AddService(in); !fieldError(t, err).Exists {
		t.Fatalf("adding twice: %v", err)
	}
}

func TestBackendServiceDefaultsToDRAndLocalAddressesToFullNAT(t *testing.T) {
	b, _ := newTestBackend(t)
	if err := b.AddService(validated(t, api.Service{Key: otherKey})); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, b, otherKey); got.Forward != "dr" || got.Scheduler != "wlc" {
		t.Fatalf("bare service: %+v", got)
	}
	v6 := api.ServiceKey{Protocol: api.ProtocolUDP, Address: netip.MustParseAddr("2001:2::10"), Port: 53}
	s := validated(t, api.Service{Key: v6, Persistent: true, Netmask: "64", LocalAddresses: []netip.Addr{netip.MustParseAddr("2001:2::3:1")}})
	if err := b.AddService(s); err != nil {
		t.Fatal(err)
	}
	got := listed(t, b, v6)
	if got.Forward != "fullnat" || got.Netmask != "64" || got.Timeout != api.DefaultPersistentTimeout || len(got.LocalAddresses) != 1 {
		t.Fatalf("service with local addresses: %+v", got)
	}
}

func TestBackendRefusesMixedForwardingWithinAService(t *testing.T) {
	b, f := newTestBackend(t)
	before := f.cfg
	s := validated(t, api.Service{Key: otherKey, RealServers: []api.RealServer{
		server("198.18.2.13", 80, "nat", 1), server("198.18.2.14", 80, "dr", 1)}})
	fe := fieldError(t, b.AddService(s))
	if fe.Field != "real_servers[1].forward" || !strings.Contains(fe.Message, "one forwarding method per service") {
		t.Fatalf("mixed service: %+v", fe)
	}
	fe = fieldError(t, b.AddRealServer(webKey, server("198.18.2.13", 80, "nat", 1)))
	if fe.Field != "real_server.forward" || !strings.Contains(fe.Message, "forwards by dr") {
		t.Fatalf("nat server in a dr service: %+v", fe)
	}
	if f.cfg != before {
		t.Fatal("a refused change replaced the configuration")
	}
}

func TestBackendEmptyServiceTakesItsFirstRealServersMethod(t *testing.T) {
	b, _ := newTestBackend(t)
	// What fastlvsadm -R replays from -S: -A (no method), then -a -m.
	if err := b.AddService(validated(t, api.Service{Key: otherKey})); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRealServer(otherKey, server("198.18.2.13", 9000, "nat", 2)); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRealServer(otherKey, server("198.18.2.14", 9000, "", 1)); err != nil {
		t.Fatal(err)
	}
	got := listed(t, b, otherKey)
	want := []api.RealServer{server("198.18.2.13", 9000, "nat", 2), server("198.18.2.14", 9000, "nat", 1)}
	if got.Forward != "nat" || !reflect.DeepEqual(got.RealServers, want) {
		t.Fatalf("got %+v", got)
	}
	// The only real server may change the method by an edit; not with company.
	fe := fieldError(t, b.EditRealServer(otherKey, server("198.18.2.13", 9000, "fullnat", 2)))
	if fe.Field != "real_server.forward" {
		t.Fatalf("edit to fullnat beside another server: %+v", fe)
	}
}

func TestBackendFullNATNeedsLocalAddressesFirst(t *testing.T) {
	b, _ := newTestBackend(t)
	if err := b.AddService(validated(t, api.Service{Key: otherKey})); err != nil {
		t.Fatal(err)
	}
	fe := fieldError(t, b.AddRealServer(otherKey, server("198.18.2.13", 80, "fullnat", 1)))
	if fe.Field != "real_server.forward" || !strings.Contains(fe.Message, "local addresses") {
		t.Fatalf("fullnat without local addresses: %+v", fe)
	}
	laddr := netip.MustParseAddr("198.18.3.1")
	if err := b.AddLocalAddress(otherKey, laddr); err != nil {
		t.Fatal(err)
	}
	if err := b.AddRealServer(otherKey, server("198.18.2.13", 8080, "fullnat", 1)); err != nil {
		t.Fatal(err)
	}
	if fe := fieldError(t, b.AddLocalAddress(otherKey, laddr)); !fe.Exists || fe.Field != api.FieldLocalAddress {
		t.Fatalf("second add: %+v", fe)
	}
	// The last local address of a fullnat service cannot go: the config refuses it, named as the request's field.
	fe = fieldError(t, b.DeleteLocalAddress(otherKey, laddr))
	if fe.Field != api.FieldLocalAddress || fe.NotFound {
		t.Fatalf("deleting the last local address: %+v", fe)
	}
	fe = fieldError(t, b.AddLocalAddress(webKey, laddr))
	if fe.Field != api.FieldLocalAddress || !strings.Contains(fe.Message, "fullnat") {
		t.Fatalf("local address on a dr service with servers: %+v", fe)
	}
}

func TestBackendNotFoundAndExists(t *testing.T) {
	b, _ := newTestBackend(t)
	rs := server("198.18.2.11", 80, "", 1)
	missing := netip.MustParseAddr("198.18.3.9")
	for _, tc := range []struct {
		name     string
		err      error
		field    string
		notFound bool
	}{
		{"edit service", b.EditService(validated(t, api.Service{Key: otherKey})), api.FieldService, true},
		{"delete service", b.DeleteService(otherKey), api.FieldService, true},
		{"zero service", b.Zero(&otherKey), api.FieldService, true},
		{"add server to missing service", b.AddRealServer(otherKey, rs), api.FieldService, true},
		{"add existing server", b.AddRealServer(webKey, rs), api.FieldRealServer, false},
		{"edit missing server", b.EditRealServer(webKey, server("198.18.2.19", 80, "", 1)), api.FieldRealServer, true},
		{"delete missing server", b.DeleteRealServer(webKey, netip.MustParseAddrPort("198.18.2.11:81")), api.FieldRealServer, true},
		{"delete missing laddr", b.DeleteLocalAddress(webKey, missing), api.FieldLocalAddress, true},
		{"add laddr to missing service", b.AddLocalAddress(otherKey, missing), api.FieldService, true},
	} {
		fe := fieldError(t, tc.err)
		if fe.Field != tc.field || fe.NotFound != tc.notFound || fe.Exists == tc.notFound {
			t.Errorf("%s: %+v", tc.name, fe)
		}
	}
}

func TestBackendConfigRefusalNamesTheRequestField(t *testing.T) {
	b, f := newTestBackend(t)
	before := f.cfg
	bad := api.RealServer{Address: netip.MustParseAddr("198.18.2.13"), Weight: 1, UpperThreshold: 5, LowerThreshold: 10}
	fe := fieldError(t, b.AddRealServer(webKey, bad))
	if fe.Field != "real_server.lower_threshold" || !strings.Contains(fe.Message, "must not exceed upper_threshold") {
		t.Fatalf("add: %+v", fe)
	}
	s := validated(t, api.Service{Key: otherKey, RealServers: []api.RealServer{server("198.18.2.14", 0, "", 1), bad}})
	if fe := fieldError(t, b.AddService(s)); fe.Field != "real_servers[1].lower_threshold" {
		t.Fatalf("add service: %+v", fe)
	}
	tun6 := server("2001:2::2:13", 80, "", 1)
	if fe := fieldError(t, b.AddRealServer(webKey, tun6)); fe.Field != "real_server.address" {
		t.Fatalf("other family: %+v", fe)
	}
	if f.cfg != before {
		t.Fatal("a refused change replaced the configuration")
	}
}

func TestBackendFlags(t *testing.T) {
	for _, tc := range []struct {
		scheduler string
		flags     []string
		want      []string
		refused   string // field
	}{
		{"sh", []string{"flag-1", "flag-2"}, []string{"sh-fallback", "sh-port"}, ""},
		{"mh", []string{"sh-port", "mh-fallback"}, []string{"mh-port", "mh-fallback"}, ""},
		{"wlc", []string{"flag-1"}, nil, "flags[0]"},
		{"sh", []string{"flag-3"}, nil, "flags[0]"},
		{"rr", nil, nil, ""},
	} {
		got, err := flagsFromAPI(tc.scheduler, tc.flags)
		if tc.refused != "" {
			if fe := fieldError(t, err); fe.Field != tc.refused {
				t.Errorf("%s %v: field %q", tc.scheduler, tc.flags, fe.Field)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s %v: got %v %v, want %v", tc.scheduler, tc.flags, got, err, tc.want)
		}
	}
	b, _ := newTestBackend(t)
	udp := api.ServiceKey{Protocol: api.ProtocolUDP, Address: netip.MustParseAddr("198.18.0.10"), Port: 53}
	if fe := fieldError(t, b.AddService(validated(t, api.Service{Key: udp, Flags: []string{"ops"}}))); !strings.Contains(fe.Message, "one-packet") {
		t.Fatalf("ops: %+v", fe)
	}
}

func TestBackendEditService(t *testing.T) {
	b, f := newTestBackend(t)
	edit := validated(t, api.Service{Key: webKey, Scheduler: "mh", Flags: []string{"mh-port"}, Persistent: true, Timeout: 60, Forward: "dr"})
	if err := b.EditService(edit); err != nil {
		t.Fatal(err)
	}
	got := listed(t, b, webKey)
	if got.Scheduler != "mh" || !reflect.DeepEqual(got.Flags, []string{"mh-port"}) || got.Timeout != 60 || len(got.RealServers) != 2 {
		t.Fatalf("edited: %+v", got)
	}
	if f.cfg.Services[0].HealthCheck.Type != "tcp" {
		t.Fatal("an edit dropped the file's health check")
	}
	edit.Forward = "nat"
	if fe := fieldError(t, b.EditService(edit)); fe.Field != "forward" {
		t.Fatalf("changing the method under real servers: %+v", fe)
	}
	edit.Forward = "" // keeps the method
	edit.Persistent, edit.Timeout, edit.Flags, edit.Scheduler = false, 0, nil, "rr"
	if err := b.EditService(edit); err != nil {
		t.Fatal(err)
	}
	if got := listed(t, b, webKey); got.Persistent || got.Forward != "dr" || got.Scheduler != "rr" {
		t.Fatalf("second edit: %+v", got)
	}
}

func TestBackendEditAndDeleteRealServer(t *testing.T) {
	b, _ := newTestBackend(t)
	edit := api.RealServer{Address: netip.MustParseAddr("198.18.2.12"), Port: 80, Weight: 0, UpperThreshold: 100, LowerThreshold: 50}
	if err := b.EditRealServer(webKey, edit); err != nil {
		t.Fatal(err)
	}
	got := listed(t, b, webKey).RealServers[1]
	if got.Weight != 0 || got.UpperThreshold != 100 || got.LowerThreshold != 50 {
		t.Fatalf("edited server: %+v", got)
	}
	if err := b.DeleteRealServer(webKey, netip.MustParseAddrPort("198.18.2.11:80")); err != nil {
		t.Fatal(err)
	}
	if rs := listed(t, b, webKey).RealServers; len(rs) != 1 || rs[0].Address != edit.Address {
		t.Fatalf("after delete: %+v", rs)
	}
	if err := b.DeleteService(webKey); err != nil {
		t.Fatal(err)
	}
	if services, _ := b.ListServices(); len(services) != 0 {
		t.Fatalf("after delete: %+v", services)
	}
}

func TestBackendClearAndTimeouts(t *testing.T) {
	b, _ := newTestBackend(t)
	if got, _ := b.Timeouts(); got != (api.Timeouts{TCP: 900, TCPFin: 120, UDP: 300}) {
		t.Fatalf("default timeouts %+v", got)
	}
	if err := b.SetTimeouts(api.Timeouts{TCP: 100, UDP: 30}); err != nil {
		t.Fatal(err)
	}
	if got, _ := b.Timeouts(); got != (api.Timeouts{TCP: 100, TCPFin: 120, UDP: 30}) {
		t.Fatalf("after --set 100 0 30: %+v", got)
	}
	if err := b.Clear(); err != nil {
		t.Fatal(err)
	}
	if services, _ := b.ListServices(); len(services) != 0 {
		t.Fatalf("after clear: %+v", services)
	}
}

func TestNetmaskToAPI(t *testing.T) {
	v4, v6 := netip.MustParseAddr("198.18.0.10"), netip.MustParseAddr("2001:2::10")
	for _, tc := range []struct {
		vip    netip.Addr
		prefix int
		want   string
	}{{v4, 24, "255.255.255.0"}, {v4, 32, ""}, {v4, 1, "128.0.0.0"}, {v4, 0, ""}, {v6, 64, "64"}, {v6, 128, ""}} {
		if got := netmaskToAPI(tc.vip, tc.prefix); got != tc.want {
			t.Errorf("%s/%d: %q, want %q", tc.vip, tc.prefix, got, tc.want)
		}
	}
}

func TestErrorScopeAPIField(t *testing.T) {
	svc := errorScope{service: 2, real: -1}
	one := errorScope{service: 2, real: 1}
	laddr := errorScope{service: 2, real: -1, localAddress: true}
	for _, tc := range []struct {
		scope errorScope
		in    string
		want  string
	}{
		{one, "services[2].real_servers[1].weight", "real_server.weight"},
		{one, "services[2].real_servers[1]", "real_server"},
		{svc, "services[2].real_servers[1].weight", "real_servers[1].weight"},
		{svc, "services[2].vip", "key.address"},
		{svc, "services[2].port", "key.port"},
		{svc, "services[2].persistence_netmask", "netmask"},
		{svc, "services[2]", "key"},
		{svc, "services[2].flags[0]", "flags[0]"},
		{svc, "services[20].scheduler", "services[20].scheduler"},
		{laddr, "services[2].local_addresses", "local_address"},
		{svc, "services[2].local_addresses[1]", "local_addresses[1]"},
		{globalScope, "conntrack.timeouts.tcp", "conntrack.timeouts.tcp"},
	} {
		if got := tc.scope.apiField(tc.in); got != tc.want {
			t.Errorf("%+v %s: %q, want %q", tc.scope, tc.in, got, tc.want)
		}
	}
}

func TestRateEntrySmoothsLikeIPVS(t *testing.T) {
	r := rateEntry{}
	total := dataplane.TrafficTotals{}
	for range 40 { // 100 conns and 1000 packets per 2 s: 50 cps, 500 pps
		total.Conns += 100
		total.InPackets += 1000
		r.update(total, 2*time.Second)
	}
	if got := r.rates(); got.CPS != 50 || got.InPPS != 500 || got.OutPPS != 0 {
		t.Fatalf("steady state %+v", got)
	}
	r.update(dataplane.TrafficTotals{Conns: 4}, 2*time.Second) // zeroed, then 4 new
	if got := r.rates(); got.CPS != 38 {                       // 50 + (2-50)/4
		t.Fatalf("after a reset %+v", got)
	}
}

func TestRateEstimatorForgetsVanishedAndResetKeys(t *testing.T) {
	a := RealServerKey{Service: dataplane.ServiceKey{Port: 80, Proto: dataplane.ProtoTCP}}
	b := RealServerKey{Service: a.Service, Real: netip.MustParseAddrPort("198.18.2.11:80")}
	e := newRateEstimator(time.Second, nil)
	e.observe(map[RealServerKey]dataplane.TrafficTotals{a: {}, b: {}})
	e.observe(map[RealServerKey]dataplane.TrafficTotals{a: {Conns: 8}, b: {InBytes: 4000}})
	if got := e.rates(a).CPS; got != 2 {
		t.Fatalf("a: %d cps", got)
	}
	if got := e.rates(b).InBPS; got != 1000 {
		t.Fatalf("b: %d in bps", got)
	}
	e.reset(a)
	e.observe(map[RealServerKey]dataplane.TrafficTotals{a: {Conns: 8}})
	if got := e.rates(a); got != (api.Rates{}) {
		t.Fatalf("a after reset: %+v", got)
	}
	if _, ok := e.entries[b]; ok {
		t.Fatal("b is no longer sampled but still estimated")
	}
}

func TestConnectionToAPI(t *testing.T) {
	addr := func(s string) [16]byte { return netip.MustParseAddr(s).As16() }
	c := conntrack.Conn{
		Client: addr("198.18.1.11"), Virtual: addr("198.18.0.10"), Real: addr("198.18.2.13"), Local: addr("198.18.3.1"),
		ClientPort: 40000, VirtualPort: 80, RealPort: 8080, LocalPort: 5000,
		Proto: dataplane.ProtoTCP, State: conntrack.StateEstablished, Forward: uint8(dataplane.MethodNAT),
	}
	now := int64(1_000 * time.Second)
	got := connectionToAPI(&c, now+int64(899*time.Second+time.Second/2), now)
	want := api.Connection{Protocol: "tcp", Client: netip.MustParseAddrPort("198.18.1.11:40000"),
		Virtual: netip.MustParseAddrPort("198.18.0.10:80"), Real: netip.MustParseAddrPort("198.18.2.13:8080"),
		State: "ESTABLISHED", ExpiresSeconds: 899}
	if got != want {
		t.Fatalf("nat conn %+v\nwant %+v", got, want)
	}
	c.Forward, c.Proto, c.State = uint8(dataplane.MethodFullNAT), dataplane.ProtoUDP, conntrack.StateUDP
	got = connectionToAPI(&c, now-1, now)
	if got.Local != netip.MustParseAddrPort("198.18.3.1:5000") || got.Protocol != "udp" || got.State != "UDP" || got.ExpiresSeconds != 0 {
		t.Fatalf("fullnat conn %+v", got)
	}
}
