package compute

import (
	"runtime"
	"runtime/debug"
	"sync"
)

// FloatFlavor names how this build rounds floating point. Go lets the
// compiler fuse x*y+z into one rounding (it does on arm64, ppc64, s390x,
// riscv64 and loong64, and on amd64 from GOAMD64=v3), so builds of another
// flavor may compute other bits for the same chunk. A task carries its
// client's flavor, and a worker of another refuses it rather than mix bits.
func FloatFlavor() string {
	flavorOnce.Do(func() {
		flavor = runtime.GOARCH
		if runtime.GOARCH == "amd64" {
			level := "v1"
			if bi, ok := debug.ReadBuildInfo(); ok {
				for _, s := range bi.Settings {
					if s.Key == "GOAMD64" && s.Value != "" {
						level = s.Value
					}
				}
			}
			flavor += "/" + level
		}
	})
	return flavor
}

var (
	flavorOnce sync.Once
	flavor     string
)
