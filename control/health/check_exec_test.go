package health

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeScript writes an executable shell script into dir.
func writeScript(tb testing.TB, dir, name, body string) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		tb.Fatal(err)
	}
	return path
}

func TestExecExitCodes(t *testing.T) {
	dir := t.TempDir()
	codeFile := filepath.Join(dir, "code")
	setCode := func(code int) {
		// Write and rename so the script never reads a half-written file.
		if err := os.WriteFile(codeFile+".tmp", []byte(strconv.Itoa(code)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(codeFile+".tmp", codeFile); err != nil {
			t.Fatal(err)
		}
	}
	setCode(0)
	script := writeScript(t, dir, "check.sh", `test "$FASTLVS_CHECK_ADDR:$FASTLVS_CHECK_PORT" = "$1" || exit 1
exit $(cat "$2")
`)
	rec := newRecorder()
	m := newTestManager(t, Options{OnChange: rec.onChange})
	addr := "198.18.2.11:8080"
	m.Update([]Target{{Key: "exec", Addr: mustAddrPort(addr), Spec: Spec{Type: TypeExec, Interval: 40 * time.Millisecond, Timeout: 3 * time.Second, Fall: 2, Command: script, Args: []string{addr, codeFile}}}})
	waitUntil(t, 5*time.Second, "checks", func() bool { st, _ := m.Status("exec"); return st.Checks >= 2 })
	if st, _ := m.Status("exec"); !st.Up || st.Weight != -1 || st.Failures != 0 {
		t.Fatalf("exit 0: %+v, want up with the configured weight", st)
	}

	setCode(5) // up with weight 3
	if e := rec.waitFor(t, 1, 5*time.Second); !e.Up || e.Weight != 3 {
		t.Fatalf("exit 5: event %+v, want up with weight 3", e)
	}
	setCode(1)
	if e := rec.waitFor(t, 2, 5*time.Second); e.Up || !strings.Contains(e.Reason, "2 consecutive failures: exec") {
		t.Fatalf("exit 1: event %+v, want down", e)
	}
	setCode(0)
	if e := rec.waitFor(t, 3, 5*time.Second); !e.Up || e.Weight != -1 {
		t.Fatalf("exit 0 again: event %+v, want up with the configured weight", e)
	}
	if st, _ := m.Status("exec"); st.Transitions != 2 {
		t.Errorf("transitions = %d, want 2 (a weight change is not an up/down transition)", st.Transitions)
	}
}

// TestExecTimeoutKillsProcessGroup checks that a hanging script and the
// child it started are both killed at the timeout.
func TestExecTimeoutKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	script := writeScript(t, dir, "hang.sh", `sleep 30 &
echo $! > "$1.tmp" && mv "$1.tmp" "$1"
wait
`)
	m := newTestManager(t, Options{})
	const timeout = time.Second
	m.Update([]Target{{Key: "hang", Addr: mustAddrPort("127.0.0.1:1"), Spec: Spec{Type: TypeExec, Interval: 10 * time.Second, Timeout: timeout, Command: script, Args: []string{pidFile}}}})
	waitUntil(t, 5*time.Second, "the timed-out check", func() bool { st, _ := m.Status("hang"); return st.Checks == 1 })
	st, _ := m.Status("hang")
	if st.Up || !strings.Contains(st.LastError, "killed after") {
		t.Fatalf("status = %+v, want down after the kill", st)
	}
	if st.LastLatency < timeout || st.LastLatency > timeout+2*time.Second {
		t.Errorf("attempt took %v, want about %v", st.LastLatency, timeout)
	}
	raw, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("script did not start its child: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(raw)))
	waitUntil(t, 2*time.Second, "the child is gone", func() bool {
		// A killed child may linger as a zombie until init reaps it.
		return syscall.Kill(pid, 0) != nil || processState(pid) == "Z"
	})
}

// processState returns the one-letter state from /proc/pid/stat.
func processState(pid int) string {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return ""
	}
	s := string(raw)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2 : i+3]
	}
	return ""
}

// TestExecConcurrencyBound runs more exec targets than slots and checks the
// bound holds while every target still gets checked.
func TestExecConcurrencyBound(t *testing.T) {
	dir := t.TempDir()
	script := writeScript(t, dir, "slow.sh", `mkdir "$1/running.$$"
n=$(ls -d "$1"/running.* | wc -l)
echo $n >> "$1/seen"
sleep 0.1
rmdir "$1/running.$$"
`)
	m := newTestManager(t, Options{ExecConcurrency: 2})
	var targets []Target
	for i := range 6 {
		targets = append(targets, Target{Key: "e" + strconv.Itoa(i), Addr: mustAddrPort("127.0.0.1:1"),
			Spec: Spec{Type: TypeExec, Interval: 10 * time.Second, Timeout: 5 * time.Second, Command: script, Args: []string{dir}}})
	}
	m.Update(targets)
	waitUntil(t, 5*time.Second, "every target checked", func() bool {
		for _, st := range m.Statuses() {
			if st.Checks < 1 {
				return false
			}
		}
		return true
	})
	for key, st := range m.Statuses() {
		if !st.Up || st.Failures != 0 {
			t.Errorf("%s = %+v: waiting for a slot must not count against the timeout", key, st)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "seen"))
	for _, n := range strings.Fields(string(raw)) {
		if v, _ := strconv.Atoi(n); v > 2 {
			t.Errorf("%d exec checks ran at once, bound is 2 (seen %q)", v, raw)
		}
	}
}
