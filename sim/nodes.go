package sim

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gantry-hpc/gantry/sched"
)

// NodeType is one kind of node of a heterogeneous node specification.
type NodeType struct {
	Name        string
	Count       int
	Cores       int
	MemoryBytes int64
	GPUs        int
	GPUModel    string
	// Link is how the GPUs are joined: "nvswitch" (all to all),
	// "nvlink" (in pairs) or "pcie" (none).
	Link   string
	Weight int
	// NUMA is the number of NUMA nodes (and sockets); GPUs are spread
	// evenly over them.
	NUMA int
	// PerSwitch is how many nodes share a switch (0: no labels).
	PerSwitch int
}

// gpuMemoryMiB is the memory of well-known GPU models.
var gpuMemoryMiB = map[string]int64{"H100": 81920, "H200": 143360, "A100": 40960, "A100-80G": 81920, "V100": 16384, "L40S": 46080, "B200": 184320}

// ParseNodes reads a node specification: comma-separated groups
// NAME:COUNTx(ATTR,...), where ATTR is
//
//	64c          cores per node
//	512G, 2T     memory per node (M, G or T)
//	8xH100       GPUs per node and their model, optionally /nvswitch
//	             (all to all, the default), /nvlink (pairs) or /pcie
//	w=N          cost weight (default 1 + 10 per GPU: CPU nodes first)
//	numa=N       NUMA nodes (default 2)
//	sw=N         nodes per switch (default: no topology labels)
//
// for example gpu:16x(64c,512G,8xH100/nvswitch),cpu:200x(128c,256G).
func ParseNodes(spec string) ([]NodeType, error) {
	var out []NodeType
	rest := strings.TrimSpace(spec)
	if rest == "" {
		return nil, fmt.Errorf("node spec: empty")
	}
	for rest != "" {
		colon := strings.IndexByte(rest, ':')
		open := strings.IndexByte(rest, '(')
		closeAt := strings.IndexByte(rest, ')')
		if colon <= 0 || open < colon || closeAt < open {
			return nil, fmt.Errorf("node spec %q: want NAME:COUNTx(ATTRS)", rest)
		}
		t := NodeType{Name: strings.TrimSpace(rest[:colon]), NUMA: 2, Link: "nvswitch", Weight: -1}
		count := strings.TrimSpace(rest[colon+1 : open])
		if !strings.HasSuffix(count, "x") {
			return nil, fmt.Errorf("node spec %q: want COUNTx before (", rest[:open])
		}
		n, err := strconv.Atoi(strings.TrimSuffix(count, "x"))
		if err != nil || n <= 0 || n > 1_000_000 {
			return nil, fmt.Errorf("node spec %q: bad count %q", t.Name, count)
		}
		t.Count = n
		for _, attr := range strings.Split(rest[open+1:closeAt], ",") {
			if err := t.attr(strings.TrimSpace(attr)); err != nil {
				return nil, fmt.Errorf("node spec %s: %w", t.Name, err)
			}
		}
		if t.Cores <= 0 {
			return nil, fmt.Errorf("node spec %s: no cores (e.g. 64c)", t.Name)
		}
		if t.Weight < 0 {
			t.Weight = 1 + 10*t.GPUs
		}
		t.NUMA = max(1, min(t.NUMA, t.Cores))
		out = append(out, t)
		rest = strings.TrimSpace(rest[closeAt+1:])
		if rest != "" {
			if rest[0] != ',' {
				return nil, fmt.Errorf("node spec: want , between groups at %q", rest)
			}
			rest = strings.TrimSpace(rest[1:])
			if rest == "" {
				return nil, fmt.Errorf("node spec: trailing ,")
			}
		}
	}
	return out, nil
}

func (t *NodeType) attr(a string) error {
	num := func(s string) (int64, error) {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 || v > 1<<40 {
			return 0, fmt.Errorf("bad number in %q", a)
		}
		return v, nil
	}
	switch {
	case a == "":
		return fmt.Errorf("empty attribute")
	case strings.HasPrefix(a, "w="), strings.HasPrefix(a, "numa="), strings.HasPrefix(a, "sw="):
		k, v, _ := strings.Cut(a, "=")
		n, err := num(v)
		if err != nil || n > 1<<20 {
			return fmt.Errorf("bad number in %q", a)
		}
		switch k {
		case "w":
			t.Weight = int(n)
		case "numa":
			t.NUMA = int(n)
		default:
			t.PerSwitch = int(n)
		}
	case strings.Contains(a, "x"):
		cnt, model, _ := strings.Cut(a, "x")
		n, err := num(cnt)
		if err != nil || n == 0 || n > 64 {
			return fmt.Errorf("bad GPU count in %q (1 to 64)", a)
		}
		model, link, _ := strings.Cut(model, "/")
		if model == "" {
			return fmt.Errorf("no GPU model in %q", a)
		}
		switch link {
		case "":
		case "nvswitch", "nvlink", "pcie":
			t.Link = link
		default:
			return fmt.Errorf("GPU link %q: want nvswitch, nvlink or pcie", link)
		}
		t.GPUs, t.GPUModel = int(n), model
	case strings.HasSuffix(a, "c"):
		n, err := num(strings.TrimSuffix(a, "c"))
		if err != nil || n == 0 || n > 1<<16 {
			return fmt.Errorf("bad core count in %q", a)
		}
		t.Cores = int(n)
	default:
		unit := a[len(a)-1]
		shift := map[byte]int{'M': 20, 'G': 30, 'T': 40}[unit]
		if shift == 0 {
			return fmt.Errorf("unknown attribute %q", a)
		}
		n, err := num(a[:len(a)-1])
		if err != nil || n > 1<<(62-shift) {
			return fmt.Errorf("bad memory in %q", a)
		}
		t.MemoryBytes = n << shift
	}
	return nil
}

// String writes the type back in the specification's syntax.
func (t NodeType) String() string {
	s := fmt.Sprintf("%s:%dx(%dc", t.Name, t.Count, t.Cores)
	if t.MemoryBytes > 0 {
		s += fmt.Sprintf(",%dM", t.MemoryBytes>>20)
	}
	if t.GPUs > 0 {
		s += fmt.Sprintf(",%dx%s/%s", t.GPUs, t.GPUModel, t.Link)
	}
	s += fmt.Sprintf(",w=%d,numa=%d", t.Weight, t.NUMA)
	if t.PerSwitch > 0 {
		s += fmt.Sprintf(",sw=%d", t.PerSwitch)
	}
	return s + ")"
}

// Build makes the engine's nodes: NAME-0001... with CPU ids, NUMA nodes,
// GPUs with their links, weights and switch labels. Nodes of one type
// share their read-only slices.
func Build(types []NodeType) []sched.Node {
	var nodes []sched.Node
	for _, t := range types {
		cpus := make([]int, t.Cores)
		for c := range cpus {
			cpus[c] = c
		}
		var numa []sched.NUMANode
		per := t.Cores / t.NUMA
		for k := range t.NUMA {
			hi := (k + 1) * per
			if k == t.NUMA-1 {
				hi = t.Cores
			}
			numa = append(numa, sched.NUMANode{ID: k, Socket: k, CPUs: cpus[k*per : hi]})
		}
		gpus := make([]sched.GPU, t.GPUs)
		for k := range gpus {
			gpus[k] = sched.GPU{Index: k, Model: t.GPUModel, MemoryMiB: gpuMemoryMiB[strings.ToUpper(t.GPUModel)], NUMANode: k * t.NUMA / t.GPUs}
			for p := range t.GPUs {
				switch {
				case p == k:
				case t.Link == "nvswitch":
					gpus[k].Links = append(gpus[k].Links, sched.GPULink{Peer: p, NVLinks: 18})
				case t.Link == "nvlink" && p/2 == k/2:
					gpus[k].Links = append(gpus[k].Links, sched.GPULink{Peer: p, NVLinks: 4})
				}
			}
		}
		width := len(strconv.Itoa(t.Count))
		for i := range t.Count {
			n := sched.Node{Name: fmt.Sprintf("%s-%0*d", t.Name, width, i), CPUs: cpus, NUMA: numa, MemoryBytes: t.MemoryBytes,
				GPUs: gpus, Weight: t.Weight}
			if t.PerSwitch > 0 {
				n.Switch = fmt.Sprintf("%s-sw%d", t.Name, i/t.PerSwitch)
			}
			nodes = append(nodes, n)
		}
	}
	return nodes
}

func (cfg Config) gpuPercent() int {
	if cfg.GPUPercent < 0 {
		return DefaultGPUPercent
	}
	return min(cfg.GPUPercent, 100)
}

// ProcsPerGPU is how many of an SWF job's processors one GPU stands for
// when the job is made a GPU job.
const ProcsPerGPU = 32

// Shape derives a job's request on a heterogeneous cluster from its SWF
// record, deterministically (the same job number always gives the same
// shape), and reports whether some nodes of the cluster can hold it:
//
//   - A job is a GPU job when the cluster has GPUs and
//     hash(job number) mod 100 < gpuPercent (a fixed 64-bit mix of the
//     number, so the choice does not follow the trace's order).
//   - A CPU job of p processors asks for p cores on one node if the
//     largest node has that many, else p one-core tasks packed C per
//     node (TasksPerNode = C, the cores of the type with the most cores
//     in all): a gang.
//   - A GPU job asks for G = ceil(p / ProcsPerGPU) GPUs with p/G cores
//     each (at most the GPU nodes' cores per GPU): one node when G fits
//     the largest GPU node, else a gang of ceil(G / N) nodes of N GPUs
//     (N the largest GPU node's count), one task per node.
//   - Memory is not asked for (SWF memory fields are mostly missing).
func Shape(number int64, procs int, types []NodeType, gpuPercent int) (sched.Job, bool) {
	maxCores, gpuNode, main := 0, NodeType{}, NodeType{}
	for _, t := range types {
		maxCores = max(maxCores, t.Cores)
		if total, best := t.Count*t.Cores, main.Count*main.Cores; total > best || total == best && t.Cores > main.Cores {
			main = t
		}
		if t.GPUs > gpuNode.GPUs || t.GPUs == gpuNode.GPUs && t.GPUs > 0 && t.Cores > gpuNode.Cores {
			gpuNode = t
		}
	}
	h := uint64(number) * 0x9e3779b97f4a7c15
	h ^= h >> 31
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 29
	var j sched.Job
	if gpuNode.GPUs > 0 && int(h%100) < gpuPercent {
		g := (procs + ProcsPerGPU - 1) / ProcsPerGPU
		perGPU := max(1, min(procs/g, gpuNode.Cores/gpuNode.GPUs))
		if g <= gpuNode.GPUs {
			j = sched.Job{Cores: sched.Count32(perGPU * g), GPUs: sched.Count32(g)}
		} else {
			k := (g + gpuNode.GPUs - 1) / gpuNode.GPUs
			j = sched.Job{Cores: sched.Count32(perGPU * gpuNode.GPUs), GPUs: sched.Count32(gpuNode.GPUs), Tasks: sched.Count32(k), Nodes: sched.Count32(k)}
		}
	} else if procs <= maxCores {
		j = sched.Job{Cores: sched.Count32(procs)}
	} else {
		j = sched.Job{Cores: 1, Tasks: sched.Count32(procs), TasksPerNode: sched.Count32(main.Cores)}
	}
	// Can enough nodes hold one member each?
	members, perNode, gpus := 1, int(j.Cores), int(j.GPUs)
	switch tasks, per := int(j.Tasks), int(j.TasksPerNode); {
	case j.Nodes > 0:
		members = int(j.Nodes)
	case per > 0:
		members, perNode = (tasks+per-1)/per, per
	}
	fit := 0
	for _, t := range types {
		if t.Cores >= perNode && t.GPUs >= gpus {
			fit += t.Count
		}
	}
	return j, fit >= members
}
