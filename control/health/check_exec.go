package health

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"
)

// execCheck runs a command with keepalived MISC_CHECK misc_dynamic
// semantics: exit 0 up, 1 down, 2..255 up with weight exit-2. The command
// sees FASTLVS_CHECK_ADDR and FASTLVS_CHECK_PORT.
type execCheck struct {
	addr    netip.AddrPort
	command string
	args    []string
}

func (c *execCheck) run(ctx context.Context) result {
	timeout := time.Duration(0)
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	cmd := exec.CommandContext(ctx, c.command, c.args...)
	cmd.Env = append(os.Environ(),
		"FASTLVS_CHECK_ADDR="+c.addr.Addr().String(),
		"FASTLVS_CHECK_PORT="+strconv.Itoa(int(c.addr.Port())),
	)
	killGroupOnCancel(cmd)
	err := cmd.Run()
	if ctx.Err() != nil {
		return failure(fmt.Errorf("exec %s: killed after %v: %w", c.command, timeout.Round(time.Millisecond), ctx.Err()))
	}
	if err == nil {
		return success()
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return failure(fmt.Errorf("exec %s: %w", c.command, err))
	}
	code := exitErr.ExitCode()
	switch {
	case code == 1:
		return failure(fmt.Errorf("exec %s: exit 1", c.command))
	case code >= 2 && code <= 255:
		return result{weight: code - 2}
	}
	return failure(fmt.Errorf("exec %s: %v", c.command, exitErr))
}

// killGroupOnCancel puts cmd in its own process group and kills the whole
// group when its context ends, so a script's children die with it.
func killGroupOnCancel(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	// Children holding the output pipes open must not keep Wait blocked.
	cmd.WaitDelay = time.Second
}
