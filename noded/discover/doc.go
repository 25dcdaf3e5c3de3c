// Package discover reports what a node has and what of it the node daemon
// may hand out to jobs.
//
// Discover reads the CPU and NUMA topology from sysfs
// (/sys/devices/system/{cpu,node}), the memory total from /proc/meminfo
// (through gopsutil on the real root), the daemon's own cpuset
// (Cpus_allowed_list in /proc/self/status) and its own cgroup memory limit
// (cgroup v1 memory.limit_in_bytes or v2 memory.max, found through
// /proc/self/cgroup and /proc/self/mountinfo), and the GPUs from a
// gpu.Backend.
//
// Contract:
//
//   - Every path is read below Options.SysRoot ("/" by default), so tests and
//     tools can point Discover at a copied tree such as
//     testdata/sysfs/<case>/. gopsutil is consulted only when SysRoot is the
//     real root, for what it does well (CPU model name, memory total).
//   - The Topology describes the whole machine (online CPUs, sockets, NUMA
//     nodes, total memory); Topology.Allocatable is the part the scheduler may
//     use: online CPUs in the daemon's cpuset, and memory bounded by the
//     daemon's cgroup limit, less Options.ReserveMemoryBytes. Operators can
//     narrow both with Options.CPUs and Options.MemoryBytes.
//   - Per-NUMA-node memory is what the kernel reports per node; it need not
//     add up to the total (virtual machines and memory-less nodes differ), and
//     nothing here assumes it does.
//   - Missing optional files (no NUMA support, no topology directory inside
//     some containers, no cgroup memory controller) degrade to defaults that
//     are documented on the fields; malformed files are errors naming the
//     file and the value.
//   - Discover has no side effects and may be called again to refresh.
//
// CPU lists are read with package cpuset.
package discover
