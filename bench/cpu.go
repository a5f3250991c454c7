package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// coreTimes is one line of /proc/stat: jiffies per state of one CPU.
type coreTimes struct{ busy, total uint64 }

// readCoreTimes reads cpu<n> from /proc/stat. Busy is everything but idle
// and iowait, so softirq time (NAPI, XDP, kernel forwarding) counts as busy.
func readCoreTimes(cpu int) (coreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return coreTimes{}, fmt.Errorf("read /proc/stat: %w", err)
	}
	return parseCoreTimes(string(b), cpu)
}

func parseCoreTimes(stat string, cpu int) (coreTimes, error) {
	prefix := "cpu" + strconv.Itoa(cpu) + " "
	for line := range strings.SplitSeq(stat, "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		fields := strings.Fields(line)[1:]
		var t coreTimes
		for i, f := range fields {
			if i >= 8 { // guest and guest_nice are already in user and nice
				break
			}
			v, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return coreTimes{}, fmt.Errorf("parse /proc/stat %s: %w", prefix, err)
			}
			t.total += v
			if i != 3 && i != 4 { // idle, iowait
				t.busy += v
			}
		}
		return t, nil
	}
	return coreTimes{}, fmt.Errorf("parse /proc/stat: no line for cpu %d", cpu)
}

// readProcessTicks returns utime+stime of a process, in clock ticks.
func readProcessTicks(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseProcessTicks(string(b))
}

// parseProcessTicks reads fields 14 and 15 of /proc/<pid>/stat; the command
// name (field 2) may hold spaces and parentheses, so count from its end.
func parseProcessTicks(stat string) (uint64, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, errors.New("parse process stat: no command name")
	}
	fields := strings.Fields(stat[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return 0, errors.New("parse process stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, fmt.Errorf("parse process stat: %w", err)
	}
	return utime + stime, nil
}

// cpuSample is the director's CPU state at one instant.
type cpuSample struct {
	at      time.Time
	core    coreTimes
	procTks uint64
}

func sampleCPU(cpu, pid int) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var err error
	if s.core, err = readCoreTimes(cpu); err != nil {
		return s, err
	}
	if pid > 0 {
		if s.procTks, err = readProcessTicks(pid); err != nil {
			return s, err
		}
	}
	return s, nil
}

// coreBusy is the core's busy share between two samples, in percent.
func coreBusy(a, b cpuSample) float64 {
	total := b.core.total - a.core.total
	if total == 0 {
		return 0
	}
	return 100 * float64(b.core.busy-a.core.busy) / float64(total)
}

// processBusy is the process's CPU time over wall time, in percent of one core.
func processBusy(a, b cpuSample) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return 100 * float64(b.procTks-a.procTks) / clockTicks / wall
}

// pinProcess pins every thread of this process to cpu. Threads made later
// inherit the mask of the thread that makes them, so the whole bench process
// (generator, HTTP server, sampling) stays off the director's core.
func pinProcess(cpu int) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("list own threads: %w", err)
	}
	var set unix.CPUSet
	set.Set(cpu)
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("pin thread %d to cpu %d: %w", tid, cpu, err)
		}
	}
	return nil
}
