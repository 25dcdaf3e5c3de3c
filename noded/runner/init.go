//go:build linux && cgo

package runner

import (
	"os"

	// Device rules (v1 devices.allow, v2 eBPF) need this import; without
	// it the cgroup manager refuses configs that list devices.
	_ "github.com/opencontainers/cgroups/devices"
	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime in "init"
	// re-execs and joins the container's namespaces.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// InitArg is the first argument libcontainer re-executes /proc/self/exe
// with to become a container's init process.
const InitArg = "init"

// init makes every binary that imports this package (the gantry binary,
// test binaries) a libcontainer re-exec target: when started as
// "<exe> init", it becomes the container's init and never returns (it
// execs the job, or exits 255 on a setup failure). Nothing in main may run
// before this, so it lives in a package init.
//
// The same holds for the job shim (ShimArg), which runs inside the
// container as the job's PID 1.
func init() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case InitArg:
			libcontainer.Init()
		case ShimArg:
			os.Exit(shimMain(os.Args[2:]))
		}
	}
}
