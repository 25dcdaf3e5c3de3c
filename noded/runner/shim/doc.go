// Package shim is the job shim: PID 1 of a job's container. It lives in
// its own package, which imports nothing but a few low-level standard
// packages, so that its init function runs, and the shim takes over, before
// the package initialisation of the rest of the binary (the gantry binary
// is large, and the shim is started for every job).
//
// A container's first process is PID 1 of its PID namespace, and the
// kernel drops every signal to PID 1 for which it has no handler: a plain
// `sleep` as PID 1 ignores SIGTERM, so a job could only ever be stopped
// with SIGKILL, and orphaned processes would stay zombies. So PID 1 is this
// shim (the gantry binary itself, bound read-only into the container), as
// tini is for Docker: it starts the job's command, forwards signals to it,
// reaps every orphan, reports the command's exact wait status on fd 3
// ("exit N" or "signal N"), and exits with the command's status.
package shim
