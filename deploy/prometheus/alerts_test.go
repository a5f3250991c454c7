// Package prometheus_test checks the alert rules in alerts.yaml: promtool
// runs their unit tests (alerts_test.yaml), and every metric they read is
// one fastlvs exports.
package prometheus_test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"testing"

	"fastlvs/control/metrics"
)

func TestAlertRulesPassPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install the Debian package prometheus (make test does)")
	}
	for _, args := range [][]string{{"check", "rules", "alerts.yaml"}, {"test", "rules", "alerts_test.yaml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// pendingSync are the sync counters exported by the connection-sync change
// that lands beside this one; until both are merged they are not in
// metrics.ExportedNames.
var pendingSync = []string{"fastlvs_sync_datagrams_received_total"}

func TestAlertRulesReadExportedMetrics(t *testing.T) {
	exported, err := metrics.ExportedNames()
	if err != nil {
		t.Fatal(err)
	}
	rules, err := os.ReadFile("alerts.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := regexp.MustCompile(`\bfastlvs_[a-z_]+`).FindAllString(string(rules), -1)
	if len(names) < 4 {
		t.Fatalf("only %d metric names found in alerts.yaml", len(names))
	}
	for _, name := range names {
		if !slices.Contains(exported, name) && !slices.Contains(pendingSync, name) {
			t.Errorf("alerts.yaml reads %s, which fastlvs does not export", name)
		}
	}
}
