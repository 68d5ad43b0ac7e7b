//go:build !linux

package extproc

import (
	"errors"
	"os/exec"
)

// startPinned starts cmd; CPU pinning is implemented on Linux only (see
// cpuset_linux.go).
func startPinned(cmd *exec.Cmd, cpus []int) (notPinned, err error) {
	if len(cpus) > 0 {
		notPinned = errors.New("CPU pinning is only implemented on Linux")
	}
	return notPinned, cmd.Start()
}
