// Package e2e holds the end-to-end tests: they build the real binaries, start
// them as processes on loopback ports chosen at run time, and judge them by
// what they answer on the wire and what they leave on disk.
package e2e
