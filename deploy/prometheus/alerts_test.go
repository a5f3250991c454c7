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

// bgpMetrics are exported by control/bgp's own collector, registered only
// when bgp is configured, so metrics.ExportedNames does not list them.
var bgpMetrics = []string{"fastlvs_bgp_session_up", "fastlvs_bgp_announced_prefixes"}

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
		if !slices.Contains(exported, name) && !slices.Contains(bgpMetrics, name) {
			t.Errorf("alerts.yaml reads %s, which fastlvs does not export", name)
		}
	}
}
