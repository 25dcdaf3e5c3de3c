//go:build linux && cgo

package runner

import (
	"os"

	// Device rules (v1 devices.allow, v2 eBPF) need this import; without
	// it the cgroup manager refuses configs that list devices.
	_ "github.com/opencontainers/cgroups/devices"

	"github.com/gantry-hpc/gantry/noded/runner/containerinit"
)

// InitArg is the first argument libcontainer re-executes /proc/self/exe
// with to become a container's init process.
const InitArg = containerinit.Arg

// SupervisorArg is the first argument that makes a binary importing this
// package run as a job supervisor ("<exe> job-supervisor DIR", see
// [SupervisorMain]); it is what [Launcher.Args] holds in production.
const SupervisorArg = "job-supervisor"

// Every binary that imports this package (the gantry binary, test
// binaries) takes on three roles when re-executed with their first
// argument, each in a package init function, so that as little of the
// binary as possible is initialised first (every job start pays for each
// of these execs):
//
//   - "init" (libcontainer's re-exec, becoming a container's init):
//     package containerinit, right after libcontainer is initialised;
//   - "job-shim" (the job's PID 1): package shim, which needs only the
//     runtime and package os;
//   - "job-supervisor": here, before the packages that import this one
//     (the command line, and whatever sorts after it) are initialised.
func init() {
	if len(os.Args) > 1 && os.Args[1] == SupervisorArg {
		os.Exit(SupervisorMain(os.Args[2:]))
	}
}
