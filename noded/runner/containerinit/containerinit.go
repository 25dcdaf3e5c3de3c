//go:build linux && cgo

// Package containerinit makes every binary that imports it a target of
// libcontainer's re-exec: started as "<exe> init", it becomes a
// container's init process (it joins the container's namespaces in
// nsenter's C constructor, before the Go runtime, sets the container up in
// libcontainer.Init and execs the job's PID 1, or exits 255 on a setup
// failure).
//
// It is a package of its own, importing libcontainer and nothing else of
// the binary, so that its init function runs, and the re-exec takes over,
// as soon as libcontainer itself is initialised: the rest of the binary's
// package initialisation (HTTP, registry and metrics libraries, the
// server) is skipped, which is time every job start would otherwise pay.
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
