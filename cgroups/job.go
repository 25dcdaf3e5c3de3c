package cgroups

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/cpuset"
	occgroups "github.com/opencontainers/cgroups"
	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/cgroups/fscommon"
	"github.com/opencontainers/cgroups/manager"
	"golang.org/x/sys/unix"
)

// CPUPeriod is the CFS period, in microseconds, of the CPU quota.
const CPUPeriod = 100000

// Limits are the resources one job may use.
type Limits struct {
	// CPUs are host CPU ids for the cpuset; the CPU quota is len(CPUs)
	// full cores. Empty means the parent's cpuset and no quota.
	CPUs []int
	// Mems are NUMA memory nodes for the cpuset; empty means the parent's.
	Mems []int
	// MemoryBytes limits memory, and memory+swap (v1 memsw where swap
	// accounting exists; v2 memory.swap.max=0), so a job cannot swap.
	// 0 means no limit.
	MemoryBytes int64
	// PidsLimit caps the number of tasks; 0 means no limit.
	PidsLimit int64
	// Devices are the device access rules (default deny). Nil leaves the
	// devices controller alone.
	Devices []*devconfig.Rule
}

// Usage is what a job consumed, read from its cgroup after it ended.
type Usage struct {
	// PeakMemoryBytes is the memory high-water mark: v1
	// memory.max_usage_in_bytes, v2 memory.peak (kernel 5.19+; 0 before).
	PeakMemoryBytes int64
	// CPUTime is user+system time: v1 cpuacct.usage, v2 cpu.stat usage_usec.
	CPUTime time.Duration
	// OOMKills counts tasks the OOM killer killed in the cgroup: v1
	// memory.oom_control oom_kill (kernel 4.13+), v2 memory.events oom_kill.
	OOMKills uint64
}

// Job is the cgroup of one job. Its methods are safe to call on a cgroup
// that was never created or is already gone, unless they say otherwise.
type Job struct {
	// ID is the job id, the last element of every path.
	ID    string
	host  *Host
	paths map[string]string
	res   *occgroups.Resources
}

// Job returns the cgroup of job id without touching the filesystem, e.g.
// to read or remove the cgroup of a job whose supervisor died.
func (h *Host) Job(id string) (*Job, error) {
	paths, err := h.JobPaths(id)
	if err != nil {
		return nil, err
	}
	return &Job{ID: id, host: h, paths: paths, res: &occgroups.Resources{SkipDevices: true}}, nil
}

// Resources translates l into opencontainers resources for this host,
// checking CPUs against the caller's own cpuset.
func (h *Host) Resources(l Limits) (*occgroups.Resources, error) {
	r := &occgroups.Resources{Devices: l.Devices, SkipDevices: l.Devices == nil}
	if len(l.CPUs) > 0 {
		if err := h.checkCPUs(l.CPUs); err != nil {
			return nil, err
		}
		r.CpusetCpus = cpuset.Format(l.CPUs)
		r.CpuPeriod = CPUPeriod
		r.CpuQuota = int64(len(l.CPUs)) * CPUPeriod
	}
	if len(l.Mems) > 0 {
		r.CpusetMems = cpuset.Format(l.Mems)
	}
	if l.MemoryBytes < 0 {
		return nil, fmt.Errorf("memory limit %d: must not be negative", l.MemoryBytes)
	}
	if l.MemoryBytes > 0 {
		r.Memory = l.MemoryBytes
		if h.mode == Unified || h.hasMemsw() {
			r.MemorySwap = l.MemoryBytes
		}
	}
	if l.PidsLimit < 0 {
		return nil, fmt.Errorf("pids limit %d: must not be negative", l.PidsLimit)
	}
	r.PidsLimit = l.PidsLimit
	return r, nil
}

// hasMemsw reports whether v1 swap accounting exists (memory.memsw.* files);
// without it, writing a memsw limit fails.
func (h *Host) hasMemsw() bool {
	hi, ok := h.hier["memory"]
	if !ok {
		return false
	}
	_, err := os.Stat(filepath.Join(hi.mount, hi.own, "memory.memsw.limit_in_bytes"))
	return err == nil
}

// checkCPUs fails when a CPU is outside the caller's own cpuset.
func (h *Host) checkCPUs(cpus []int) error {
	var dir, file string
	if h.mode == Unified {
		dir, file = filepath.Join(h.root, h.base2()), "cpuset.cpus.effective"
	} else {
		hi, ok := h.hier["cpuset"]
		if !ok {
			return fmt.Errorf("cpus %s: no cpuset controller", cpuset.Format(cpus))
		}
		dir, file = filepath.Join(hi.mount, hi.own), "cpuset.effective_cpus"
		if _, err := os.Stat(filepath.Join(dir, file)); err != nil {
			file = "cpuset.cpus"
		}
	}
	s, err := occgroups.ReadFile(dir, file)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // controller not enabled here; the kernel will judge
		}
		return fmt.Errorf("read %s/%s: %w", dir, file, err)
	}
	allowed, err := cpuset.Parse(strings.TrimSpace(s))
	if err != nil {
		return fmt.Errorf("parse %s/%s: %w", dir, file, err)
	}
	set := make(map[int]bool, len(allowed))
	for _, c := range allowed {
		set[c] = true
	}
	for _, c := range cpus {
		if !set[c] {
			return fmt.Errorf("cpus %s: cpu %d is not in the daemon's cpuset %s", cpuset.Format(cpus), c, strings.TrimSpace(s))
		}
	}
	return nil
}

// Create creates the cgroup of job id with limits l, below the caller's own
// cgroups (see the package comment). It fails if a limit cannot be set;
// nothing is left behind then. Creating an existing cgroup just sets its
// limits again.
func (h *Host) Create(id string, l Limits) (*Job, error) {
	j, err := h.Job(id)
	if err != nil {
		return nil, err
	}
	if j.res, err = h.Resources(l); err != nil {
		return nil, fmt.Errorf("create job cgroup %s: %w", id, err)
	}
	m, err := manager.NewWithPaths(j.Cgroup(), j.Paths())
	if err != nil {
		return nil, fmt.Errorf("create job cgroup %s: %w", id, err)
	}
	if err := m.Apply(-1); err != nil {
		_ = j.Remove()
		return nil, fmt.Errorf("create job cgroup %s: %w", id, err)
	}
	// With SkipDevices the v1 manager does not create the devices cgroup;
	// create it anyway (it inherits the parent's rules) so that every path
	// exists and tasks can join all of them.
	for _, k := range sortedKeys(j.paths) {
		if err := os.MkdirAll(j.paths[k], 0o755); err != nil {
			_ = j.Remove()
			return nil, fmt.Errorf("create job cgroup %s: %w", j.paths[k], err)
		}
	}
	if err := m.Set(j.res); err != nil {
		_ = j.Remove()
		return nil, fmt.Errorf("set limits of job cgroup %s: %w", id, err)
	}
	return j, nil
}

// Paths returns a copy of the job's cgroup directories (see [Host.JobPaths]).
func (j *Job) Paths() map[string]string {
	out := make(map[string]string, len(j.paths))
	for k, v := range j.paths {
		out[k] = v
	}
	return out
}

// Cgroup returns the opencontainers description of this cgroup, for
// libcontainer's configs.Config.Cgroups. Its Path is chosen so that
// libcontainer's own path rules give [Job.Paths]: on v1 the relative
// "gantry/<id>" (joined to the caller's cgroup in each hierarchy), on v2
// the absolute O/jobs/<id>. Exception: in hybrid mode libcontainer puts the
// cgroup2 part below the cgroup2 root, not below the caller's cgroup2
// path, so callers must compare the paths libcontainer plans with
// [Job.Paths] (the runner does).
func (j *Job) Cgroup() *occgroups.Cgroup {
	cg := &occgroups.Cgroup{Resources: j.res}
	if j.host.mode == Unified {
		cg.Path = filepath.Join(j.host.base2(), JobsDirV2, j.ID)
	} else {
		cg.Path = filepath.Join(JobsDirV1, j.ID)
	}
	return cg
}

// pidsDir is a directory of the job's cgroup that lists all its tasks.
func (j *Job) pidsDir() string {
	for _, k := range []string{"", "pids", "memory", "cpu", "cpuacct", "freezer", "devices", "cpuset", "name=systemd"} {
		if p, ok := j.paths[k]; ok && (k != "" || j.host.mode == Unified) {
			return p
		}
	}
	for _, k := range sortedKeys(j.paths) {
		return j.paths[k]
	}
	return ""
}

// Pids lists the processes in the job's cgroup and its sub-cgroups; a
// cgroup that does not exist has none.
func (j *Job) Pids() ([]int, error) {
	dir := j.pidsDir()
	pids, err := occgroups.GetAllPids(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV) {
			return nil, nil
		}
		return nil, fmt.Errorf("list processes of %s: %w", dir, err)
	}
	return pids, nil
}

// Exists reports whether any of the job's cgroup directories exists.
func (j *Job) Exists() bool {
	for _, p := range j.paths {
		if _, err := os.Stat(p); err == nil {
			return true
		}
	}
	return false
}

// Signal sends sig to every process in the job's cgroup. Processes that
// exit meanwhile are not an error.
func (j *Job) Signal(sig unix.Signal) error {
	pids, err := j.Pids()
	if err != nil {
		return err
	}
	var errs []error
	for _, pid := range pids {
		if err := unix.Kill(pid, sig); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("signal %v pid %d of job %s: %w", sig, pid, j.ID, err))
		}
	}
	return errors.Join(errs...)
}

// Kill SIGKILLs every process in the job's cgroup and waits, up to
// timeout, until the cgroup is empty. On v2 it uses cgroup.kill (kernel
// 5.14+); otherwise it freezes the cgroup first, so that no task can fork
// between the listing and the kill, then thaws it. An empty cgroup means
// every member is past the point of no return in its exit, not that each
// is already a zombie: the kernel drops a task from its cgroup a moment
// before it finishes exiting.
func (j *Job) Kill(timeout time.Duration) error {
	if !j.Exists() {
		return nil
	}
	killed := false
	if j.host.mode == Unified {
		if err := occgroups.WriteFile(j.paths[""], "cgroup.kill", "1"); err == nil {
			killed = true
		}
	}
	if !killed {
		m, err := manager.NewWithPaths(&occgroups.Cgroup{Resources: &occgroups.Resources{SkipDevices: true}}, j.Paths())
		frozen := err == nil && m.Freeze(occgroups.Frozen) == nil
		err = j.Signal(unix.SIGKILL)
		if frozen {
			if terr := m.Freeze(occgroups.Thawed); terr != nil {
				err = errors.Join(err, fmt.Errorf("thaw job cgroup %s: %w", j.ID, terr))
			}
		}
		if err != nil {
			return err
		}
	}
	deadline := time.Now().Add(timeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		pids, err := j.Pids()
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kill job cgroup %s: pids %v still there after %v", j.ID, pids, timeout)
		}
		// A task that was forking may have escaped the first round.
		_ = j.Signal(unix.SIGKILL)
		time.Sleep(delay)
	}
}

// Freeze suspends every task of the job with the cgroup freezer (v2
// cgroup.freeze, v1 freezer.state) and returns once the kernel reports the
// cgroup frozen. Frozen tasks do not run, cannot be scheduled and do not
// see the freeze; their memory stays allocated. Freezing a frozen job is a
// no-op. It fails on a v1 host without the freezer hierarchy.
func (j *Job) Freeze() error { return j.setFreezer(occgroups.Frozen) }

// Thaw resumes a job that [Job.Freeze] suspended; thawing a running job is
// a no-op.
func (j *Job) Thaw() error { return j.setFreezer(occgroups.Thawed) }

// Frozen reports whether the job's cgroup is frozen (or freezing).
func (j *Job) Frozen() (bool, error) {
	m, err := j.freezer()
	if err != nil {
		return false, err
	}
	st, err := m.GetFreezerState()
	if err != nil {
		return false, fmt.Errorf("read freezer state of job cgroup %s: %w", j.ID, err)
	}
	return st == occgroups.Frozen, nil
}

func (j *Job) setFreezer(state occgroups.FreezerState) error {
	m, err := j.freezer()
	if err != nil {
		return err
	}
	// The v1 freezer gives up ("unable to freeze") when a task stays in
	// FREEZING through its short retry loop, which happens on a loaded
	// machine (a task in an uninterruptible sleep); try again a few times
	// before reporting it.
	for attempt := range 5 {
		if err = m.Freeze(state); err == nil {
			return nil
		}
		time.Sleep(time.Duration(50<<attempt) * time.Millisecond)
	}
	return fmt.Errorf("set job cgroup %s %s: %w", j.ID, state, err)
}

// freezer returns a manager over the job's existing cgroups that can
// freeze them.
func (j *Job) freezer() (occgroups.Manager, error) {
	if j.host.mode != Unified {
		if _, ok := j.paths["freezer"]; !ok {
			return nil, fmt.Errorf("freeze job cgroup %s: no cgroup v1 freezer hierarchy", j.ID)
		}
	}
	if !j.Exists() {
		return nil, fmt.Errorf("freeze job cgroup %s: %w", j.ID, os.ErrNotExist)
	}
	m, err := manager.NewWithPaths(&occgroups.Cgroup{Resources: &occgroups.Resources{SkipDevices: true}}, j.Paths())
	if err != nil {
		return nil, fmt.Errorf("freeze job cgroup %s: %w", j.ID, err)
	}
	return m, nil
}

// Usage reads what the job consumed. Call it after the job ended and
// before the cgroup is removed. Values that cannot be read are left zero
// and reported in the (joined) error; the others are still returned.
func (j *Job) Usage() (Usage, error) {
	var u Usage
	var errs []error
	if j.host.mode == Unified {
		dir := j.paths[""]
		if v, err := fscommon.GetCgroupParamUint(dir, "memory.peak"); err == nil {
			u.PeakMemoryBytes = int64(v)
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("read %s/memory.peak: %w", dir, err))
		}
		if v, err := fscommon.GetValueByKey(dir, "cpu.stat", "usage_usec"); err == nil {
			u.CPUTime = time.Duration(v) * time.Microsecond
		} else {
			errs = append(errs, fmt.Errorf("read %s/cpu.stat: %w", dir, err))
		}
		if v, err := fscommon.GetValueByKey(dir, "memory.events", "oom_kill"); err == nil {
			u.OOMKills = v
		} else if !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("read %s/memory.events: %w", dir, err))
		}
		return u, errors.Join(errs...)
	}
	if dir, ok := j.paths["memory"]; ok {
		if v, err := fscommon.GetCgroupParamUint(dir, "memory.max_usage_in_bytes"); err == nil {
			u.PeakMemoryBytes = int64(v)
		} else {
			errs = append(errs, fmt.Errorf("read %s/memory.max_usage_in_bytes: %w", dir, err))
		}
		if v, err := fscommon.GetValueByKey(dir, "memory.oom_control", "oom_kill"); err == nil {
			u.OOMKills = v
		} else {
			errs = append(errs, fmt.Errorf("read %s/memory.oom_control: %w", dir, err))
		}
	}
	if dir, ok := j.paths["cpuacct"]; ok {
		if v, err := fscommon.GetCgroupParamUint(dir, "cpuacct.usage"); err == nil {
			u.CPUTime = time.Duration(v)
		} else {
			errs = append(errs, fmt.Errorf("read %s/cpuacct.usage: %w", dir, err))
		}
	}
	return u, errors.Join(errs...)
}

// Remove removes the job's cgroup directories (and any sub-cgroups a job
// made). The cgroup must be empty: call [Job.Kill] first if unsure.
// Removing a cgroup that does not exist is not an error.
func (j *Job) Remove() error {
	var errs []error
	for _, k := range sortedKeys(j.paths) {
		if err := occgroups.RemovePath(j.paths[k]); err != nil {
			errs = append(errs, fmt.Errorf("remove job cgroup %s: %w", j.paths[k], err))
		}
	}
	return errors.Join(errs...)
}

// StaleKillTimeout bounds how long [Host.RemoveStale] waits for the tasks
// of one stale job to die.
const StaleKillTimeout = 5 * time.Second

// RemoveStale kills and removes every job cgroup below the caller's own
// cgroups that it owns (owns(id) is true; nil owns everything) and that
// is not in live (for a daemon restarting after a crash). owns keeps
// several node daemons that share one cgroup from sweeping each other's
// jobs. live must hold every job whose supervisor may be running or
// starting. It returns the ids it removed, sorted; on error it still tries
// the rest.
func (h *Host) RemoveStale(owns func(id string) bool, live map[string]bool) ([]string, error) {
	stale := make(map[string]bool)
	var errs []error
	for _, dir := range h.JobsDirs() {
		ents, err := os.ReadDir(dir)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("list job cgroups in %s: %w", dir, err))
			}
			continue
		}
		for _, e := range ents {
			if e.IsDir() && (owns == nil || owns(e.Name())) && ValidJobID(e.Name()) == nil && !live[e.Name()] {
				stale[e.Name()] = true
			}
		}
	}
	var removed []string
	for id := range stale {
		j, err := h.Job(id)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := j.Kill(StaleKillTimeout); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := j.Remove(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, id)
	}
	sort.Strings(removed)
	return removed, errors.Join(errs...)
}
