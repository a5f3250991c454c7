package bench

import (
	"fmt"
	"strings"
	"testing"

	"fastlvs/testbed"
)

// TestCForwardForwardsBothWays pings the VIP through the C forwarder: the
// sink answers only a frame addressed to its own MAC and the generator only
// one addressed to its own, so three replies show cforward rewrote the
// Ethernet addresses in both directions; its counts show it, not the
// director's kernel, carried them.
func TestCForwardForwardsBothWays(t *testing.T) {
	bed := testbed.ForTest(t, "fbc")
	topo, err := BuildTopology(bed, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fwd := &cforwardForwarder{binary: func() (string, error) { return BuildCForward(dir) }, idle: idleSpin, priority: "fifo:10"}
	running, err := fwd.Start(topo)
	if err != nil {
		t.Fatal(err)
	}
	out, pingErr := topo.Gen.Run("ping", "-c", "3", "-i", "0.2", "-W", "2", VIP)
	if err := running.Stop(); err != nil {
		t.Error(err)
	}
	if pingErr != nil {
		t.Fatalf("ping through cforward: %v\ncforward: %s", pingErr, running.Log())
	}
	if !strings.Contains(string(out), "3 received") {
		t.Errorf("ping: %s", out)
	}
	for _, port := range []string{topo.DirIn, topo.DirOut} {
		var received uint64
		for line := range strings.SplitSeq(running.Log(), "\n") {
			if rest, ok := strings.CutPrefix(line, port+": received "); ok {
				fmt.Sscan(rest, &received)
			}
		}
		if received < 3 {
			t.Errorf("cforward received %d frames on %s, want the 3 echoes each way:\n%s", received, port, running.Log())
		}
	}
}
