package bench

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// clockTicks is USER_HZ, the unit of /proc's CPU times (100 on Linux).
const clockTicks = 100

// coreTimes is one line of /proc/stat: jiffies per state of one CPU.
type coreTimes struct{ busy, softirq, total uint64 }

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
			if i == 6 {
				t.softirq = v
			}
		}
		return t, nil
	}
	return coreTimes{}, fmt.Errorf("parse /proc/stat: no line for cpu %d", cpu)
}

// taskTicks is the CPU time of a process or thread, in clock ticks.
type taskTicks struct{ user, sys uint64 }

// readTaskTicks reads utime and stime of a process (all its threads) or of
// one thread: /proc/<pid>/stat serves both.
func readTaskTicks(pid int) (taskTicks, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return taskTicks{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return parseTaskTicks(string(b))
}

// parseTaskTicks reads fields 14 and 15 of /proc/<pid>/stat; the command
// name (field 2) may hold spaces and parentheses, so count from its end.
func parseTaskTicks(stat string) (taskTicks, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return taskTicks{}, errors.New("parse process stat: no command name")
	}
	fields := strings.Fields(stat[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return taskTicks{}, errors.New("parse process stat: too few fields")
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return taskTicks{}, fmt.Errorf("parse process stat: %w", err)
	}
	return taskTicks{user: utime, sys: stime}, nil
}

// cpuSample is the director's CPU state at one instant: its core, the
// forwarder process and the director's NAPI kthreads.
type cpuSample struct {
	at   time.Time
	core coreTimes
	proc taskTicks
	// napi is the NAPI kthreads' time summed; napiLost says one of them
	// could not be read (it ended), so the sum means nothing.
	napi     uint64
	napiLost bool
}

// sampleCPU reads the core, the process (pid > 0) and the NAPI threads.
func sampleCPU(cpu, pid int, napiPIDs []int) (cpuSample, error) {
	s := cpuSample{at: time.Now()}
	var err error
	if s.core, err = readCoreTimes(cpu); err != nil {
		return s, err
	}
	if pid > 0 {
		if s.proc, err = readTaskTicks(pid); err != nil {
			return s, err
		}
	}
	for _, tid := range napiPIDs {
		t, err := readTaskTicks(tid)
		if err != nil {
			s.napiLost = true
			continue
		}
		s.napi += t.user + t.sys
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

// coreSoftirq is the core's softirq share between two samples, in percent.
func coreSoftirq(a, b cpuSample) float64 {
	total := b.core.total - a.core.total
	if total == 0 {
		return 0
	}
	return 100 * float64(b.core.softirq-a.core.softirq) / float64(total)
}

// ticksShare is ticks of CPU time over the wall time between two samples, in
// percent of one core.
func ticksShare(a, b cpuSample, ticks uint64) float64 {
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return 0
	}
	return 100 * float64(ticks) / clockTicks / wall
}

// processBusy is the process's CPU time over wall time, in percent of one core.
func processBusy(a, b cpuSample) float64 {
	return processUser(a, b) + processSys(a, b)
}

func processUser(a, b cpuSample) float64 { return ticksShare(a, b, b.proc.user-a.proc.user) }
func processSys(a, b cpuSample) float64  { return ticksShare(a, b, b.proc.sys-a.proc.sys) }

// napiBusy is the director's NAPI kthreads' CPU in percent of one core, NaN
// when a thread ended between the samples.
func napiBusy(a, b cpuSample) float64 {
	if a.napiLost || b.napiLost {
		return math.NaN()
	}
	return ticksShare(a, b, b.napi-a.napi)
}

// napiThreadsOf lists the PIDs of the NAPI kthreads of the interfaces.
func napiThreadsOf(ifaces ...string) ([]int, error) {
	threads, err := napiThreads()
	if err != nil {
		return nil, err
	}
	var pids []int
	for pid, comm := range threads {
		for _, iface := range ifaces {
			if strings.HasPrefix(comm, "napi/"+iface+"-") {
				pids = append(pids, pid)
			}
		}
	}
	return pids, nil
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
