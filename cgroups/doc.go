// Package cgroups confines one batch job in one cgroup, created below the
// node daemon's own cgroup and nowhere else.
//
// # Who calls what
//
// The node daemon calls [Detect] once at startup and then [Host.Prepare]
// (on cgroup v2 this moves the daemon into a leaf, see below). Each job
// supervisor (a child of the daemon, so it inherits the daemon's cgroups)
// calls [Detect] again, then [Host.Create] for its job, hands
// [Job.Cgroup] to libcontainer, reads [Job.Usage] when the job has ended,
// and finally [Job.Remove]s the cgroup. After a crash the daemon calls
// [Host.RemoveStale] with the set of job IDs it still knows about.
//
// # Where job cgroups live
//
// Paths are computed here, per cgroup version, and never left to the
// relative-Path rules of the opencontainers managers (which differ: on v1
// a relative path is joined to the caller's cgroup, on v2 to its parent).
//
//   - cgroup v1 and hybrid: for every hierarchy the process is in, the job
//     cgroup is <own cgroup in that hierarchy>/gantry/<jobID>. Own cgroups
//     may differ per controller (on the development host memory is below
//     /process_api/<id>, every other controller at /). In hybrid mode the
//     cgroup2 tree at <root>/unified gets the same treatment (key "").
//     The intermediate "gantry" directories are shared by all jobs and are
//     left in place (removing them would race with a job being created).
//   - cgroup v2: the "no internal processes" rule forbids a cgroup with
//     controllers enabled for its children from holding processes itself.
//     So the daemon's own cgroup O is split: [Host.Prepare] moves every
//     process of O into the leaf O/daemon, enables the controllers in
//     O/cgroup.subtree_control, and creates O/jobs with the same
//     controllers enabled; job cgroups are O/jobs/<jobID>. Supervisors are
//     started by the daemon after Prepare, so they live in O/daemon; that is
//     why a process whose own cgroup is named "daemon" takes the parent as
//     O. If O is the root cgroup (a VM or a cgroup namespace), nothing is
//     moved: the root is exempt from the rule.
//
// Jobs therefore live below the daemon's cgroup: a service manager that
// kills the daemon's whole cgroup on stop (systemd's default
// KillMode=control-group) kills the jobs too. The daemon's unit must use
// KillMode=process so that jobs outlive a daemon restart.
//
// # What comes from opencontainers/cgroups and what is ours
//
// Creating a cgroup and writing its limits is done by the opencontainers
// managers ([manager.NewWithPaths] with explicit paths), which know the
// per-controller quirks (cpuset parents, memsw ordering, device rules). File
// I/O goes through [cgroups.ReadFile]/[cgroups.WriteFile] (openat2 with
// cgroupfs checks), value parsing through fscommon, removal through
// [cgroups.RemovePath]. Written here, because the library does not offer
// it: the path layout above (the library only knows "relative to my own
// cgroup" with version-dependent meaning), the v2 daemon/jobs split, the
// usage summary (peak memory, CPU time, OOM kills) that the library spreads
// over a large Stats struct with version-dependent gaps (it has no
// memory.peak), killing every task of a cgroup (the library's equivalent is
// private to runc), and the stale-cgroup sweep.
//
// Every function returns errors of the form "op target: cause" naming the
// path or value at fault.
package cgroups
