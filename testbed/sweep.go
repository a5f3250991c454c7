package testbed

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// netnsDir is where named namespaces live (the directory `ip netns` uses).
const netnsDir = "/run/netns"

// Sweep deletes namespaces named <prefix>-<pid hex>[n<seq>]-<host> whose PID is not a live process, and returns
// their names. Namespaces of live runs, including this process's, are left alone.
func Sweep(prefix string) ([]string, error) {
	if err := validPrefix(prefix); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(netnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", netnsDir, err)
	}
	var swept []string
	var errs []error
	for _, e := range entries {
		pid, ok := ownerPID(prefix, e.Name())
		if !ok || processAlive(pid) {
			continue
		}
		if err := netns.DeleteNamed(e.Name()); err != nil {
			errs = append(errs, fmt.Errorf("delete leftover netns %s: %w", e.Name(), err))
			continue
		}
		swept = append(swept, e.Name())
	}
	return swept, errors.Join(errs...)
}

// ownerPID parses the creating PID out of a namespace name of this prefix.
func ownerPID(prefix, name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix+"-")
	if !ok {
		return 0, false
	}
	runID, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pidHex, _, _ := strings.Cut(runID, "n")
	pid, err := strconv.ParseInt(pidHex, 16, 32)
	if err != nil || pid <= 0 {
		return 0, false
	}
	return int(pid), true
}

func processAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}
