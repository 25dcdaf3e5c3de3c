//go:build linux && cgo

package shim

// The shim itself is shim.c: an ELF constructor that takes over before
// the Go runtime starts. This file gives Go its protocol.

import "C"

import "fmt"

const (
	// Arg is the first argument that makes a binary importing this
	// package run as the job shim.
	Arg = "job-shim"
	// StatusFD is the descriptor the shim reports the command's wait
	// status on ("exit N" or "signal N").
	StatusFD = 3
	// TasksFlag, before the command, makes the shim start it once per
	// task: "--tasks=N:FIRST" starts N copies, copy i with LOCAL_RANK=i
	// and RANK=FIRST+i (and Slurm's SLURM_LOCALID and SLURM_PROCID). The
	// first copy to fail (exit non-zero, or killed by a signal) ends the
	// others with SIGTERM, and its status is the shim's.
	TasksFlag = "--tasks="
)

// TasksArg returns the argument that makes the shim start n tasks, the
// first of rank first.
func TasksArg(n, first int) string { return fmt.Sprintf("%s%d:%d", TasksFlag, n, first) }
