// Package deploy_test builds the Debian package with `make deb` and checks
// what an operator gets from it: the files, a systemd unit that systemd
// accepts, and a director that the unit's own ExecStart line starts with the
// example configuration and that serves its API.
package deploy_test

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"fastlvs/testbed"
)

// The files the package must install.
var packageFiles = []string{
	"./usr/sbin/fastlvs", "./usr/sbin/fastlvsadm", "./usr/sbin/fastlvs-decap",
	"./lib/systemd/system/fastlvs.service",
	"./etc/fastlvs/fastlvs.yaml", "./etc/default/fastlvs",
	"./usr/share/man/man8/fastlvs.8.gz", "./usr/share/man/man8/fastlvsadm.8.gz",
	"./usr/share/bash-completion/completions/fastlvs",
	"./usr/share/bash-completion/completions/fastlvsadm",
	"./usr/share/bash-completion/completions/fastlvs-decap",
	"./usr/share/doc/fastlvs/copyright", "./usr/share/doc/fastlvs/fastlvs.full.yaml",
}

func TestDebianPackageInstallsAndStarts(t *testing.T) {
	tmp := t.TempDir()
	deb := filepath.Join(tmp, "fastlvs.deb")
	run(t, "make", "-C", "..", "-s", "deb", "DEB_ROOT="+filepath.Join(tmp, "build"), "DEB="+deb)

	listing := run(t, "dpkg-deb", "-c", deb)
	for _, want := range packageFiles {
		if !regexp.MustCompile(`(?m) ` + regexp.QuoteMeta(want) + `( ->.*)?$`).MatchString(listing) {
			t.Errorf("package lacks %s; dpkg-deb -c:\n%s", want, listing)
		}
	}
	if name := run(t, "dpkg-deb", "-f", deb, "Package"); strings.TrimSpace(name) != "fastlvs" {
		t.Errorf("package name %q", name)
	}

	root := filepath.Join(tmp, "root")
	run(t, "dpkg-deb", "-x", deb, root)
	if out := run(t, filepath.Join(root, "usr/sbin/fastlvs"), "version"); !regexp.MustCompile(`^fastlvs \S+ \(commit [0-9a-f]{40}\)`).MatchString(out) {
		t.Errorf("packaged fastlvs version: %q, want the version and commit stamped at build", out)
	}

	unit := readUnit(t, filepath.Join(root, "lib/systemd/system/fastlvs.service"))
	for key, want := range map[string]string{
		"LimitMEMLOCK":    "infinity",
		"ExecReload":      "/bin/kill -HUP $MAINPID",
		"Restart":         "on-failure",
		"EnvironmentFile": "-/etc/default/fastlvs",
		"WantedBy":        "multi-user.target",
	} {
		if unit[key] != want {
			t.Errorf("unit %s=%q, want %q", key, unit[key], want)
		}
	}
	for _, capability := range []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_BPF", "CAP_IPC_LOCK"} {
		if !slices.Contains(strings.Fields(unit["CapabilityBoundingSet"]), capability) ||
			!slices.Contains(strings.Fields(unit["AmbientCapabilities"]), capability) {
			t.Errorf("unit lacks %s in CapabilityBoundingSet or AmbientCapabilities", capability)
		}
	}

	// The unit's paths, moved under the extracted root.
	relocate := strings.NewReplacer("/usr/sbin/", root+"/usr/sbin/", "/etc/", root+"/etc/")
	unitText, err := os.ReadFile(filepath.Join(root, "lib/systemd/system/fastlvs.service"))
	if err != nil {
		t.Fatal(err)
	}
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		relocated := filepath.Join(tmp, "fastlvs.service")
		if err := os.WriteFile(relocated, []byte(relocate.Replace(string(unitText))), 0o644); err != nil {
			t.Fatal(err)
		}
		// verify warns about unknown keys without failing: any output is a finding.
		if out, err := exec.Command(analyze, "verify", "--man=no", relocated).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	}

	// ExecStart as systemd would run it: $FASTLVS_OPTS from the environment
	// file, every capability outside the bounding set dropped.
	opts := readUnit(t, filepath.Join(root, "etc/default/fastlvs"))["FASTLVS_OPTS"]
	execStart := strings.ReplaceAll(relocate.Replace(unit["ExecStart"]), "$FASTLVS_OPTS", strings.Trim(opts, `"`))
	bounding := "-all"
	for _, capability := range strings.Fields(unit["CapabilityBoundingSet"]) {
		bounding += ",+" + strings.ToLower(strings.TrimPrefix(capability, "CAP_"))
	}

	// The example configuration serves eth1 and eth2 (two queues each: two
	// workers); its API socket moves to the test's directory (--api after
	// the unit's arguments), so nothing of the machine's is touched.
	bed := testbed.ForTest(t, "fpkg")
	director, err := bed.Host("dir")
	if err != nil {
		t.Fatal(err)
	}
	peer, err := bed.Host("peer")
	if err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{{"eth1", "p1"}, {"eth2", "p2"}} {
		if err := bed.Connect(director, pair[0], peer, pair[1], testbed.LinkOptions{Queues: 2}); err != nil {
			t.Fatal(err)
		}
	}
	if err := director.AddAddr("eth2", "198.18.2.2/24"); err != nil {
		t.Fatal(err)
	}
	if err := director.AddAddr("eth1", "198.18.0.2/24"); err != nil {
		t.Fatal(err)
	}
	socket := "unix://" + filepath.Join(tmp, "api.sock")
	args := append([]string{"--bounding-set", bounding}, strings.Fields(execStart)...)
	args = append(args, "--api", socket)
	proc, err := testbed.StartProcess(director.Command("setpriv", args...))
	if err != nil {
		t.Fatal(err)
	}
	defer proc.Stop(syscall.SIGTERM, 5*time.Second)
	if err := proc.WaitFor("fastlvs running", 20*time.Second); err != nil {
		t.Fatal(err)
	}

	list := director.Command(filepath.Join(root, "usr/sbin/fastlvsadm"), "--api", socket, "-L", "-n")
	out, err := list.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "TCP  198.18.0.10:80 wlc") {
		t.Fatalf("fastlvsadm -L -n over the API: %v\n%s\ndirector log:\n%s", err, out, proc.Tail(20))
	}

	// ExecReload: SIGHUP reloads.
	if err := proc.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := proc.WaitFor(`msg=reloaded`, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	proc.Stop(syscall.SIGTERM, 5*time.Second)
	if err := proc.WaitFor("fastlvs stopped", time.Second); err != nil {
		t.Error(err)
	}
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// readUnit reads KEY=VALUE lines (a systemd unit or a shell environment
// file); a key given twice keeps its last value.
func readUnit(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	values := map[string]string{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if line == "" || line[0] == '#' || line[0] == '[' {
			continue
		}
		if key, value, ok := strings.Cut(line, "="); ok {
			values[key] = value
		}
	}
	return values
}
