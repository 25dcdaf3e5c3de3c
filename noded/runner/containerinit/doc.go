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
