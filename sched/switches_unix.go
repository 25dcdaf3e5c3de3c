//go:build unix

package sched

import "syscall"

// involuntarySwitches returns how many times the kernel has taken a
// processor from this process's threads for another's, or -1 where it
// cannot tell.
func involuntarySwitches() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return int64(ru.Nivcsw)
}
