//go:build !linux

package sectors

import (
	"fmt"
	"runtime"
)

// StatFS measures free space with statfs(2), which this build supports on
// Linux only.
type StatFS struct{}

// Available implements DiskSpace.
func (StatFS) Available(path string) (uint64, error) {
	return 0, fmt.Errorf("free space of %s: not supported on %s", path, runtime.GOOS)
}
