package cgroups

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	occgroups "github.com/opencontainers/cgroups"
)

// requireV2 is the environment variable that makes cgroup v2 tests fail
// instead of skip where the host cannot run them (set by `make test-vm`
// inside its cgroup v2 guest).
const requireV2 = "GANTRY_REQUIRE_CGROUP2"

// realHost skips t unless this machine can run job cgroups for real: euid
// 0, a detectable cgroup layout, the controllers jobs are limited by. On
// cgroup v2 it returns the host of [v2TestHost]. With GANTRY_REQUIRE_CGROUP2=1
// it fails unless the host is cgroup v2 and usable.
func realHost(t *testing.T) *Host {
	t.Helper()
	skip := t.Skipf
	if os.Getenv(requireV2) == "1" {
		skip = t.Fatalf
	}
	if euid := os.Geteuid(); euid != 0 {
		skip("needs root to create cgroups (euid %d)", euid)
	}
	h, err := Detect()
	if err != nil {
		skip("no usable cgroup filesystem: %v", err)
	}
	if h.Mode() == Unified {
		return v2TestHost(t, skip)
	}
	if os.Getenv(requireV2) == "1" {
		t.Fatalf("%s=1 but this host's cgroups are %v", requireV2, h.Mode())
	}
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids"} {
		if _, ok := h.OwnPaths()[c]; !ok {
			t.Skipf("cgroup v1 controller %q not mounted", c)
		}
	}
	return h
}

var (
	v2Once sync.Once
	v2Host *Host
	v2Err  error
	// v2Base is the cgroup v2TestHost created, removed by TestMain.
	v2Base string
)

// v2TestHost prepares, once per test binary, a cgroup v2 host for jobs the
// way the node daemon does ([Host.Prepare]). When the test process sits in
// the root cgroup (the test VM), it does so for a fresh cgroup
// /gantry-cgtest-PID standing in for the daemon's own, so that nothing is
// moved; elsewhere it prepares the process's real cgroup (which moves the
// test process into a "daemon" leaf, as it would the daemon).
func v2TestHost(t *testing.T, skip func(string, ...any)) *Host {
	t.Helper()
	v2Once.Do(func() {
		self, err := os.ReadFile("/proc/self/cgroup")
		if err != nil {
			v2Err = err
			return
		}
		if strings.TrimSpace(string(self)) == "0::/" {
			base := fmt.Sprintf("/gantry-cgtest-%d", os.Getpid())
			if v2Err = os.Mkdir(filepath.Join(DefaultRoot, base), 0o755); v2Err != nil {
				return
			}
			v2Base = filepath.Join(DefaultRoot, base)
			self = []byte("0::" + base + "\n")
		}
		h, err := New(Options{Root: DefaultRoot, Mode: Unified, ProcSelfCgroup: self})
		if err == nil {
			err = h.Prepare()
		}
		v2Host, v2Err = h, err
	})
	if v2Err != nil {
		skip("cannot prepare a cgroup v2 tree for jobs: %v", v2Err)
	}
	ctrls := readTrim(t, v2Host.JobsDirs()[""], "cgroup.subtree_control")
	for _, c := range v2Controllers {
		if !slices.Contains(strings.Fields(ctrls), c) {
			skip("cgroup v2 controller %q not enabled for jobs (have %q)", c, ctrls)
		}
	}
	return v2Host
}

func TestMain(m *testing.M) {
	code := m.Run()
	if v2Base != "" {
		for _, d := range []string{filepath.Join(v2Base, JobsDirV2), filepath.Join(v2Base, DaemonLeafV2), v2Base} {
			if err := occgroups.RemovePath(d); err != nil {
				fmt.Fprintf(os.Stderr, "remove test cgroup %s: %v\n", d, err)
				code = 1
			}
		}
	}
	os.Exit(code)
}

// path returns the job's directory for v1 controller c, or its single v2
// directory.
func path(h *Host, j *Job, c string) string {
	if h.Mode() == Unified {
		return j.Paths()[""]
	}
	return j.Paths()[c]
}

func testID(t *testing.T) string {
	return fmt.Sprintf("cgtest-%d-%s", os.Getpid(), strings.NewReplacer("/", "_", " ", "_").Replace(t.Name()))
}

func readTrim(t *testing.T, dir, file string) string {
	t.Helper()
	s, err := occgroups.ReadFile(dir, file)
	if err != nil {
		t.Fatalf("read %s/%s: %v", dir, file, err)
	}
	return strings.TrimSpace(s)
}

// gatedCommand starts argv in a shell that waits for a line on stdin
// before exec'ing, so it can be moved into a cgroup first; release()
// lets it go.
func gatedCommand(t *testing.T, script string) (*exec.Cmd, func()) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", "read go; "+script)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, func() { _, _ = io.WriteString(in, "go\n") }
}

func joinJob(t *testing.T, j *Job, pid int) {
	t.Helper()
	for _, k := range sortedKeys(j.Paths()) {
		if err := occgroups.WriteCgroupProc(j.Paths()[k], pid); err != nil {
			t.Fatalf("join %s: %v", j.Paths()[k], err)
		}
	}
}

func TestRealCreateLimitsOOMUsageRemove(t *testing.T) {
	h := realHost(t)
	id := testID(t)
	const mem = 64 << 20
	j, err := h.Create(id, Limits{CPUs: []int{0}, Mems: []int{0}, MemoryBytes: mem, PidsLimit: 32})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = j.Kill(5 * time.Second); _ = j.Remove() })

	jobsDirs := h.JobsDirs()
	for k, p := range j.Paths() {
		if p != filepath.Join(jobsDirs[k], id) || !strings.HasPrefix(p, h.BasePaths()[k]+"/") {
			t.Errorf("job cgroup %q = %s, not %s/%s below %s", k, p, jobsDirs[k], id, h.BasePaths()[k])
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("job cgroup %q not created: %v", k, err)
		}
	}
	want := map[[2]string]string{
		{"memory", "memory.limit_in_bytes"}: fmt.Sprint(mem),
		{"cpu", "cpu.cfs_quota_us"}:         "100000",
		{"cpuset", "cpuset.cpus"}:           "0",
		{"cpuset", "cpuset.mems"}:           "0",
		{"pids", "pids.max"}:                "32",
	}
	if h.hasMemsw() {
		want[[2]string{"memory", "memory.memsw.limit_in_bytes"}] = fmt.Sprint(mem)
	}
	if h.Mode() == Unified {
		want = map[[2]string]string{
			{"", "memory.max"}:  fmt.Sprint(mem),
			{"", "cpu.max"}:     "100000 100000",
			{"", "cpuset.cpus"}: "0",
			{"", "cpuset.mems"}: "0",
			{"", "pids.max"}:    "32",
		}
		if _, err := os.Stat(filepath.Join(j.Paths()[""], "memory.swap.max")); err == nil {
			want[[2]string{"", "memory.swap.max"}] = "0"
		}
	}
	for k, v := range want {
		if got := readTrim(t, path(h, j, k[0]), k[1]); got != v {
			t.Errorf("%s = %s, want %s", k[1], got, v)
		}
	}

	// A 300 MiB buffer does not fit in 64 MiB: the OOM killer must fire.
	cmd, release := gatedCommand(t, "exec dd if=/dev/zero of=/dev/null bs=300M count=1 2>/dev/null")
	joinJob(t, j, cmd.Process.Pid)
	release()
	_ = cmd.Wait()
	if ws := cmd.ProcessState.String(); !strings.Contains(ws, "killed") {
		t.Errorf("dd ended with %q, want killed", ws)
	}
	u, err := j.Usage()
	if err != nil {
		t.Fatalf("Usage: %v", err)
	}
	if u.OOMKills < 1 {
		t.Errorf("OOMKills = %d, want >= 1", u.OOMKills)
	}
	if u.PeakMemoryBytes < mem/2 || u.PeakMemoryBytes > mem+(1<<20) {
		t.Errorf("PeakMemoryBytes = %d, want near the %d limit", u.PeakMemoryBytes, mem)
	}
	if u.CPUTime <= 0 {
		t.Errorf("CPUTime = %v, want > 0", u.CPUTime)
	}
	t.Logf("usage %+v", u)

	if err := j.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	if j.Exists() {
		t.Errorf("job cgroup still exists after Remove: %v", j.Paths())
	}
}

func TestRealKillRemovesForkingTasks(t *testing.T) {
	h := realHost(t)
	j, err := h.Create(testID(t), Limits{PidsLimit: 64})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = j.Kill(5 * time.Second); _ = j.Remove() })
	cmd, release := gatedCommand(t, "sleep 60 & sleep 60 & (sleep 60 &) ; wait")
	joinJob(t, j, cmd.Process.Pid)
	release()
	deadline := time.Now().Add(5 * time.Second)
	for {
		pids, _ := j.Pids()
		if len(pids) >= 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("job never had 4 tasks: %v", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := j.Kill(5 * time.Second); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if pids, _ := j.Pids(); len(pids) != 0 {
		t.Fatalf("tasks left after Kill: %v", pids)
	}
	if err := j.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	// The freezer parent must have been left thawed.
	if dir, ok := h.OwnPaths()["freezer"]; ok {
		if got := readTrim(t, filepath.Join(dir, JobsDirV1), "freezer.state"); got != "THAWED" {
			t.Errorf("%s/%s freezer.state = %s", dir, JobsDirV1, got)
		}
	}
}

func TestRealRemoveStale(t *testing.T) {
	h := realHost(t)
	live, err := h.Create(testID(t)+"-live", Limits{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = live.Remove() })
	dead, err := h.Create(testID(t)+"-dead", Limits{MemoryBytes: 32 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dead.Kill(5 * time.Second); _ = dead.Remove() })
	// An orphan task, as after a supervisor crash.
	cmd, release := gatedCommand(t, "exec sleep 60")
	joinJob(t, dead, cmd.Process.Pid)
	release()

	// Jobs of other tests, and of other test packages running at the same
	// time under the same cgroup, must not be swept: own only this test's.
	mine := func(id string) bool { return strings.HasPrefix(id, testID(t)) }
	removed, err := h.RemoveStale(mine, map[string]bool{live.ID: true})
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	if len(removed) != 1 || removed[0] != dead.ID {
		t.Errorf("removed %v, want [%s]", removed, dead.ID)
	}
	if dead.Exists() {
		t.Errorf("stale cgroup still exists")
	}
	if !live.Exists() {
		t.Errorf("live cgroup removed")
	}
	_ = cmd.Wait()
	if !strings.Contains(cmd.ProcessState.String(), "killed") {
		t.Errorf("orphan task ended %q, want killed", cmd.ProcessState)
	}
}

func TestRealCPUOutsideCpuset(t *testing.T) {
	h := realHost(t)
	_, err := h.Create(testID(t), Limits{CPUs: []int{4095}})
	if err == nil || !strings.Contains(err.Error(), "cpu 4095") {
		t.Fatalf("Create with cpu 4095: err = %v, want it named", err)
	}
	j, _ := h.Job(testID(t))
	if j.Exists() {
		t.Errorf("failed Create left %v behind", j.Paths())
	}
}

// Freeze stops the job's tasks (no CPU time while frozen), Thaw resumes
// them, and a frozen job can still be killed and removed.
func TestRealFreezeThaw(t *testing.T) {
	h := realHost(t)
	if h.Mode() != Unified {
		if _, ok := h.OwnPaths()["freezer"]; !ok {
			t.Skip("cgroup v1 freezer hierarchy not mounted")
		}
	}
	j, err := h.Create(testID(t), Limits{CPUs: []int{0}})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = j.Kill(5 * time.Second); _ = j.Remove() })
	cmd, release := gatedCommand(t, "while :; do :; done")
	joinJob(t, j, cmd.Process.Pid)
	release()
	cpu := func() time.Duration {
		u, err := j.Usage()
		if err != nil && u.CPUTime == 0 {
			t.Fatalf("Usage: %v", err)
		}
		return u.CPUTime
	}
	time.Sleep(100 * time.Millisecond)
	if err := j.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if fz, err := j.Frozen(); err != nil || !fz {
		t.Fatalf("Frozen() = %v, %v after Freeze", fz, err)
	}
	if err := j.Freeze(); err != nil {
		t.Errorf("second Freeze: %v", err)
	}
	before := cpu()
	time.Sleep(300 * time.Millisecond)
	if d := cpu() - before; d > 20*time.Millisecond {
		t.Errorf("frozen job used %v of CPU in 300ms", d)
	}
	if err := j.Thaw(); err != nil {
		t.Fatalf("Thaw: %v", err)
	}
	if fz, err := j.Frozen(); err != nil || fz {
		t.Fatalf("Frozen() = %v, %v after Thaw", fz, err)
	}
	// A thawed job runs again: it gets 50ms of CPU, however busy the
	// machine is (a wait for progress, not a rate).
	before = cpu()
	deadline := time.Now().Add(10 * time.Second)
	for cpu()-before < 50*time.Millisecond && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if d := cpu() - before; d < 50*time.Millisecond {
		t.Errorf("thawed job used only %v of CPU in 10s", d)
	}
	// Kill and remove a frozen job.
	if err := j.Freeze(); err != nil {
		t.Fatalf("Freeze: %v", err)
	}
	if err := j.Kill(5 * time.Second); err != nil {
		t.Fatalf("Kill of a frozen job: %v", err)
	}
	_ = cmd.Wait()
	if err := j.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
}
