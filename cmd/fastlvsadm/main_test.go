package main

import (
	"bytes"
	"encoding/json"
	"fastlvs/control/config"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fastlvs/control"
	"fastlvs/control/api"
	"fastlvs/control/api/apitest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

type cli struct {
	t       *testing.T
	addr    string
	backend *liveBackend
}

func newCLI(t *testing.T) *cli { return newCLIWithConfig(t, "") }

// newCLIWithConfig serves the daemon's configuration configYAML.
func newCLIWithConfig(t *testing.T, configYAML string) *cli {
	t.Helper()
	backend := newLiveBackend(t, configYAML)
	return &cli{t: t, backend: backend, addr: apitest.ServeUnix(t, api.NewHandler(backend, ""))}
}

// run runs fastlvsadm against the test daemon.
func (c *cli) run(stdin string, args ...string) (stdout, stderr string, code int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code = run(append([]string{"--api", c.addr}, args...), strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

func (c *cli) must(line string) {
	c.t.Helper()
	if out, errOut, code := c.run("", strings.Fields(line)...); code != 0 {
		c.t.Fatalf("fastlvsadm %s: exit %d, stdout %q, stderr %q", line, code, out, errOut)
	}
}

// buildState makes a table with every forwarding method, IPv4 and IPv6,
// persistence with masks, scheduler flags, ops, a zero-port service, FULLNAT
// local addresses, large counters and connections.
func buildState(c *cli) {
	for _, line := range []string{
		"--set 1000 60 200",
		"-A -t 198.18.0.10:80 -s wlc",
		"-a -t 198.18.0.10:80 -r 198.18.2.3 -g -w 2",
		"-a -t 198.18.0.10:80 -r 198.18.2.2:80 -w 1",
		"-A -u [2001:2::11]:53 -s mh -b mh-port,mh-fallback",
		"-P -u [2001:2::11]:53 -z 2001:2::3:1",
		"-a -u [2001:2::11]:53 -r [2001:2::2:4]:53 --fullnat -w 4",
		"-A -t 198.18.0.11:443 -s sh -b sh-port -p 600 -M 255.255.255.0",
		"-a -t 198.18.0.11:443 -r 198.18.2.4:8443 -m -w 3 -x 100 -y 10",
		"-A -u 198.18.0.12:53 -s rr",
		"-a -u 198.18.0.12:53 -r 198.18.2.5 -i -w 0",
		"-A -t [2001:2::10]:80 -s lc -p -M 64",
		"-a -t [2001:2::10]:80 -r [2001:2::2:2]:8080 -m",
		"-a -t [2001:2::10]:80 -r 2001:2::2:3 -m -w 7",
		"-A -t 198.18.0.13:8080 -s wrr",
		"-P -t 198.18.0.13:8080 -z 198.18.3.2",
		"-P -t 198.18.0.13:8080 -z 198.18.3.1",
		"-a -t 198.18.0.13:8080 -r 198.18.2.6:80 -F -w 5",
		"-A -t 198.18.0.20:0 -s nq -p 3600",
		"-A -t 198.18.1.255:65535 -s sed",
		"-a -t 198.18.1.255:65535 -r 198.18.255.254:65535 -m -w 65535",
	} {
		c.must(line)
	}
	c.backend.Update(func(services []api.Service) {
		for i := range services {
			s := &services[i]
			switch s.Key.String() {
			case "TCP 198.18.0.10:80":
				s.Stats = api.Stats{Conns: 123456789, InPackets: 99999999, OutPackets: 100000000000, InBytes: 123456789012345, OutBytes: 5000000000}
				s.Rates = api.Rates{CPS: 1234, InPPS: 100000000, OutPPS: 999999999, InBPS: 1000000000, OutBPS: 99999999999}
				for j := range s.RealServers {
					rs := &s.RealServers[j]
					rs.ActiveConns, rs.InactiveConns, rs.PersistConns = int64(10*j+1), int64(20*j+2), int64(j)
					rs.Stats = api.Stats{Conns: uint64(j) * 61728394, InPackets: 12, OutPackets: 0, InBytes: 99999999999999, OutBytes: 100000000000000}
					rs.Rates = api.Rates{CPS: 617, InPPS: 50000000, OutPPS: 7, InBPS: 123456789, OutBPS: 1}
				}
			case "TCP [2001:2::10]:80":
				s.Stats = api.Stats{Conns: 7, InPackets: 70, OutPackets: 60, InBytes: 7000, OutBytes: 6000}
				s.RealServers[0].ActiveConns = 3
				s.RealServers[0].Stats = api.Stats{Conns: 7, InPackets: 70, OutPackets: 60, InBytes: 7000, OutBytes: 6000}
			}
		}
	})
	c.backend.SetConnections([]api.Connection{
		{Protocol: "tcp", Client: netip.MustParseAddrPort("198.18.1.2:40000"), Virtual: netip.MustParseAddrPort("198.18.0.10:80"), Real: netip.MustParseAddrPort("198.18.2.2:80"), State: "ESTABLISHED", ExpiresSeconds: 899},
		{Protocol: "udp", Client: netip.MustParseAddrPort("198.18.1.3:5353"), Virtual: netip.MustParseAddrPort("198.18.0.12:53"), Real: netip.MustParseAddrPort("198.18.2.5:53"), State: "UDP", ExpiresSeconds: 5},
		{Protocol: "tcp", Client: netip.MustParseAddrPort("[2001:2::1:2]:40001"), Virtual: netip.MustParseAddrPort("[2001:2::10]:80"), Real: netip.MustParseAddrPort("[2001:2::2:2]:8080"), State: "SYN_RECV", ExpiresSeconds: 6000},
		{Protocol: "tcp", Client: netip.MustParseAddrPort("198.18.1.4:1"), Virtual: netip.MustParseAddrPort("198.18.0.13:8080"), Real: netip.MustParseAddrPort("198.18.2.6:80"), State: "TIME_WAIT", ExpiresSeconds: 0, Local: netip.MustParseAddrPort("198.18.3.1:5000")},
	})
}

func TestGoldenListings(t *testing.T) {
	c := newCLI(t)
	buildState(c)
	cases := []struct{ golden, args string }{
		{"list_numeric", "-L -n"},
		{"list_names", "-L"},
		{"list_bundled", "-Ln"},
		{"list_nosort", "-L -n --nosort"},
		{"stats", "-L -n --stats"},
		{"stats_exact", "-L -n --stats --exact"},
		{"rate", "-L -n --rate"},
		{"rate_exact", "-L -n --rate --exact"},
		{"thresholds", "-L -n --thresholds"},
		{"persistent_conn", "-L -n --persistent-conn"},
		{"timeout", "-L --timeout"},
		{"connections", "-L -n -c"},
		{"connections_persistent", "-L -n -c --persistent-conn"},
		{"save", "-S -n"},
		{"list_one_service", "-L -n -t [2001:2::10]:80"},
		{"get_laddr", "-G"},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			out, errOut, code := c.run("", strings.Fields(tc.args)...)
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			path := filepath.Join("testdata", tc.golden+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if out != string(want) {
				t.Fatalf("fastlvsadm %s:\n--- got\n%s--- want\n%s", tc.args, out, want)
			}
		})
	}
}

// TestSaveRestoreRoundTrip: -S, -C, -R of the saved text, and the table is
// the same, local addresses included.
func TestSaveRestoreRoundTrip(t *testing.T) {
	c := newCLI(t)
	buildState(c)
	c.must("-Z")
	c.backend.Update(nil) // a cleared and restored table starts with no traffic
	before, _ := c.backend.ListServices()
	saved, _, code := c.run("", "-S")
	if code != 0 {
		t.Fatal("save failed")
	}
	c.must("-C")
	if services, _ := c.backend.ListServices(); len(services) != 0 {
		t.Fatalf("clear left %d services", len(services))
	}
	if out, errOut, code := c.run("# saved by fastlvsadm\n\n"+saved, "-R"); code != 0 {
		t.Fatalf("restore: exit %d %q %q", code, out, errOut)
	}
	after, _ := c.backend.ListServices()
	sortServices(before)
	sortServices(after)
	for _, services := range [][]api.Service{before, after} {
		for i := range services {
			for j := range services[i].RealServers {
				rs := &services[i].RealServers[j]
				rs.ActiveConns, rs.InactiveConns, rs.PersistConns = 0, 0, 0
				// ipvsadm -S writes no -x/-y ("-a %s -r %s %s -w %d"), so
				// thresholds do not survive a save and restore there either.
				rs.UpperThreshold, rs.LowerThreshold = 0, 0
			}
		}
	}
	if got, want := toJSON(t, after), toJSON(t, before); got != want {
		t.Fatalf("restore differs:\nbefore %s\nafter  %s", want, got)
	}
	again, _, _ := c.run("", "-S")
	if again != saved {
		t.Fatalf("second save differs:\n%s---\n%s", saved, again)
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestErrorsAreOneIpvsadmLine(t *testing.T) {
	c := newCLI(t)
	c.must("-A -t 198.18.0.10:80")
	c.must("-a -t 198.18.0.10:80 -r 198.18.2.2")
	cases := []struct{ args, stderr string }{
		{"--bogus", "fastlvsadm: --bogus: unknown option"},
		{"-L -q", "fastlvsadm: -q: unknown option"},
		{"-n -L", "Try `fastlvsadm -h' or 'fastlvsadm --help' for more information."},
		{"-A -t", "fastlvsadm: -t: missing argument"},
		{"-A -D -t 198.18.0.10:80", "fastlvsadm: multiple commands specified"},
		{"-A -t 198.18.0.10:80 -t 198.18.0.11:80", "fastlvsadm: multiple 'service-address' options specified"},
		{"-A -s rr", "fastlvsadm: You need to supply the 'service-address' option for the 'add-service' command"},
		{"-A -t 198.18.0.11:80 -w 3", "fastlvsadm: Illegal 'weight' option with the 'add-service' command"},
		{"-L -c --timeout", "fastlvsadm: The option 'timeout' conflicts with the 'connection' option in the 'list' command"},
		{"-L -c --stats", "fastlvsadm: options conflicts in the list command"},
		{"-A -t 198.18.0.x:80", "fastlvsadm: illegal virtual server address[:port] specified"},
		{"-A -t 80", "fastlvsadm: illegal virtual server address[:port] specified"},
		{"-a -t 198.18.0.10:80 -r nowhere", "fastlvsadm: illegal real server address[:port] specified"},
		{"-A -t 198.18.0.11:80 -p 0", "fastlvsadm: invalid timeout value `0' specified"},
		{"-A -t 198.18.0.11:80 -p -M 255.255.255.x", "fastlvsadm: illegal virtual server persistent mask specified"},
		{"-A -t [2001:2::1]:80 -p -M 129", "fastlvsadm: illegal ipv6 netmask specified"},
		{"-a -t 198.18.0.10:80 -r 198.18.2.3 -w 65536", "fastlvsadm: illegal weight specified"},
		{"-a -t 198.18.0.10:80 -r 198.18.2.3 -x -1", "fastlvsadm: illegal u_threshold specified"},
		{"-a -t 198.18.0.10:80 -r 198.18.2.3 -y x", "fastlvsadm: illegal l_threshold specified"},
		{"--set 1 2", "fastlvsadm: --set option requires 3 timeout values"},
		{"--set 1 2 x", "fastlvsadm: invalid timeout value `x' specified"},
		{"-L extra", "fastlvsadm: unexpected argument extra"},
		{"-A -t 198.18.0.11:0", "fastlvsadm: Zero port specified for non-persistent service"},
		{"-A -t 198.18.0.11:80 -o", "fastlvsadm: One-Packet Scheduling is only for UDP virtual services"},
		{"-A -t 198.18.0.11:80 -b sh-port", "fastlvsadm: incompatible scheduler flag `sh-port'"},
		{"-A -t 198.18.0.11:80 -b flag-9", "fastlvsadm: invalid scheduler flag `flag-9'"},
		{"-a -t 198.18.0.10:80 -r [2001:2::2]:80 -m", "fastlvsadm: Different address family is allowed only for tunneling servers"},
		{"-A -t 198.18.0.10:80", "fastlvsadm: Service already exists"},
		{"-A -t 198.18.0.11:80 -s fastest", "fastlvsadm: Scheduler or persistence engine not found"},
		{"-E -t 198.18.0.11:80", "fastlvsadm: No such service"},
		{"-D -t 198.18.0.11:80", "fastlvsadm: No such service"},
		{"-Z -t 198.18.0.11:80", "fastlvsadm: No such service"},
		{"-L -t 198.18.0.11:80", "fastlvsadm: No such service"},
		{"-a -t 198.18.0.11:80 -r 198.18.2.2", "fastlvsadm: Service not defined"},
		{"-a -t 198.18.0.10:80 -r 198.18.2.2", "fastlvsadm: Destination already exists"},
		{"-e -t 198.18.0.10:80 -r 198.18.2.9", "fastlvsadm: No such destination"},
		{"-d -t 198.18.0.10:80 -r 198.18.2.9", "fastlvsadm: No such destination"},
		{"-P -t 198.18.0.10:80", "fastlvsadm: You need to supply the 'laddr' option for the 'add-laddr' command"},
		{"-Q -t 198.18.0.10:80 -z 198.18.3.9", "fastlvsadm: No such local address"},
		{"-A -f 1", "fastlvsadm: fwmark services are not supported by fastlvs"},
		{"-R -R", "fastlvsadm: multiple commands specified"},
		{"-a -t 198.18.0.10:80 -r 198.18.2.3 -m", "fastlvsadm: real_server.forward: fastlvs has one forwarding method per service: this service forwards by dr, a nat real server needs a service of its own"},
		{"-A -t 198.18.0.13:8080 -s wrr -b flag-3", `fastlvsadm: flags[0]: flag "flag-3" has no meaning for scheduler wrr in fastlvs (only sh and mh take flags)`},
		{"-A -u 198.18.0.12:53 -o", "fastlvsadm: flags[0]: one-packet scheduling (ops) is not supported by fastlvs"},
	}
	for _, tc := range cases {
		t.Run(tc.args, func(t *testing.T) {
			before, _ := c.backend.ListServices()
			out, errOut, code := c.run("", strings.Fields(tc.args)...)
			if code != 1 || out != "" || errOut != tc.stderr+"\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 1 and %q", code, out, errOut, tc.stderr)
			}
			after, _ := c.backend.ListServices()
			if toJSON(t, before) != toJSON(t, after) {
				t.Fatal("a failed command changed the table")
			}
		})
	}
}

func TestRestoreStopsAtFirstBadLine(t *testing.T) {
	c := newCLI(t)
	_, errOut, code := c.run("-A -t 198.18.0.10:80\n-A -t 198.18.0.10:80\n-A -t 198.18.0.11:80\n", "-R")
	if code != 1 || errOut != "fastlvsadm: Service already exists\n" {
		t.Fatalf("exit %d stderr %q", code, errOut)
	}
	if services, _ := c.backend.ListServices(); len(services) != 1 {
		t.Fatalf("%d services after a failed restore, want the 1 before the bad line", len(services))
	}
	if _, errOut, code := c.run("-R\n", "-R"); code != 1 || !strings.HasPrefix(errOut, "Try `fastlvsadm -h'") {
		t.Fatalf("nested -R: exit %d stderr %q", code, errOut)
	}
}

func TestEditKeepsWhatIpvsadmKeeps(t *testing.T) {
	c := newCLI(t)
	c.must("-A -t 198.18.0.10:80 -s rr")
	c.must("-a -t 198.18.0.10:80 -r 198.18.2.2 -m -w 5")
	c.must("-E -t 198.18.0.10:80 -s wrr -p 60")
	c.must("-e -t 198.18.0.10:80 -r 198.18.2.2:80 -m -x 9")
	out, _, _ := c.run("", "-L", "-n")
	want := versionLine +
		"Prot LocalAddress:Port Scheduler Flags\n" +
		"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
		"TCP  198.18.0.10:80 wrr persistent 60\n" +
		"  -> 198.18.2.2:80                Masq    1      0          0         \n"
	if out != want {
		t.Fatalf("got\n%q\nwant\n%q", out, want)
	}
}

// TestTLSAPI: a tls:// API is reached with its CA (--api-ca or
// $FASTLVS_API_CA) or with --api-insecure, and refused without either.
func TestTLSAPI(t *testing.T) {
	cfg, err := config.Parse([]byte("interfaces: [eth1]\n"))
	if err != nil {
		t.Fatal(err)
	}
	addr, caPEM := apitest.ServeTLS(t, api.NewHandler(control.NewOfflineBackend(cfg), ""))
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FASTLVS_API_CA", "")
	fastlvsadm := func(args ...string) (string, int) {
		var out, errOut bytes.Buffer
		code := run(append([]string{"--api", addr}, args...), strings.NewReader(""), &out, &errOut)
		return errOut.String(), code
	}
	if stderr, code := fastlvsadm("-L", "-n"); code == 0 || !strings.Contains(stderr, "certificate") {
		t.Fatalf("an unknown certificate was accepted: exit %d %q", code, stderr)
	}
	for _, args := range [][]string{{"--api-ca", ca}, {"--api-ca=" + ca}, {"--api-insecure"}} {
		if stderr, code := fastlvsadm(append(args, "-L", "-n")...); code != 0 {
			t.Fatalf("%v: exit %d %q", args, code, stderr)
		}
	}
	t.Setenv("FASTLVS_API_CA", ca)
	if stderr, code := fastlvsadm("-L", "-n"); code != 0 {
		t.Fatalf("with $FASTLVS_API_CA: exit %d %q", code, stderr)
	}
}
