package extproc

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// startPinned starts cmd restricted to cpus (none: no restriction).
//
// Why CPU affinity and not a cgroup: a cgroup v2 cpuset needs a delegated,
// writable subtree with the cpuset controller enabled, and its
// no-internal-processes rule would make the manager move itself out of its
// own cgroup; most installs (containers, plain systemd units) have neither.
// Affinity needs no privilege and pins the child's CPU time the same way;
// what it does not do is bind memory nodes or stop the child from widening
// its own mask.
//
// How: affinity is per thread and a forked process inherits its parent
// thread's. So Start runs on a dedicated OS thread whose mask is narrowed
// first; the child is pinned from its first instruction, with no window
// in which its threads could escape. The runtime creates its own new
// threads from a clean template thread while a thread is locked, so the
// narrowed mask spreads to no other goroutine; and that thread is never
// unlocked, so the runtime discards it with its goroutine.
//
// notPinned says why the child runs unpinned, or with fewer CPUs than
// asked; the child is started all the same.
func startPinned(cmd *exec.Cmd, cpus []int) (notPinned, err error) {
	if len(cpus) == 0 {
		return nil, cmd.Start()
	}
	type started struct{ notPinned, err error }
	done := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		var want unix.CPUSet
		for _, c := range cpus {
			want.Set(c)
		}
		var s started
		if err := unix.SchedSetaffinity(0, &want); err != nil {
			s.notPinned = fmt.Errorf("sched_setaffinity: %w (are these CPUs available to this process?)", err)
		} else {
			var got unix.CPUSet
			if err := unix.SchedGetaffinity(0, &got); err == nil && got != want {
				// The kernel keeps only the CPUs our own cpuset allows.
				s.notPinned = fmt.Errorf("only %d of the %d CPUs asked are available to this process; pinned to those", got.Count(), want.Count())
			}
		}
		s.err = cmd.Start()
		done <- s
	}()
	s := <-done
	return s.notPinned, s.err
}
