package testbed

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestProcessWaitForAndStop(t *testing.T) {
	p, err := StartProcess(exec.Command("sh", "-c", "echo ready; sleep 30"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.WaitFor("ready", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	p.Stop(syscall.SIGTERM, 5*time.Second)
	if time.Since(start) > 2*time.Second {
		t.Fatalf("SIGTERM did not stop the process promptly")
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("Stop returned before the process exited")
	}

	quick, err := StartProcess(exec.Command("sh", "-c", "echo bye"))
	if err != nil {
		t.Fatal(err)
	}
	if err := quick.WaitFor("never printed", 5*time.Second); err == nil || !strings.Contains(err.Error(), "exited before") {
		t.Fatalf("WaitFor on an exited process: %v", err)
	}
}
