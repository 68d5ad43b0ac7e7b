//go:build !linux

package proofs

import "os"

// mappedFile stands in for a memory map where devproof does not use mmap:
// the file's content lives in memory and is written out on close.
type mappedFile struct {
	path string
	data []byte
}

func createMapped(path string, size int64) (*mappedFile, error) {
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return nil, err
	}
	return &mappedFile{path: path, data: make([]byte, size)}, nil
}

func (m *mappedFile) close() error {
	return os.WriteFile(m.path, m.data, 0o644)
}
