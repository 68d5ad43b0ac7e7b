package extproc

import (
	"fmt"
	"strconv"
	"strings"
)

// maxCPUs bounds the CPU numbers of a cpuset: the kernel's default mask
// size, and that of golang.org/x/sys/unix.CPUSet.
const maxCPUs = 1024

// parseCPUList parses cpuset list syntax ("0-3,8,10-11") into sorted,
// distinct CPU numbers.
func parseCPUList(s string) ([]int, error) {
	var seen [maxCPUs]bool
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := strconv.Atoi(lo)
		if err != nil || first < 0 {
			return nil, fmt.Errorf("%q: %q is not a CPU number or range (want e.g. \"0-3,8\")", s, part)
		}
		last := first
		if isRange {
			if last, err = strconv.Atoi(hi); err != nil || last < first {
				return nil, fmt.Errorf("%q: %q is not a CPU range (want e.g. \"0-3\")", s, part)
			}
		}
		if last >= maxCPUs {
			return nil, fmt.Errorf("%q: CPU %d is beyond the supported %d", s, last, maxCPUs)
		}
		for c := first; c <= last; c++ {
			seen[c] = true
		}
	}
	var cpus []int
	for c, ok := range seen {
		if ok {
			cpus = append(cpus, c)
		}
	}
	return cpus, nil
}
