//go:build linux

package events

import (
	"math"
	"os"
	"strconv"
	"strings"
)

// loadAverage is /proc/loadavg's three figures, as Celery's load_average
// gives them (two decimals).
func loadAverage() [3]float64 {
	var out [3]float64
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return out
	}
	f := strings.Fields(string(b))
	for i := 0; i < 3 && i < len(f); i++ {
		if v, err := strconv.ParseFloat(f[i], 64); err == nil {
			out[i] = math.Round(v*100) / 100
		}
	}
	return out
}
