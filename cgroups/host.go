package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	occgroups "github.com/opencontainers/cgroups"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where the cgroup filesystems are mounted.
const DefaultRoot = "/sys/fs/cgroup"

// Names of the directories this package creates.
const (
	// JobsDirV1 is the directory, below the own cgroup of each v1
	// hierarchy, that holds the job cgroups.
	JobsDirV1 = "gantry"
	// JobsDirV2 is the directory, below the daemon's base cgroup O, that
	// holds the job cgroups on cgroup v2.
	JobsDirV2 = "jobs"
	// DaemonLeafV2 is the leaf, below O, that holds the daemon and its
	// supervisors on cgroup v2.
	DaemonLeafV2 = "daemon"
)

// Mode is the cgroup layout of the host.
type Mode int

const (
	// Unsupported: no usable cgroup filesystem.
	Unsupported Mode = iota
	// Legacy: cgroup v1 hierarchies only.
	Legacy
	// Hybrid: cgroup v1 hierarchies plus a cgroup2 tree at <root>/unified.
	Hybrid
	// Unified: cgroup v2 only, mounted at the root.
	Unified
)

func (m Mode) String() string {
	switch m {
	case Legacy:
		return "v1"
	case Hybrid:
		return "hybrid"
	case Unified:
		return "v2"
	}
	return "unsupported"
}

// v1Names are the v1 hierarchies (and, in hybrid mode, the "" cgroup2 tree)
// that job cgroups are created in. It is the set libcontainer's v1 manager
// knows, so our path map and libcontainer's have the same keys.
var v1Names = []string{
	"cpuset", "devices", "memory", "cpu", "cpuacct", "pids", "blkio",
	"hugetlb", "net_cls", "net_prio", "perf_event", "freezer", "rdma",
	"name=systemd", "misc",
}

var jobIDRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// ValidJobID reports whether id can name a job cgroup: [A-Za-z0-9_.-]+,
// and not "." or "..".
func ValidJobID(id string) error {
	if !jobIDRe.MatchString(id) || id == "." || id == ".." {
		return fmt.Errorf("job id %q: must match [A-Za-z0-9_.-]+ and not be \".\" or \"..\"", id)
	}
	return nil
}

// Mount describes one mounted v1 hierarchy, as in /proc/self/mountinfo.
type Mount struct {
	// Dir is the mount point, e.g. /sys/fs/cgroup/cpu,cpuacct.
	Dir string
	// Root is the cgroup the mount shows at Dir ("/" unless the mount was
	// made inside a container without a cgroup namespace).
	Root string
	// Controllers are the hierarchy's controllers, "name=systemd" style
	// for named hierarchies.
	Controllers []string
}

// Options describe a host explicitly; [Detect] fills them from the running
// system, tests build them over a fake tree.
type Options struct {
	// Root is where cgroup filesystems are mounted; "" means DefaultRoot.
	Root string
	// Mode is the host's layout; it must not be Unsupported.
	Mode Mode
	// ProcSelfCgroup is the content of /proc/self/cgroup of the process
	// whose cgroups are "own".
	ProcSelfCgroup []byte
	// Mounts are the v1 mounts. When nil, hierarchy directories are found
	// by name below Root (<Root>/cpu,cpuacct, <Root>/cpu, <Root>/systemd
	// for name=systemd), symlinks resolved.
	Mounts []Mount
}

// hierarchy is one v1 hierarchy (or the hybrid cgroup2 tree) and our own
// cgroup in it.
type hierarchy struct {
	mount string // absolute mount directory
	own   string // own cgroup, relative to the mount ("/" or "/a/b")
}

// Host is the cgroup view of the calling process: the layout and its own
// cgroups, from which job cgroup paths are derived. It is immutable except
// through [Host.Prepare].
type Host struct {
	mode Mode
	root string
	hier map[string]hierarchy // v1 and hybrid
	own2 string               // v2: own cgroup path, e.g. /gantry.service/daemon
}

// DetectMode tells the layout of the cgroup filesystems mounted at root.
func DetectMode(root string) (Mode, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(root, &st); err != nil {
		return Unsupported, fmt.Errorf("statfs %s: %w", root, err)
	}
	switch st.Type {
	case unix.CGROUP2_SUPER_MAGIC:
		return Unified, nil
	case unix.TMPFS_MAGIC:
		var ust unix.Statfs_t
		if err := unix.Statfs(filepath.Join(root, "unified"), &ust); err == nil && ust.Type == unix.CGROUP2_SUPER_MAGIC {
			return Hybrid, nil
		}
		return Legacy, nil
	}
	return Unsupported, fmt.Errorf("detect cgroup mode %s: not a cgroup2 or tmpfs mount (fs magic %#x)", root, st.Type)
}

// Detect describes the running system from /sys/fs/cgroup,
// /proc/self/cgroup and /proc/self/mountinfo.
func Detect() (*Host, error) {
	mode, err := DetectMode(DefaultRoot)
	if err != nil {
		return nil, err
	}
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("read own cgroup: %w", err)
	}
	o := Options{Root: DefaultRoot, Mode: mode, ProcSelfCgroup: self}
	if mode != Unified {
		ms, err := occgroups.GetCgroupMounts(false)
		if err != nil {
			return nil, fmt.Errorf("read cgroup mounts: %w", err)
		}
		for _, m := range ms {
			o.Mounts = append(o.Mounts, Mount{Dir: m.Mountpoint, Root: m.Root, Controllers: m.Subsystems})
		}
	}
	return New(o)
}

// New describes a host from explicit options (see [Options]).
func New(o Options) (*Host, error) {
	h := &Host{mode: o.Mode, root: o.Root}
	if h.root == "" {
		h.root = DefaultRoot
	}
	lines, err := parseProcCgroup(o.ProcSelfCgroup)
	if err != nil {
		return nil, err
	}
	switch o.Mode {
	case Unified:
		for _, l := range lines {
			if l.id == "0" && len(l.ctrls) == 0 {
				h.own2 = l.path
			}
		}
		if h.own2 == "" {
			return nil, errors.New("parse own cgroup: no 0:: line for cgroup v2")
		}
		return h, nil
	case Legacy, Hybrid:
	default:
		return nil, fmt.Errorf("new host: unsupported cgroup mode %v", o.Mode)
	}

	h.hier = make(map[string]hierarchy)
	for _, l := range lines {
		if l.id == "0" && len(l.ctrls) == 0 {
			if o.Mode == Hybrid {
				dir := filepath.Join(h.root, "unified")
				if st, err := os.Stat(dir); err == nil && st.IsDir() {
					h.hier[""] = hierarchy{mount: dir, own: l.path}
				}
			}
			continue
		}
		for _, c := range l.ctrls {
			if !slices.Contains(v1Names, c) {
				continue
			}
			mnt, mroot, ok := findMount(h.root, o.Mounts, l.ctrls, c)
			if !ok {
				continue // not mounted: libcontainer skips it too
			}
			rel, err := filepath.Rel(mroot, l.path)
			if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
				return nil, fmt.Errorf("own %s cgroup %s: outside the mount's root %s", c, l.path, mroot)
			}
			h.hier[c] = hierarchy{mount: mnt, own: filepath.Clean("/" + rel)}
		}
	}
	if len(h.hier) == 0 {
		return nil, errors.New("new host: no mounted cgroup v1 hierarchy found for this process")
	}
	return h, nil
}

type procCgroupLine struct {
	id    string
	ctrls []string
	path  string
}

func parseProcCgroup(b []byte) ([]procCgroupLine, error) {
	var out []procCgroupLine
	s := bufio.NewScanner(bytes.NewReader(b))
	for s.Scan() {
		t := strings.TrimSpace(s.Text())
		if t == "" {
			continue
		}
		parts := strings.SplitN(t, ":", 3)
		if len(parts) != 3 || !strings.HasPrefix(parts[2], "/") {
			return nil, fmt.Errorf("parse own cgroup line %q: want id:controllers:/path", t)
		}
		l := procCgroupLine{id: parts[0], path: filepath.Clean(parts[2])}
		if parts[1] != "" {
			l.ctrls = strings.Split(parts[1], ",")
		}
		out = append(out, l)
	}
	return out, s.Err()
}

// findMount returns the mount directory and mount root of controller c,
// which is co-mounted with all of ctrls.
func findMount(root string, mounts []Mount, ctrls []string, c string) (dir, mroot string, ok bool) {
	if mounts != nil {
		for _, m := range mounts {
			if slices.Contains(m.Controllers, c) {
				r := m.Root
				if r == "" {
					r = "/"
				}
				return m.Dir, r, true
			}
		}
		return "", "", false
	}
	for _, name := range []string{strings.Join(ctrls, ","), c, strings.TrimPrefix(c, "name=")} {
		p := filepath.Join(root, name)
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				p = r
			}
			return p, "/", true
		}
	}
	return "", "", false
}

// Mode returns the host's cgroup layout.
func (h *Host) Mode() Mode { return h.mode }

// Root returns where the cgroup filesystems are mounted.
func (h *Host) Root() string { return h.root }

// OwnPaths returns the absolute directories of the caller's own cgroups:
// per v1 hierarchy (key "" for the hybrid cgroup2 tree), or one entry ""
// on v2.
func (h *Host) OwnPaths() map[string]string {
	out := make(map[string]string)
	if h.mode == Unified {
		out[""] = filepath.Join(h.root, h.own2)
		return out
	}
	for k, hi := range h.hier {
		out[k] = filepath.Join(hi.mount, hi.own)
	}
	return out
}

// BasePaths returns the cgroups every job cgroup lies below, keyed like
// [Host.OwnPaths]: the own cgroups on v1, the daemon's cgroup O on v2 (the
// parent of O/daemon, see the package comment).
func (h *Host) BasePaths() map[string]string {
	if h.mode == Unified {
		return map[string]string{"": filepath.Join(h.root, h.base2())}
	}
	return h.OwnPaths()
}

// base2 is O, the daemon's cgroup on v2 (see the package comment).
func (h *Host) base2() string {
	if filepath.Base(h.own2) == DaemonLeafV2 {
		return filepath.Dir(h.own2)
	}
	return h.own2
}

// JobsDirs returns the directories that hold job cgroups, keyed like
// [Host.JobPaths].
func (h *Host) JobsDirs() map[string]string {
	out := make(map[string]string)
	if h.mode == Unified {
		out[""] = filepath.Join(h.root, h.base2(), JobsDirV2)
		return out
	}
	for k, hi := range h.hier {
		out[k] = filepath.Join(hi.mount, hi.own, JobsDirV1)
	}
	return out
}

// JobPaths returns the absolute cgroup directories of job id: for v1 one
// per hierarchy, keyed by controller name ("" for the hybrid cgroup2 tree,
// "name=systemd" for named hierarchies), the form libcontainer and
// opencontainers' v1 manager use; for v2 a single entry with key "".
func (h *Host) JobPaths(id string) (map[string]string, error) {
	if err := ValidJobID(id); err != nil {
		return nil, err
	}
	out := h.JobsDirs()
	for k, d := range out {
		out[k] = filepath.Join(d, id)
	}
	return out, nil
}

// Prepare readies the host for job cgroups; the node daemon calls it once
// at startup, before it starts any supervisor. On v1 it does nothing. On v2
// it moves every process of the daemon's cgroup O into O/daemon, enables
// the cpuset, cpu, memory and pids controllers (those O offers) for O's
// children and for O/jobs's children, and creates O/jobs. It is idempotent.
// It must not run in a supervisor.
func (h *Host) Prepare() error {
	if h.mode != Unified {
		return nil
	}
	base := h.base2()
	baseDir := filepath.Join(h.root, base)
	if base != "/" && h.own2 == base {
		leaf := filepath.Join(baseDir, DaemonLeafV2)
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("create daemon cgroup %s: %w", leaf, err)
		}
		if err := moveAllProcs(baseDir, leaf); err != nil {
			return err
		}
		h.own2 = filepath.Join(base, DaemonLeafV2)
	}
	h.delegateDown(base)
	if err := enableControllers(baseDir); err != nil {
		return err
	}
	jobs := filepath.Join(baseDir, JobsDirV2)
	if err := os.Mkdir(jobs, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("create jobs cgroup %s: %w", jobs, err)
	}
	return enableControllers(jobs)
}

// delegateDown enables, from the root down to O's parent, those of
// v2Controllers that each level has but does not pass on to its
// children, so that O gets them: a daemon whose cgroup was delegated
// only some (a sandbox's, a unit without Delegate=yes) would otherwise
// run jobs without their limits. It is what runc does for a container's
// cgroup. Best effort: a level the kernel will not change (it holds
// processes, or is not ours to write) is left as it is, and Missing
// then tells what jobs lack.
func (h *Host) delegateDown(base string) {
	dir := h.root
	for _, part := range strings.Split(strings.Trim(base, "/"), "/") {
		if part == "" {
			break
		}
		_ = enableControllers(dir) // the level above part
		dir = filepath.Join(dir, part)
	}
}

// moveAllProcs moves every process of from into to, repeating while new
// ones appear (a fork racing with the move lands in from).
func moveAllProcs(from, to string) error {
	var last []int
	for range 10 {
		pids, err := occgroups.GetPids(from)
		if err != nil {
			return fmt.Errorf("read processes of %s: %w", from, err)
		}
		if len(pids) == 0 {
			return nil
		}
		if slices.Equal(pids, last) {
			break
		}
		last = pids
		for _, pid := range pids {
			if err := occgroups.WriteCgroupProc(to, pid); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("move pid %d from %s to %s: %w", pid, from, to, err)
			}
		}
	}
	return fmt.Errorf("move processes from %s to %s: %v still there", from, to, last)
}

// Missing returns the controllers of v2Controllers that job cgroups do
// not get, in that order: on v2 those not enabled in the jobs cgroup
// (after Prepare; a controller the daemon's cgroup was not delegated
// cannot be), on v1 and hybrid those not mounted. Jobs still run without
// them, but their limits in those controllers are not enforced.
func (h *Host) Missing() ([]string, error) {
	var have []string
	if h.mode == Unified {
		dir := h.JobsDirs()[""]
		s, err := occgroups.ReadFile(dir, "cgroup.subtree_control")
		if err != nil {
			return nil, fmt.Errorf("read controllers enabled in %s: %w", dir, err)
		}
		for _, c := range strings.Fields(s) {
			have = append(have, strings.TrimPrefix(c, "+"))
		}
	} else {
		for c := range h.hier {
			have = append(have, c)
		}
	}
	var missing []string
	for _, c := range v2Controllers {
		if !slices.Contains(have, c) {
			missing = append(missing, c)
		}
	}
	return missing, nil
}

// v2Controllers are the controllers job cgroups need on v2.
var v2Controllers = []string{"cpuset", "cpu", "memory", "pids"}

// enableControllers enables, for dir's children, those of v2Controllers
// that dir has.
func enableControllers(dir string) error {
	avail, err := occgroups.ReadFile(dir, "cgroup.controllers")
	if err != nil {
		return fmt.Errorf("read controllers of %s: %w", dir, err)
	}
	have := strings.Fields(avail)
	var add []string
	for _, c := range v2Controllers {
		if slices.Contains(have, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	if err := occgroups.WriteFile(dir, "cgroup.subtree_control", strings.Join(add, " ")); err != nil {
		return fmt.Errorf("enable controllers %v in %s: %w", add, dir, err)
	}
	return nil
}

// sortedKeys returns the keys of m in order, for deterministic loops.
func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
