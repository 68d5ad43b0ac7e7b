//go:build linux

package proofs

import (
	"os"
	"syscall"
)

// mappedFile is a file of a fixed size mapped shared and writable: writes
// to data land in the page cache and the file.
type mappedFile struct {
	f    *os.File
	data []byte
}

// createMapped creates (or truncates) path to size bytes and maps it.
func createMapped(path string, size int64) (*mappedFile, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return nil, err
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "mmap", Path: path, Err: err}
	}
	return &mappedFile{f: f, data: data}, nil
}

func (m *mappedFile) close() error {
	err := syscall.Munmap(m.data)
	if cerr := m.f.Close(); err == nil {
		err = cerr
	}
	return err
}
