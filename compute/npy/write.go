package npy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
)

// WriteFile writes data (C order, len = product of shape) as a version 1.0
// '<f8' .npy file at path, atomically: into a temporary file in the same
// directory, synced, then renamed over path. A failure leaves no file.
func WriteFile(path string, shape []int, data []float64) (err error) {
	n := 1
	for _, s := range shape {
		n *= s
	}
	if n != len(data) {
		return fmt.Errorf("npy: shape %v holds %d values, got %d", shape, n, len(data))
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	w := bufio.NewWriterSize(f, 1<<16)
	if _, err := w.Write(EncodeHeader(Float64, false, shape)); err != nil {
		return fmt.Errorf("npy: writing %s: %w", path, err)
	}
	var b [8]byte
	for _, v := range data {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(v))
		if _, err := w.Write(b[:]); err != nil {
			return fmt.Errorf("npy: writing %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("npy: writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("npy: syncing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("npy: closing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("npy: %w", err)
	}
	return nil
}
