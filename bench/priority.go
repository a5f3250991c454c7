package bench

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"fastlvs/control/config"
)

// A priority is the scheduling policy a forwarder's packet thread runs
// under, in the words of fastlvs's worker_priority: "normal", "nice:<n>"
// (-20..19) or "fifo:<prio>" (SCHED_FIFO 1..99). The bench gives fastlvs's
// worker and the C forwarder's one thread the same policy.
const normalPriority = "normal"

// ParsePriority checks a priority and splits it into policy and value.
func ParsePriority(spec string) (policy string, value int, err error) {
	if spec == normalPriority {
		return spec, 0, nil
	}
	policy, num, ok := strings.Cut(spec, ":")
	value, convErr := strconv.Atoi(num)
	switch {
	case !ok || convErr != nil:
	case policy == "nice" && value >= -20 && value <= 19:
		return policy, value, nil
	case policy == "fifo" && value >= 1 && value <= 99:
		return policy, value, nil
	}
	return "", 0, fmt.Errorf("priority %q: want normal, nice:<-20..19> or fifo:<1..99>", spec)
}

// isFIFO says the priority is real-time.
func isFIFO(spec string) bool { return strings.HasPrefix(spec, "fifo:") }

// applyPriority puts one thread under the priority.
func applyPriority(tid int, spec string) error {
	policy, value, err := ParsePriority(spec)
	if err != nil {
		return err
	}
	switch policy {
	case "nice":
		err = unix.Setpriority(unix.PRIO_PROCESS, tid, value)
	case "fifo":
		err = setFIFO(tid, value)
	}
	if err != nil {
		return fmt.Errorf("set priority %s on thread %d: %w", spec, tid, err)
	}
	return nil
}

// fastlvsHasWorkerPriority says the fastlvs being measured reads
// worker_priority from its configuration, so the bench can ask for the
// policy there instead of imposing it from outside.
func fastlvsHasWorkerPriority() bool {
	cfg := reflect.TypeFor[config.Config]()
	for i := range cfg.NumField() {
		if name, _, _ := strings.Cut(cfg.Field(i).Tag.Get("yaml"), ","); name == "worker_priority" {
			return true
		}
	}
	return false
}

// prioritizePinnedThreads applies the priority from outside to the threads
// of pid whose affinity is exactly cpu: a fastlvs without worker_priority
// pins only its worker there. It fails when it finds none.
func prioritizePinnedThreads(pid, cpu int, spec string) error {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return fmt.Errorf("list threads of %d: %w", pid, err)
	}
	found := 0
	for _, task := range tasks {
		tid, err := strconv.Atoi(task.Name())
		if err != nil {
			continue
		}
		var set unix.CPUSet
		if unix.SchedGetaffinity(tid, &set) != nil || set.Count() != 1 || !set.IsSet(cpu) {
			continue
		}
		if err := applyPriority(tid, spec); err != nil {
			return err
		}
		found++
	}
	if found == 0 {
		return fmt.Errorf("priority %s: no thread of %d pinned to cpu %d", spec, pid, cpu)
	}
	return nil
}
