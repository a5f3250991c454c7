package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"fastlvs/testbed"
)

// TrafgenGenerator drives netsniff-ng's trafgen (PACKET_MMAP TX ring, qdisc
// bypass) on the generator host's interface, one process pinned to CPU.
// TESTBED.md: trafgen dies with "Flushing TX_RING failed: EAGAIN" unless the
// socket buffer defaults are raised; the generator raises them host-wide for
// the job and puts the old values back when it ends.
type TrafgenGenerator struct {
	Host  *testbed.Host
	Iface string
	CPU   int
	Dir   string // where the packet configuration is written
}

// Name implements Generator.
func (g *TrafgenGenerator) Name() string { return "trafgen" }

// trafgenWmem is the socket buffer size trafgen's TX ring needs.
const trafgenWmem = "4194304"

// trafgenConfig writes t in trafgen's packet language; the source port runs
// through the flows with dinc, and the UDP checksum is recomputed per frame.
func trafgenConfig(t Traffic) (string, error) {
	if err := t.validate(); err != nil {
		return "", err
	}
	sport := strconv.Itoa(FirstSrcPort)
	if t.Flows > 1 {
		sport = fmt.Sprintf("dinc(%d, %d)", FirstSrcPort, FirstSrcPort+t.Flows-1)
	}
	return fmt.Sprintf("{\n  eth(da=%s, sa=%s),\n  ipv4(sa=%s, da=%s, ttl=64),\n  udp(sp=%s, dp=%d),\n  fill(0x00, %d)\n}\n",
		t.DstMAC, t.SrcMAC, t.Src, t.Dst, sport, t.DstPort, frameLen-14-20-8), nil
}

// Start writes the configuration, raises the socket buffer sysctls and
// starts trafgen.
func (g *TrafgenGenerator) Start(t Traffic, maxPackets uint64, maxDuration time.Duration) (Job, error) {
	if _, err := exec.LookPath("trafgen"); err != nil {
		return nil, fmt.Errorf("find trafgen: %w (apt-get install netsniff-ng)", err)
	}
	conf, err := trafgenConfig(t)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(g.Dir, "trafgen.cfg")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write trafgen config: %w", err)
	}
	restore, err := raiseSysctls(map[string]string{"net.core.wmem_default": trafgenWmem, "net.core.wmem_max": trafgenWmem})
	if err != nil {
		return nil, err
	}
	cmd := g.Host.Command("taskset", "-c", strconv.Itoa(g.CPU), "trafgen", "--dev", g.Iface, "--conf", path,
		"--cpus", "1", "--num", strconv.FormatUint(maxPackets, 10), "--no-sock-mem", "--notouch-irq")
	// trafgen forks its sending process: a group of its own lets Stop reach
	// both, as Ctrl-C would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	job := &trafgenJob{cmd: cmd, restore: restore, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &job.out, &job.out
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start trafgen: %w", err), restore())
	}
	go job.routineWait(maxDuration)
	return job, nil
}

type trafgenJob struct {
	cmd      *exec.Cmd
	restore  func() error
	out      bytes.Buffer
	done     chan struct{}
	stopOnce sync.Once
	sent     uint64
	err      error
}

// routineWait reaps trafgen, interrupting it at the deadline.
func (j *trafgenJob) routineWait(maxDuration time.Duration) {
	defer close(j.done)
	timer := time.AfterFunc(maxDuration, j.Stop)
	waitErr := j.cmd.Wait()
	timer.Stop()
	out := j.out.String()
	j.sent = parseTrafgenSent(out)
	if waitErr != nil && j.sent == 0 {
		j.err = fmt.Errorf("trafgen: %w: %s", waitErr, lastLines(out, 3))
	}
	j.err = errors.Join(j.err, j.restore())
}

// Stop interrupts trafgen's process group (SIGINT: it prints its totals and
// exits); the group is the one Start made, led by the PID it started.
func (j *trafgenJob) Stop() {
	j.stopOnce.Do(func() {
		if j.cmd.Process != nil {
			_ = syscall.Kill(-j.cmd.Process.Pid, syscall.SIGINT)
		}
	})
}

func (j *trafgenJob) Wait() (uint64, error) {
	<-j.done
	return j.sent, j.err
}

var trafgenSentRE = regexp.MustCompile(`(\d+)\s+packets outgoing`)

// parseTrafgenSent reads "N packets outgoing" from trafgen's summary.
func parseTrafgenSent(out string) uint64 {
	m := trafgenSentRE.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}

// raiseSysctls sets host-wide sysctls (in the caller's namespace) to at least
// the given values and returns a function that restores the old ones.
func raiseSysctls(values map[string]string) (restore func() error, err error) {
	old := map[string]string{}
	restore = func() error {
		var errs []error
		for key, v := range old {
			errs = append(errs, os.WriteFile(sysctlPath(key), []byte(v), 0o644))
		}
		return errors.Join(errs...)
	}
	for key, v := range values {
		b, err := os.ReadFile(sysctlPath(key))
		if err != nil {
			return nil, errors.Join(fmt.Errorf("read sysctl %s: %w", key, err), restore())
		}
		cur := strings.TrimSpace(string(b))
		if n, _ := strconv.Atoi(cur); n >= mustAtoi(v) {
			continue
		}
		old[key] = cur
		if err := os.WriteFile(sysctlPath(key), []byte(v), 0o644); err != nil {
			return nil, errors.Join(fmt.Errorf("set sysctl %s: %w", key, err), restore())
		}
	}
	return restore, nil
}

func mustAtoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		panic(err)
	}
	return n
}

func sysctlPath(key string) string { return "/proc/sys/" + strings.ReplaceAll(key, ".", "/") }
