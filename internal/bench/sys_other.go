//go:build !linux

package bench

import "io/fs"

// ioCounters stand in for /proc/self/io, which only Linux has.
type ioCounters struct {
	rchar     int64
	readBytes int64
}

const ioCountersSource = ""

func readIOCounters() (ioCounters, bool) { return ioCounters{}, false }

func loadAvg() []float64 { return nil }

// FreeSpace is unknown outside Linux.
func FreeSpace(dir string) (free int64, ok bool) { return 0, false }

// dataBytes is the file size: without st_blocks a sparse file counts as
// fully written.
func dataBytes(fi fs.FileInfo) int64 { return fi.Size() }
