//go:build linux && cgo

package containerinit

import (
	"os"

	"github.com/opencontainers/runc/libcontainer"
	// nsenter's C constructor runs before the Go runtime in "init"
	// re-execs and joins the container's namespaces.
	_ "github.com/opencontainers/runc/libcontainer/nsenter"
)

// Arg is the first argument libcontainer re-executes /proc/self/exe with
// to become a container's init process.
const Arg = "init"

// init hands an "init" re-exec to libcontainer, which never returns.
// Nothing in main may run before this, so it lives in a package init.
func init() {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		libcontainer.Init()
	}
}
