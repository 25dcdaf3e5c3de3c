// Package shim is the job shim: PID 1 of a job's container. It is written
// in C and runs from an ELF constructor, before the Go runtime of the
// binary that imports this package starts: the shim is started for every
// job, and starting the Go runtime of the large gantry binary would cost
// several milliseconds each time (see docs/performance.md). Every binary
// importing the package becomes the shim when started as
// "<exe> job-shim [--tasks=N:FIRST] /abs/cmd args...".
//
// A container's first process is PID 1 of its PID namespace, and the
// kernel drops every signal to PID 1 for which it has no handler: a plain
// `sleep` as PID 1 ignores SIGTERM, so a job could only ever be stopped
// with SIGKILL, and orphaned processes would stay zombies. So PID 1 is this
// shim (the gantry binary itself, bound read-only into the container), as
// tini is for Docker: it starts the job's command, forwards signals to it,
// reaps every orphan, reports the command's exact wait status on fd 3
// ("exit N" or "signal N"), and exits with the command's status. With
// --tasks it starts the command once per task (a multi-node job's
// per-GPU processes) and the first failure ends the others; when its
// stdin is a terminal (an interactive job) the command becomes the
// terminal's foreground process group.
package shim
