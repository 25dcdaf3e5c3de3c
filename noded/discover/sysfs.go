package discover

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/mem"
)

const (
	cpuDir  = "sys/devices/system/cpu"
	nodeDir = "sys/devices/system/node"

	// gopsutilTimeout bounds the calls into gopsutil, which read /proc and
	// /sys and could hang on a wedged filesystem.
	gopsutilTimeout = 10 * time.Second
)

// reader reads files below a root. Paths are slash-separated and relative
// to the root; errors carry the full host path.
type reader struct {
	fsys fs.FS
	root string
}

// path returns the host path of rel, for messages.
func (r reader) path(rel string) string { return filepath.Join(r.root, filepath.FromSlash(rel)) }

// readFile returns the content of rel. A missing file yields an error
// matching fs.ErrNotExist.
func (r reader) readFile(rel string) (string, error) {
	b, err := fs.ReadFile(r.fsys, rel)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", r.path(rel), unwrapPathError(err))
	}
	return string(b), nil
}

// unwrapPathError drops fs.PathError's relative path, since callers name
// the full path themselves.
func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readInt reads a file holding one decimal integer.
func (r reader) readInt(rel string) (int, error) {
	s, err := r.readFile(rel)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("read %s: value %q is not an integer", r.path(rel), strings.TrimSpace(s))
	}
	return n, nil
}

// readCPUList reads a file in the kernel's CPU list format.
func (r reader) readCPUList(rel string) ([]int, error) {
	s, err := r.readFile(rel)
	if err != nil {
		return nil, err
	}
	cpus, err := cpuset.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.path(rel), err)
	}
	return cpus, nil
}

// onlineCPUs reads cpu/online, or, where it is missing, lists the cpuN
// directories whose online file (absent for a CPU that cannot be
// hot-unplugged) does not say 0.
func (r reader) onlineCPUs() ([]int, error) {
	cpus, err := r.readCPUList(cpuDir + "/online")
	if !errors.Is(err, fs.ErrNotExist) {
		return cpus, err
	}
	entries, derr := fs.ReadDir(r.fsys, cpuDir)
	if derr != nil {
		return nil, fmt.Errorf("discover cpus: %w", err)
	}
	cpus = []int{}
	for _, e := range entries {
		id, ok := numberedDir(e.Name(), "cpu")
		if !ok {
			continue
		}
		if on, err := r.readInt(path.Join(cpuDir, e.Name(), "online")); err == nil && on == 0 {
			continue
		}
		cpus = append(cpus, id)
	}
	slices.Sort(cpus)
	if len(cpus) == 0 {
		return nil, fmt.Errorf("discover cpus: no cpuN directories under %s", r.path(cpuDir))
	}
	return cpus, nil
}

// cpus reads the topology of each online CPU. A CPU without a topology
// directory is its own core on socket 0.
func (r reader) cpus() ([]CPU, error) {
	online, err := r.onlineCPUs()
	if err != nil {
		return nil, err
	}
	out := make([]CPU, 0, len(online))
	for _, id := range online {
		c := CPU{ID: id, Core: id, Siblings: []int{id}}
		dir := fmt.Sprintf("%s/cpu%d/topology", cpuDir, id)
		for _, f := range []struct {
			name string
			dst  *int
		}{{"physical_package_id", &c.Socket}, {"die_id", &c.Die}, {"core_id", &c.Core}} {
			n, err := r.readInt(dir + "/" + f.name)
			switch {
			case errors.Is(err, fs.ErrNotExist):
			case err != nil:
				return nil, err
			case n >= 0:
				// -1 is what some kernels print when firmware gives no id.
				*f.dst = n
			}
		}
		sib, err := r.readCPUList(dir + "/thread_siblings_list")
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, err
		default:
			if s := cpuset.Intersect(sib, online); len(s) > 0 {
				c.Siblings = s
			}
		}
		out = append(out, c)
	}
	return out, nil
}

// numaNodes reads nodeN/{cpulist,meminfo,distance}. Without a node
// directory (CONFIG_NUMA=n) it reports one node with everything.
func (r reader) numaNodes(online []int, total uint64) ([]NUMANode, error) {
	entries, err := fs.ReadDir(r.fsys, nodeDir)
	if errors.Is(err, fs.ErrNotExist) {
		return []NUMANode{{ID: 0, CPUs: slices.Clone(online), MemoryBytes: total}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", r.path(nodeDir), unwrapPathError(err))
	}
	var nodes []NUMANode
	for _, e := range entries {
		id, ok := numberedDir(e.Name(), "node")
		if !ok {
			continue
		}
		dir := path.Join(nodeDir, e.Name())
		n := NUMANode{ID: id}
		cpus, err := r.readCPUList(dir + "/cpulist")
		if err != nil {
			return nil, err
		}
		n.CPUs = cpuset.Intersect(cpus, online)

		meminfo, err := r.readFile(dir + "/meminfo")
		if err != nil {
			return nil, err
		}
		// Lines read "Node 0 MemTotal:       131923456 kB".
		prefix := fmt.Sprintf("Node %d ", id)
		for line := range strings.Lines(meminfo) {
			if rest, ok := strings.CutPrefix(line, prefix); ok && strings.HasPrefix(rest, "MemTotal:") {
				if n.MemoryBytes, err = parseMeminfoValue(rest); err != nil {
					return nil, fmt.Errorf("read %s: %w", r.path(dir+"/meminfo"), err)
				}
				break
			}
		}

		if d, err := r.readFile(dir + "/distance"); err == nil {
			for f := range strings.FieldsSeq(d) {
				v, err := strconv.Atoi(f)
				if err != nil {
					return nil, fmt.Errorf("read %s: distance %q is not an integer", r.path(dir+"/distance"), f)
				}
				n.Distances = append(n.Distances, v)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return []NUMANode{{ID: 0, CPUs: slices.Clone(online), MemoryBytes: total}}, nil
	}
	slices.SortFunc(nodes, func(a, b NUMANode) int { return a.ID - b.ID })
	return nodes, nil
}

// numberedDir reports whether name is prefix followed by a decimal id
// ("cpu12", "node1"; not "cpufreq" or "cpuidle").
func numberedDir(name, prefix string) (int, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return 0, false
	}
	id, err := cpuset.ParseID(rest)
	return id, err == nil
}

// parseMeminfoValue parses "MemTotal:   24684096 kB" into bytes.
func parseMeminfoValue(line string) (uint64, error) {
	_, v, _ := strings.Cut(line, ":")
	f := strings.Fields(v)
	if len(f) == 0 {
		return 0, fmt.Errorf("meminfo line %q has no value", strings.TrimSpace(line))
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("meminfo line %q: value %q is not a number", strings.TrimSpace(line), f[0])
	}
	if len(f) > 1 {
		if f[1] != "kB" {
			return 0, fmt.Errorf("meminfo line %q: unknown unit %q", strings.TrimSpace(line), f[1])
		}
		n *= 1024
	}
	return n, nil
}

// procMemTotal reads MemTotal from proc/meminfo below the root.
func (r reader) procMemTotal() (uint64, error) {
	s, err := r.readFile("proc/meminfo")
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(s) {
		if strings.HasPrefix(line, "MemTotal:") {
			n, err := parseMeminfoValue(line)
			if err != nil {
				return 0, fmt.Errorf("read %s: %w", r.path("proc/meminfo"), err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("read %s: no MemTotal line", r.path("proc/meminfo"))
}

// memTotal is the machine's RAM: gopsutil on the real root (falling back
// to our parser if it fails), proc/meminfo below any other root.
func memTotal(ctx context.Context, r reader, realRoot bool) (uint64, error) {
	if realRoot {
		ctx, cancel := context.WithTimeout(ctx, gopsutilTimeout)
		defer cancel()
		if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil && vm.Total > 0 {
			return vm.Total, nil
		}
	}
	return r.procMemTotal()
}

// cpuModel is the CPU's marketing name, or "" if unknown. It never fails:
// the name is informational.
func cpuModel(ctx context.Context, r reader, realRoot bool) string {
	if realRoot {
		ctx, cancel := context.WithTimeout(ctx, gopsutilTimeout)
		defer cancel()
		if infos, err := cpu.InfoWithContext(ctx); err == nil && len(infos) > 0 && infos[0].ModelName != "" {
			return infos[0].ModelName
		}
	}
	s, err := r.readFile("proc/cpuinfo")
	if err != nil {
		return ""
	}
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// hostname is the kernel's node name: os.Hostname on the real root,
// proc/sys/kernel/hostname below any other root, "" if neither is known.
func hostname(r reader, realRoot bool) string {
	if realRoot {
		if h, err := os.Hostname(); err == nil {
			return h
		}
	}
	s, err := r.readFile("proc/sys/kernel/hostname")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(s)
}
