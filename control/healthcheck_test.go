package control

import (
	"fastlvs/control/config"
	"testing"
)

// TestUncheckedRealServers: the real servers whose check is off are those a
// recorded verdict must no longer keep out of rotation.
func TestUncheckedRealServers(t *testing.T) {
	cfg, err := config.Parse([]byte(`interfaces: [eth1]
services:
  - {vip: 198.18.0.10, port: 80, forward: nat, health_check: {type: tcp},
     real_servers: [{address: 198.18.2.11}, {address: 198.18.2.12, health_check: {type: none}}]}
  - {vip: 198.18.0.10, port: 7, protocol: udp, forward: nat, health_check: {type: none},
     real_servers: [{address: 198.18.2.13}]}
`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rk := range uncheckedRealServers(cfg) {
		got = append(got, checkKey(rk))
	}
	want := []string{"tcp/198.18.0.10:80/198.18.2.12:80", "udp/198.18.0.10:7/198.18.2.13:7"}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("unchecked real servers %q, want %q", got, want)
	}
}
