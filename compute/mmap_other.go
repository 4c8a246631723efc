//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package compute

import "os"

// mapping is not available on this OS: array files are read at offsets
// (pread), chunk by chunk, into each worker's buffer.
type mapping struct{}

func mapFile(*os.File, int64, int64) (*mapping, error) { return nil, errNoMap }

func (m *mapping) data() []byte     { return nil }
func (m *mapping) release(_, _ int) {}
func (m *mapping) close() error     { return nil }
