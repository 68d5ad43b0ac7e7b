package sectors

import (
	"fmt"
	"syscall"
)

// StatFS measures free space with statfs(2): the blocks available to
// unprivileged users, which is what a worker copying sectors can use.
type StatFS struct{}

// Available implements DiskSpace.
func (StatFS) Available(path string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
