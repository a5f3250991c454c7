package testbed

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a child started by a test or a benchmark (often inside a
// namespace through Host.Command), with its output collected. It is stopped
// by its own PID, never by name.
type Process struct {
	cmd    *exec.Cmd
	output syncBuffer
	exited chan struct{}
}

// StartProcess starts cmd with its stdout and stderr collected.
func StartProcess(cmd *exec.Cmd) (*Process, error) {
	p := &Process{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &p.output, &p.output
	// A grandchild that keeps the output pipe open must not hold Wait after
	// the process itself ended.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", filepath.Base(cmd.Args[0]), err)
	}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p, nil
}

// Output is everything the process wrote so far.
func (p *Process) Output() string { return p.output.String() }

// Tail is the last n lines of the output.
func (p *Process) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(p.Output(), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// PID is the child's process id (`ip netns exec` execs, so it is the
// program's own).
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Exited is closed when the process has ended.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Signal sends sig to the process.
func (p *Process) Signal(sig syscall.Signal) error { return p.cmd.Process.Signal(sig) }

// WaitFor waits until the output contains marker; it fails when the process
// exits first or timeout passes.
func (p *Process) WaitFor(marker string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.Output(), marker) {
		select {
		case <-p.exited:
			return fmt.Errorf("exited before %q:\n%s", marker, p.Tail(20))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no %q within %s:\n%s", marker, timeout, p.Tail(20))
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Stop asks the process to end with sig and kills it after grace.
func (p *Process) Stop(sig syscall.Signal, grace time.Duration) {
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and readers at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(data []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(data)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
