package control

import (
	"fastlvs/control/config"
	"strings"
	"testing"
	"time"
)

func TestNextDraining(t *testing.T) {
	withReals := func(drain time.Duration, reals ...string) *config.Config {
		text := "interfaces: [eth1]\nservices:\n  - {vip: 198.18.0.10, port: 80, forward: nat, drain_timeout: " + drain.String() + ", real_servers: ["
		for i, r := range reals {
			if i > 0 {
				text += ", "
			}
			text += "{address: " + r + "}"
		}
		cfg, err := config.Parse([]byte(text + "]}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	three := withReals(10*time.Second, "198.18.2.11", "198.18.2.12", "198.18.2.13")
	two := withReals(10*time.Second, "198.18.2.11", "198.18.2.12")
	now := int64(1e12)

	got := nextDraining(nil, three, two, now)
	if len(got) != 1 {
		t.Fatalf("removing one server: %v, want one draining", got)
	}
	for key, until := range got {
		if key.Real.String() != "198.18.2.13:80" || until != now+int64(10*time.Second) {
			t.Fatalf("draining %v until %d", key, until)
		}
	}
	// Coming back stops the drain; a second removal does not restart it.
	if back := nextDraining(got, two, three, now+1); len(back) != 0 {
		t.Fatalf("a returning server still drains: %v", back)
	}
	if again := nextDraining(got, two, two, now+5); again[firstKey(got)] != got[firstKey(got)] {
		t.Fatalf("a reapplied config moved the deadline: %v vs %v", again, got)
	}
	// Without a drain timeout nothing drains (connections run until they end).
	if none := nextDraining(nil, withReals(0, "198.18.2.11", "198.18.2.13"), withReals(0, "198.18.2.11"), now); len(none) != 0 {
		t.Fatalf("drained without a timeout: %v", none)
	}
	// Long-passed deadlines are forgotten.
	if old := nextDraining(got, two, two, now+int64(2*time.Hour)); len(old) != 0 {
		t.Fatalf("kept a deadline two hours old: %v", old)
	}
}

func firstKey(m map[RealServerKey]int64) RealServerKey {
	for k := range m {
		return k
	}
	return RealServerKey{}
}

func TestRestartOnlyChangesAreNamed(t *testing.T) {
	base := func(extra string) *config.Config {
		cfg, err := config.Parse([]byte("interfaces: [eth1]\n" + extra + "services: [{vip: 198.18.0.10, port: 80, real_servers: [{address: 198.18.2.11}]}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	old := base("")
	if err := restartOnlyChange(old, base("")); err != nil {
		t.Fatalf("an unchanged config: %v", err)
	}
	for extra, field := range map[string]string{
		"metrics: 127.0.0.1:9999\n": "metrics",
		"xdp_mode: generic\n":       "xdp_mode",
		"af_xdp_bind: auto\n":       "af_xdp_bind",
		"cpus: [1]\n":               "cpus",
		"sync: {peer: '198.18.2.3:8848', key_file: /etc/sync.key}\n": "sync",
		"monitor: {listen: '127.0.0.1:9443', users_file: /u}\n":      "monitor",
	} {
		err := restartOnlyChange(old, base(extra))
		if err == nil || !strings.HasPrefix(err.Error(), field+": changing it needs a restart") {
			t.Errorf("%q: %v, want %s named", extra, err, field)
		}
	}
}
