// Package cpuset reads and writes the kernel's CPU list format
// ("0-3,8,10-11"), as found in sysfs, cpuset.cpus and /proc/PID/status.
// Discovery, the cgroup code, the daemons' flags and the CLI share it.
package cpuset
