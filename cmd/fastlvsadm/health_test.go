package main

import (
	"net/netip"
	"strings"
	"testing"

	"fastlvs/control/api"
)

const healthConfig = `
services:
  - {vip: 198.18.0.10, port: 80, forward: nat, scheduler: rr, health_check: {type: tcp},
     real_servers: [{address: 198.18.2.2, weight: 3}, {address: 198.18.2.3, weight: 2}]}
  - {vip: 198.18.0.11, port: 80, forward: nat, scheduler: rr, health_check: {type: tcp, inhibit_on_failure: true},
     real_servers: [{address: 198.18.2.4, weight: 4}, {address: 198.18.2.5, weight: 5, health_check: {type: none}}]}
`

// -L -n shows what IPVS under keepalived would hold: a server its check
// took down is gone, or listed with weight 0 under inhibit_on_failure;
// --health lists every server with its configured weight and its state;
// -S saves the configuration, not the verdicts.
func TestListShowsWhatIsInRotation(t *testing.T) {
	c := newCLIWithConfig(t, healthConfig)
	web := api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.10"), Port: 80}
	inhibit := api.ServiceKey{Protocol: api.ProtocolTCP, Address: netip.MustParseAddr("198.18.0.11"), Port: 80}
	c.backend.SetHealth(web, netip.MustParseAddrPort("198.18.2.2:80"), false)
	c.backend.SetHealth(inhibit, netip.MustParseAddrPort("198.18.2.4:80"), false)

	for _, tc := range []struct{ args, want string }{
		{"-L -n", versionLine +
			"Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n" +
			"TCP  198.18.0.10:80 rr\n" +
			"  -> 198.18.2.3:80                Masq    2      0          0         \n" +
			"TCP  198.18.0.11:80 rr\n" +
			"  -> 198.18.2.4:80                Masq    0      0          0         \n" +
			"  -> 198.18.2.5:80                Masq    5      0          0         \n"},
		{"-L -n --health", versionLine +
			"Prot LocalAddress:Port Scheduler Flags\n" +
			"  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health\n" +
			"TCP  198.18.0.10:80 rr\n" +
			"  -> 198.18.2.2:80                Masq    3      0          0          down\n" +
			"  -> 198.18.2.3:80                Masq    2      0          0          up\n" +
			"TCP  198.18.0.11:80 rr\n" +
			"  -> 198.18.2.4:80                Masq    4      0          0          down\n" +
			"  -> 198.18.2.5:80                Masq    5      0          0          unchecked\n"},
		{"-S -n", "-A -t 198.18.0.10:80 -s rr\n" +
			"-a -t 198.18.0.10:80 -r 198.18.2.2:80 -m -w 3\n" +
			"-a -t 198.18.0.10:80 -r 198.18.2.3:80 -m -w 2\n" +
			"-A -t 198.18.0.11:80 -s rr\n" +
			"-a -t 198.18.0.11:80 -r 198.18.2.4:80 -m -w 4\n" +
			"-a -t 198.18.0.11:80 -r 198.18.2.5:80 -m -w 5\n"},
	} {
		out, errOut, code := c.run("", strings.Fields(tc.args)...)
		if code != 0 || out != tc.want {
			t.Errorf("fastlvsadm %s: exit %d, stderr %q\n--- got\n%s--- want\n%s", tc.args, code, errOut, out, tc.want)
		}
	}

	for _, args := range []string{"-L -n --health --stats", "-L -c --health"} {
		if _, errOut, code := c.run("", strings.Fields(args)...); code != 1 || errOut != "fastlvsadm: options conflicts in the list command\n" {
			t.Errorf("fastlvsadm %s: exit %d, stderr %q", args, code, errOut)
		}
	}
	if _, errOut, code := c.run("", strings.Fields("-A -t 198.18.0.12:80 --health")...); code != 1 || errOut != "fastlvsadm: Illegal 'health' option with the 'add-service' command\n" {
		t.Errorf("--health with -A: exit %d, stderr %q", code, errOut)
	}
}
