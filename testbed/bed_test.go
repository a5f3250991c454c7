package testbed

import (
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// namespacesWithPrefix lists `ip netns list` entries starting with prefix.
func namespacesWithPrefix(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		if name, _, _ := strings.Cut(line, " "); strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	return names
}

func TestCloseRemovesEveryNamespaceAndLink(t *testing.T) {
	bed, err := New(Options{Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	topo, err := BuildTopology(bed, TopologyOptions{Mode: ModeNAT, Clients: 1, Reals: 2})
	if err != nil {
		bed.Close()
		t.Fatal(err)
	}
	if _, _, err := topo.StartServers(8080, 5353); err != nil {
		bed.Close()
		t.Fatal(err)
	}
	want := []string{"c1", "dir", "lan", "r1", "r2"}
	var got []string
	for _, name := range namespacesWithPrefix(t, bed.Prefix()) {
		got = append(got, strings.TrimPrefix(name, bed.Prefix()))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("namespaces %v, want %v", got, want)
	}
	// Hold the bridge namespace open past Close: its links must still be deleted.
	held, err := netns.GetFromName(bed.Prefix() + "lan")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()

	if err := bed.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if left := namespacesWithPrefix(t, bed.Prefix()); len(left) != 0 {
		t.Fatalf("namespaces left after close: %v", left)
	}
	handle, err := netlink.NewHandleAt(held)
	if err != nil {
		t.Fatal(err)
	}
	defer handle.Close()
	links, err := handle.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		if l.Attrs().Name != "lo" {
			t.Errorf("link %s left in the closed bed's bridge namespace", l.Attrs().Name)
		}
	}
	rootLinks, err := netlink.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range rootLinks {
		if strings.HasPrefix(l.Attrs().Name, testPrefix) || l.Attrs().Name == "dir" {
			t.Errorf("link %s of the run left in the root namespace", l.Attrs().Name)
		}
	}
	if err := bed.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := bed.Host("late"); err == nil {
		t.Fatal("Host after Close succeeded")
	}
}

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

func TestNewSweepsLeftoversOfDeadRuns(t *testing.T) {
	live := ForTest(t, testPrefix) // this process is alive: its namespaces must survive the sweep
	if _, err := live.Host("alive"); err != nil {
		t.Fatal(err)
	}
	pid := strconv.FormatInt(int64(deadPID(t)), 16)
	leftover := testPrefix + "-" + pid + "-dir"
	leftoverSecondBed := testPrefix + "-" + pid + "n2-c1"
	otherPrefix := testPrefix + "z-" + pid + "-dir" // a different base prefix: not ours to sweep
	for _, name := range []string{leftover, leftoverSecondBed, otherPrefix} {
		ns, err := createNamedNetns(name)
		if err != nil {
			t.Fatal(err)
		}
		ns.Close()
	}
	t.Cleanup(func() { netns.DeleteNamed(otherPrefix) })

	bed, err := New(Options{Prefix: testPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer bed.Close()
	names := namespacesWithPrefix(t, testPrefix)
	for _, gone := range []string{leftover, leftoverSecondBed} {
		if slices.Contains(names, gone) {
			t.Errorf("leftover %s of dead pid survived the sweep", gone)
		}
	}
	for _, kept := range []string{live.Prefix() + "alive", otherPrefix} {
		if !slices.Contains(names, kept) {
			t.Errorf("sweep removed %s", kept)
		}
	}
}

func TestOwnerPID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"flv-4f1a-dir", 0x4f1a, true},
		{"flv-4f1an3-r1", 0x4f1a, true},
		{"flvx-4f1a-dir", 0, false},
		{"flv-zz-dir", 0, false},
		{"flv-4f1a", 0, false},
		{"other", 0, false},
	} {
		pid, ok := ownerPID("flv", tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("ownerPID(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

// Sysctls and Do act on the host's namespace only, and the thread Do used is left where it was.
func TestHostIsolation(t *testing.T) {
	bed := ForTest(t, testPrefix)
	a, err := bed.Host("a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := bed.Host("b")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Sysctl("net.ipv4.ip_forward", "1"); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[*Host]string{a: "1", b: "0"} {
		if got, err := host.SysctlValue("net.ipv4.ip_forward"); err != nil || got != want {
			t.Fatalf("%s ip_forward = %q (%v), want %s", host.Name, got, err, want)
		}
	}
	if got, err := b.SysctlValue("net.ipv4.conf.all.rp_filter"); err != nil || got != "0" {
		t.Fatalf("rp_filter = %q (%v), want 0", got, err)
	}
	root, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := a.Do(func() error {
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == root {
		t.Fatalf("Do ran in the root namespace %s", root)
	}
	out, err := a.Run("ip", "-o", "link", "show", "lo")
	if err != nil || !strings.Contains(string(out), "UP") {
		t.Fatalf("lo in %s: %v %s", a.Name, err, out)
	}
	if _, err := a.Run("false"); err == nil {
		t.Fatal("Run of a failing command returned no error")
	}
}
