package cliutil

import (
	"fmt"
	"os"
	"path/filepath"
)

// SiblingBinary is the path of the program name in the directory of the
// running executable (symbolic links resolved): `make build` puts the
// three binaries side by side, and each finds the others there.
func SiblingBinary(name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the running executable, next to which %s is: %w", name, err)
	}
	if resolved, err := filepath.EvalSymlinks(exe); err == nil {
		exe = resolved
	}
	return ExecutableIn(filepath.Dir(exe), name)
}

// ExecutableIn is the path of the program name in dir, or an error saying
// it is missing there.
func ExecutableIn(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	if fi, err := os.Stat(p); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s not found at %s: build it (make build puts it into dist/bin)", name, p)
	}
	return p, nil
}
