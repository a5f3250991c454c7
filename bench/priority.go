package bench

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"fastlvs/dataplane"
)

// A priority is the scheduling policy a forwarder's packet thread runs
// under, in the words of fastlvs's worker_priority: "normal", "nice:<n>" or
// "fifo:<prio>" (dataplane.ParsePriority). fastlvs's worker takes it from
// its configuration, the C forwarder's one thread from its -p flag; the
// bench checks that each really runs under it.
const normalPriority = "normal"

// ParsePriorities reads a comma-separated list of priorities.
func ParsePriorities(list string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		p, err := parsePriority(strings.TrimSpace(item))
		if err != nil {
			return nil, err
		}
		out = append(out, p.String())
	}
	return out, nil
}

func parsePriority(spec string) (dataplane.Priority, error) {
	if spec == "" {
		return dataplane.Priority{}, errors.New("priority: empty (want normal, nice:<n> or fifo:<prio>)")
	}
	p, err := dataplane.ParsePriority(spec)
	if err != nil {
		return p, fmt.Errorf("priority: %w", err)
	}
	return p, nil
}

// isFIFO says the priority is real-time.
func isFIFO(spec string) bool {
	p, err := dataplane.ParsePriority(spec)
	return err == nil && p.Policy == dataplane.PriorityFIFO
}

// threadSched is a thread's scheduling as /proc/<pid>/task/<tid>/stat says.
type threadSched struct {
	nice, rtPriority, policy int
}

// parseThreadSched reads fields 19 (nice), 40 (rt_priority) and 41
// (policy) of a stat line, counting from the end of the command name.
func parseThreadSched(stat string) (threadSched, error) {
	end := strings.LastIndexByte(stat, ')')
	if end < 0 {
		return threadSched{}, errors.New("parse thread stat: no command name")
	}
	fields := strings.Fields(stat[end+1:]) // fields[0] is field 3
	if len(fields) < 39 {
		return threadSched{}, errors.New("parse thread stat: too few fields")
	}
	nice, err1 := strconv.Atoi(fields[16])
	rt, err2 := strconv.Atoi(fields[37])
	policy, err3 := strconv.Atoi(fields[38])
	if err := errors.Join(err1, err2, err3); err != nil {
		return threadSched{}, fmt.Errorf("parse thread stat: %w", err)
	}
	return threadSched{nice: nice, rtPriority: rt, policy: policy}, nil
}

// runsUnder says a thread's scheduling is the priority.
func (s threadSched) runsUnder(p dataplane.Priority) bool {
	switch p.Policy {
	case dataplane.PriorityFIFO:
		return s.policy == unix.SCHED_FIFO && s.rtPriority == p.Level
	case dataplane.PriorityNice:
		return s.policy == unix.SCHED_NORMAL && s.nice == p.Level
	}
	return s.policy == unix.SCHED_NORMAL && s.nice == 0
}

// verifyPriority checks that a thread of pid pinned to cpu alone, the
// forwarder's packet thread, runs under spec: a forwarder that ignored the
// policy would make the comparison a lie.
func verifyPriority(pid, cpu int, spec string) error {
	want, err := parsePriority(spec)
	if err != nil {
		return err
	}
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return fmt.Errorf("list threads of %d: %w", pid, err)
	}
	var seen []string
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		var set unix.CPUSet
		if unix.SchedGetaffinity(tid, &set) != nil || set.Count() != 1 || !set.IsSet(cpu) {
			continue
		}
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		sched, err := parseThreadSched(string(stat))
		if err != nil {
			return err
		}
		if sched.runsUnder(want) {
			return nil
		}
		seen = append(seen, fmt.Sprintf("%d: policy %d nice %d rt %d", tid, sched.policy, sched.nice, sched.rtPriority))
	}
	return fmt.Errorf("no thread of %d on cpu %d runs under %s (pinned threads: %s)", pid, cpu, spec, strings.Join(seen, "; "))
}

// awaitPriority is verifyPriority retried for a few seconds: a forwarder may
// say it is ready a moment before its packet thread has pinned itself and
// taken its policy.
func awaitPriority(pid, cpu int, spec string) error {
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := verifyPriority(pid, cpu, spec)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
