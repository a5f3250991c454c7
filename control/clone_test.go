package control

import (
	"fastlvs/control/config"
	"reflect"
	"testing"
)

// TestCloneConfigIsDeepAndEqual guards Daemon.Change: an edit made on the
// copy must not reach the running config, and an unedited copy must equal it.
func TestCloneConfigIsDeepAndEqual(t *testing.T) {
	cfg, err := config.Load("testdata/config/full.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := cloneConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := cp.Validate(); err != nil {
		t.Fatalf("copy does not validate: %v", err)
	}
	if !reflect.DeepEqual(cfg, cp) {
		t.Fatalf("copy differs:\n%+v\n%+v", cfg, cp)
	}
	cp.Services[0].RealServers[0].Weight = 77
	if cfg.Services[0].RealServers[0].Weight == 77 {
		t.Fatal("editing the copy changed the original")
	}
}
