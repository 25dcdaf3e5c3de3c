// Package integration runs Gantry end to end: it builds the gantry binary,
// starts a real server and node daemons on temporary directories, and
// drives them through the command line, as a user would. Jobs run in real
// containers with real cgroup limits, so most tests need root and cgroups;
// they skip, saying why, where those are missing.
package integration
