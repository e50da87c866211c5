package campaign

import (
	"syscall"
	"time"
)

// cpuTime is the process's CPU time, user and system, so far: what a
// campaign reports beside the wall time to a detection, which a machine
// shared with other jobs inflates.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
