//go:build !unix

package sched

// involuntarySwitches returns -1: this system does not tell (see the
// unix version).
func involuntarySwitches() int64 { return -1 }
