package discover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/gantry-hpc/gantry/gpu"
)

// Options tunes Discover. The zero value reads the real host, reserves no
// memory and reports no GPUs.
type Options struct {
	// SysRoot is the directory below which sys/ and proc/ are read. Empty
	// means "/". gopsutil is used only when it is "/".
	SysRoot string

	// CPUs, if non-nil, is the explicit allocatable CPU set, for an operator
	// who gives Gantry only part of a node or for tests that run several
	// node daemons on one machine. It must be a non-empty subset of the
	// online CPUs in the daemon's own cpuset.
	CPUs []int

	// MemoryBytes, if non-zero, is the explicit allocatable memory. It
	// replaces the computed figure and ReserveMemoryBytes is not taken from
	// it; it may not exceed the total memory or the daemon's cgroup limit.
	MemoryBytes uint64

	// ReserveMemoryBytes is kept back from jobs for the daemon and the
	// system when MemoryBytes is zero. The library default is 0; the daemon
	// picks its own.
	ReserveMemoryBytes uint64

	// Hostname, if set, replaces the detected host name (several node
	// daemons on one machine need distinct names).
	Hostname string

	// GPU lists the accelerators. Nil means none.
	GPU gpu.Backend

	// RequireGPUs makes a backend without a driver, or with zero devices, an
	// error instead of a node with zero GPUs; see gpu.Inventory.
	RequireGPUs bool
}

// Topology is what Discover found. Slices are sorted by id and never nil.
type Topology struct {
	// Hostname is Options.Hostname, else the kernel's host name (empty when
	// a fixture tree does not provide proc/sys/kernel/hostname).
	Hostname string `json:"hostname"`

	// CPUModel is the first "model name" of /proc/cpuinfo, or "" where the
	// architecture does not print one.
	CPUModel string `json:"cpu_model,omitempty"`

	// CPUs are the online logical CPUs.
	CPUs []CPU `json:"cpus"`

	// Sockets are the physical packages holding online CPUs.
	Sockets []Socket `json:"sockets"`

	// NUMANodes are the online NUMA nodes (nodeN directories), including
	// memory-only ones. A kernel without NUMA support is reported as a
	// single node 0 holding every online CPU and all memory.
	NUMANodes []NUMANode `json:"numa_nodes"`

	// MemoryTotalBytes is MemTotal of /proc/meminfo: the machine's usable
	// RAM, not the daemon's share of it.
	MemoryTotalBytes uint64 `json:"memory_total_bytes"`

	// CgroupMemoryLimitBytes is the tightest memory limit on the daemon's
	// own cgroup or its ancestors; 0 means none was found.
	CgroupMemoryLimitBytes uint64 `json:"cgroup_memory_limit_bytes,omitempty"`

	// GPUs are the devices the gpu.Backend reported.
	GPUs []gpu.Device `json:"gpus"`

	// Allocatable is what the scheduler may place jobs on.
	Allocatable Allocatable `json:"allocatable"`

	// CgroupMissing are the cgroup controllers (of cpuset, cpu, memory,
	// pids) that jobs on this node do not get, their limits there not
	// enforced: the daemon's cgroup was not delegated them. Set by the
	// daemon (cgroups.Host.Missing), not by Discover.
	CgroupMissing []string `json:"cgroup_missing,omitempty"`
}

// CPU is one online logical CPU (a hardware thread).
type CPU struct {
	// ID is the kernel's logical CPU number (cpuN).
	ID int `json:"id"`
	// Socket is topology/physical_package_id; 0 when the kernel does not
	// expose topology.
	Socket int `json:"socket"`
	// Die is topology/die_id (0 where absent).
	Die int `json:"die"`
	// Core is topology/core_id. It is unique only within its socket (and
	// die), and on many Intel parts it is not contiguous; identify a core by
	// (Socket, Die, Core). Without topology it equals ID.
	Core int `json:"core"`
	// Siblings are the online hardware threads of this core, this CPU
	// included (topology/thread_siblings_list).
	Siblings []int `json:"siblings"`
	// NUMANode is the node whose cpulist holds this CPU, 0 without NUMA.
	NUMANode int `json:"numa_node"`
}

// Socket is one physical package.
type Socket struct {
	ID int `json:"id"`
	// CPUs are its online logical CPUs.
	CPUs []int `json:"cpus"`
	// Cores counts its distinct online cores.
	Cores int `json:"cores"`
}

// NUMANode is one NUMA node.
type NUMANode struct {
	ID int `json:"id"`
	// CPUs are its online logical CPUs (empty for a memory-only node).
	CPUs []int `json:"cpus"`
	// MemoryBytes is "Node N MemTotal" of nodeN/meminfo.
	MemoryBytes uint64 `json:"memory_bytes"`
	// Distances is nodeN/distance: the relative access cost to each node in
	// id order (10 is local), or nil when the kernel does not say.
	Distances []int `json:"distances,omitempty"`
}

// Allocatable is the share of the node that jobs may use.
type Allocatable struct {
	// CPUs are online CPUs in the daemon's cpuset (or Options.CPUs).
	CPUs []int `json:"cpus"`
	// MemoryBytes is min(total, cgroup limit) - reserve, or
	// Options.MemoryBytes.
	MemoryBytes uint64 `json:"memory_bytes"`
}

// Discover inspects the node described by opts; ctx bounds the gopsutil
// and GPU queries. It returns an error when a
// required file (the CPU list, /proc/meminfo) is missing or malformed, when
// an override does not fit the node, or when gpu.Inventory fails.
func Discover(ctx context.Context, opts Options) (*Topology, error) {
	root := opts.SysRoot
	if root == "" {
		root = "/"
	}
	root = filepath.Clean(root)
	realRoot := root == "/"
	if st, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("discover root %s: %w", root, err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("discover root %s: not a directory", root)
	}
	r := reader{fsys: os.DirFS(root), root: root}

	t := &Topology{}
	var err error
	if t.CPUs, err = r.cpus(); err != nil {
		return nil, err
	}
	online := make([]int, len(t.CPUs))
	for i, c := range t.CPUs {
		online[i] = c.ID
	}

	if t.MemoryTotalBytes, err = memTotal(ctx, r, realRoot); err != nil {
		return nil, err
	}
	if t.NUMANodes, err = r.numaNodes(online, t.MemoryTotalBytes); err != nil {
		return nil, err
	}
	nodeOf := map[int]int{}
	for _, n := range t.NUMANodes {
		for _, c := range n.CPUs {
			nodeOf[c] = n.ID
		}
	}
	for i := range t.CPUs {
		t.CPUs[i].NUMANode = nodeOf[t.CPUs[i].ID]
	}
	t.Sockets = sockets(t.CPUs)

	t.CPUModel = cpuModel(ctx, r, realRoot)
	if t.Hostname = opts.Hostname; t.Hostname == "" {
		t.Hostname = hostname(r, realRoot)
	}

	if t.CgroupMemoryLimitBytes, err = r.cgroupMemoryLimit(); err != nil {
		return nil, err
	}
	if t.Allocatable, err = allocatable(r, opts, online, t.MemoryTotalBytes, t.CgroupMemoryLimitBytes); err != nil {
		return nil, err
	}

	t.GPUs = []gpu.Device{}
	if opts.GPU != nil || opts.RequireGPUs {
		b := opts.GPU
		if b == nil {
			b = gpu.Null{Reason: "no gpu backend configured"}
		}
		devs, err := gpu.Inventory(ctx, b, opts.RequireGPUs)
		if err != nil {
			return nil, fmt.Errorf("discover gpus: %w", err)
		}
		if devs != nil {
			t.GPUs = devs
		}
	}
	return t, nil
}

// allocatable computes the schedulable share from the daemon's cpuset and
// memory limit and applies the overrides in opts.
func allocatable(r reader, opts Options, online []int, total, cgLimit uint64) (Allocatable, error) {
	var a Allocatable

	allowed := online
	status, err := r.readFile("proc/self/status")
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No per-process status (an incomplete fixture): every online CPU.
	case err != nil:
		return a, err
	default:
		list, ok := statusField(status, "Cpus_allowed_list")
		if ok {
			cpus, err := cpuset.Parse(list)
			if err != nil {
				return a, fmt.Errorf("read %s: %w", r.path("proc/self/status"), err)
			}
			allowed = cpuset.Intersect(online, cpus)
		}
	}
	if len(allowed) == 0 {
		return a, fmt.Errorf("discover cpus: no online cpu in this process's cpuset (online %s)", cpuset.Format(online))
	}

	a.CPUs = allowed
	if opts.CPUs != nil {
		want := slices.Clone(opts.CPUs)
		slices.Sort(want)
		want = slices.Compact(want)
		if len(want) == 0 {
			return a, fmt.Errorf("discover cpus: override is empty")
		}
		if bad := cpuset.Difference(want, allowed); len(bad) > 0 {
			return a, fmt.Errorf("discover cpus: override %s: cpus %s are offline or outside this process's cpuset %s",
				cpuset.Format(want), cpuset.Format(bad), cpuset.Format(allowed))
		}
		a.CPUs = want
	}

	avail := total
	if cgLimit > 0 && cgLimit < avail {
		avail = cgLimit
	}
	switch {
	case opts.MemoryBytes > avail:
		return a, fmt.Errorf("discover memory: override %d bytes exceeds the %d bytes available (total %d, cgroup limit %d)",
			opts.MemoryBytes, avail, total, cgLimit)
	case opts.MemoryBytes > 0:
		a.MemoryBytes = opts.MemoryBytes
	case opts.ReserveMemoryBytes >= avail:
		return a, fmt.Errorf("discover memory: reserve %d bytes leaves nothing of the %d bytes available",
			opts.ReserveMemoryBytes, avail)
	default:
		a.MemoryBytes = avail - opts.ReserveMemoryBytes
	}
	return a, nil
}

// sockets groups CPUs by physical package.
func sockets(cpus []CPU) []Socket {
	byID := map[int]*Socket{}
	cores := map[[3]int]bool{}
	var ids []int
	for _, c := range cpus {
		s, ok := byID[c.Socket]
		if !ok {
			s = &Socket{ID: c.Socket, CPUs: []int{}}
			byID[c.Socket] = s
			ids = append(ids, c.Socket)
		}
		s.CPUs = append(s.CPUs, c.ID)
		if key := [3]int{c.Socket, c.Die, c.Core}; !cores[key] {
			cores[key] = true
			s.Cores++
		}
	}
	slices.Sort(ids)
	out := make([]Socket, 0, len(ids))
	for _, id := range ids {
		out = append(out, *byID[id])
	}
	return out
}

// statusField returns the value of "Key:\tvalue" in a /proc status file.
func statusField(text, key string) (string, bool) {
	for line := range strings.Lines(text) {
		k, v, ok := strings.Cut(line, ":")
		if ok && k == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}
