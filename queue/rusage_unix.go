//go:build unix

package queue

import (
	"syscall"

	"github.com/dsys-dev/dsys/queue/control"
)

// rusage is getrusage(RUSAGE_SELF) for `celery inspect stats`.
func rusage() any {
	var r syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
		return "N/A"
	}
	secs := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return control.Rusage{Utime: secs(r.Utime), Stime: secs(r.Stime), Maxrss: int64(r.Maxrss), Ixrss: int64(r.Ixrss),
		Idrss: int64(r.Idrss), Isrss: int64(r.Isrss), Minflt: int64(r.Minflt), Majflt: int64(r.Majflt), Nswap: int64(r.Nswap),
		Inblock: int64(r.Inblock), Oublock: int64(r.Oublock), Msgsnd: int64(r.Msgsnd), Msgrcv: int64(r.Msgrcv),
		Nsignals: int64(r.Nsignals), Nvcsw: int64(r.Nvcsw), Nivcsw: int64(r.Nivcsw)}
}
