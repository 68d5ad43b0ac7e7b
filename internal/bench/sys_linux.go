package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ioCounters are the read counters of /proc/self/io, for the whole
// process (all its threads).
type ioCounters struct {
	// rchar counts the bytes read(2), pread(2) and friends returned,
	// whether they came from the page cache or the disk.
	rchar int64
	// readBytes counts the bytes the process made the block layer fetch:
	// page-cache hits are not in it.
	readBytes int64
}

const ioCountersSource = "/proc/self/io"

func readIOCounters() (ioCounters, bool) {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return ioCounters{}, false
	}
	var c ioCounters
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(value), 10, 64)
		if err != nil {
			continue
		}
		switch key {
		case "rchar":
			c.rchar, seen = n, seen+1
		case "read_bytes":
			c.readBytes, seen = n, seen+1
		}
	}
	return c, seen == 2
}

// loadAvg is the 1, 5 and 15 minute load averages, nil when unknown.
func loadAvg() []float64 {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var l [3]float64
	if _, err := fmt.Sscan(string(data), &l[0], &l[1], &l[2]); err != nil {
		return nil
	}
	return l[:]
}

// FreeSpace is how many bytes an unprivileged user can still write to the
// file system holding dir; ok is false when it cannot be told.
func FreeSpace(dir string) (free int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}

// dataBytes is how much data a file holds on disk: its size, less the
// holes of a sparse file. The allocated size (st_blocks) alone would count
// the slack of the last block and file systems' preallocation; the size
// alone would count a sparse file, like the replica PC1 creates, as written.
func dataBytes(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return min(fi.Size(), int64(st.Blocks)*512)
	}
	return fi.Size()
}
