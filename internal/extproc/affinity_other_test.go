//go:build !linux

package extproc

// affinity is unknown off Linux.
func affinity() []int { return nil }
