// Package runner runs one batch job in a libcontainer container, under a
// supervisor process of its own, and reports how it ended.
//
// # Processes
//
//	node daemon ──Launcher.Start──▶ supervisor ("gantry job-supervisor DIR")
//	                                   │  own session, outlives the daemon
//	                                   └──▶ container: PID 1 is the job shim
//	                                        ("/run/gantry/shim job-shim CMD"),
//	                                        └──▶ the job's command
//	                                        all in the job cgroup
//
// The node daemon calls [Launcher.Start] with a job directory DIR and a
// [Spec]. Start writes DIR/spec.json and starts the supervisor detached
// (Setsid, stdio to DIR/supervisor.log), recording its pid and start time in
// DIR/supervisor.pid. The supervisor ([SupervisorMain]) opens the job's
// output files as the user, resolves the command, creates the job cgroup
// (package cgroups) and the container, runs the job, enforces the walltime,
// and on the end writes DIR/result.json ([Result]) atomically, the job's
// cgroup and container removed. A restarted daemon re-attaches with
// [Adopt]; [Handle.Wait] works for both, and turns a supervisor that died
// without a result into a Result ("supervisor died") after killing what
// the job left behind.
//
// Contracts:
//   - A job directory serves one run: Start refuses a DIR that holds a
//     spec.json ([ErrSpecExists]). DIR is root's (0700); the job never sees
//     it. result.json exists if and only if the job is over.
//   - The supervisor always writes result.json, also when the job could not
//     start: Result.Error then names the offending value, ExitCode is 127
//     for a command that cannot be found or executed by the user, 1 for
//     anything else.
//   - Kill requests and the walltime stop the job the same way: SIGTERM to
//     every process in its cgroup, SIGKILL after Spec.KillGrace (default
//     10s). PID 1 of the job's namespace is the job shim (this binary,
//     bound read-only at /run/gantry/shim), because the kernel drops
//     unhandled signals to a namespace's PID 1: the shim forwards signals
//     to the command, reaps orphans, and reports the command's exact wait
//     status to the supervisor over a pipe (fd 3).
//   - ParentDeathSignal is not set: neither the supervisor nor the job dies
//     with the daemon. Run the daemon with systemd KillMode=process.
//
// # The container ("host-root mode")
//
// The job sees the host's root filesystem read-only (every top-level
// directory a recursive read-only, nosuid, nodev bind into an empty
// staging rootfs DIR/rootfs; top-level symlinks recreated), fresh /proc,
// /dev (standard device nodes only, device cgroup default deny), /sys, a
// private tmpfs /tmp and /run (with the host's /run/systemd/resolve,
// /run/munge and /run/nscd bound read-only when they exist, for DNS and
// authentication), and its submit directory Spec.Cwd bound writable at the
// same path. It runs as Spec.UID/GID/Groups with no capabilities and
// no_new_privs, in new mount, PID, IPC and cgroup namespaces; it shares the
// host's network and hostname (MPI needs them). Its environment is
// Spec.Env, except that libcontainer adds HOME (from /etc/passwd) when
// Spec.Env has none. Argv[0] without a slash is resolved against the
// job's PATH (default /usr/local/bin:/usr/bin:/bin) as the user, and the
// job's argv[0] becomes the absolute path found.
//
// # Re-exec
//
// libcontainer starts a container's init by re-executing /proc/self/exe
// with the argument "init", and the job shim is this binary run as
// "job-shim CMD..."; this package's init function handles both, so any
// binary importing it (gantry, test binaries) works. The gantry binary
// must also route "job-supervisor DIR" to [SupervisorMain] early in main.
// Every container start clones the binary (sealed overlayfs when
// available, else a memfd copy), so keep the binary lean.
//
// The package needs Linux, cgo (libcontainer's nsenter), and root.
package runner
