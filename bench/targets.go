package bench

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Forwarders is every packet-rate target the bench knows, in the order a
// full run measures them.
var Forwarders = []string{"fastlvs dr", "fastlvs nat", "fastlvs fullnat", "fastlvs tun",
	"cforward", "cforward spin", "cforward busy", "kernel route", "nftables dnat", "xdp redirect", "dpdk-testpmd"}

// takesPriority says the forwarder runs its packet thread under a
// scheduling priority: fastlvs and the C forwarder. The kernel's paths have
// no thread of their own; testpmd is measured as it comes.
func takesPriority(name string) bool {
	return strings.HasPrefix(name, "fastlvs ") || strings.HasPrefix(name, "cforward")
}

// ParseTargets reads a comma-separated list of forwarders; a name may spell
// its spaces as dashes (fastlvs-nat, cforward-spin) so the list needs no
// quoting.
func ParseTargets(list string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		i := slices.IndexFunc(Forwarders, func(name string) bool {
			return item == name || item == strings.ReplaceAll(name, " ", "-")
		})
		if i < 0 {
			return nil, fmt.Errorf("target %q: want one of %s", item, strings.ReplaceAll(strings.Join(Forwarders, ","), " ", "-"))
		}
		if !slices.Contains(out, Forwarders[i]) {
			out = append(out, Forwarders[i])
		}
	}
	return out, nil
}

// ParseFlows reads a comma-separated list of flow counts.
func ParseFlows(list string) ([]int, error) {
	var out []int
	for item := range strings.SplitSeq(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(item))
		if err != nil || n < 1 || n > MaxFlows {
			return nil, fmt.Errorf("flows %q: want counts from 1 to %d", item, MaxFlows)
		}
		out = append(out, n)
	}
	return out, nil
}

// validate checks what a caller may have set by hand.
func (o Options) validate() error {
	if len(o.Flows) == 0 {
		return fmt.Errorf("options: no flow counts")
	}
	for _, flows := range o.Flows {
		if flows < 1 || flows > MaxFlows {
			return fmt.Errorf("options: %d flows (1..%d)", flows, MaxFlows)
		}
	}
	for _, name := range o.Forwarders {
		if !slices.Contains(Forwarders, name) {
			return fmt.Errorf("options: unknown forwarder %q", name)
		}
	}
	for _, p := range o.Priorities {
		if _, err := parsePriority(p); err != nil {
			return fmt.Errorf("options: %w", err)
		}
	}
	return nil
}

// plannedRun is one forwarder started once, under priority ("" for a path
// that takes none).
type plannedRun struct{ name, priority string }

// plan orders the packet-rate runs of a round: for each priority, every
// forwarder that takes it (after the first priority only those
// PriorityForwarders names, when set), so fastlvs and the C forwarder under
// one priority run minutes apart at most; then the paths that take none.
func (o Options) plan() []plannedRun {
	var runs []plannedRun
	for i, priority := range o.Priorities {
		for _, name := range o.Forwarders {
			if !takesPriority(name) || i > 0 && o.PriorityForwarders != nil && !slices.Contains(o.PriorityForwarders, name) {
				continue
			}
			runs = append(runs, plannedRun{name: name, priority: priority})
		}
	}
	for _, name := range o.Forwarders {
		if !takesPriority(name) {
			runs = append(runs, plannedRun{name: name})
		}
	}
	return runs
}
