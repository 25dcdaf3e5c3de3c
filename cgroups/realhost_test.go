package cgroups

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	occgroups "github.com/opencontainers/cgroups"
)

// realHost skips t unless this machine can run job cgroups for real: euid
// 0, a detectable cgroup layout, and a writable own cgroup. On cgroup v2
// it also needs the controllers delegated to the own cgroup; it does not
// call Prepare (that would move the test process).
func realHost(t *testing.T) *Host {
	t.Helper()
	if euid := os.Geteuid(); euid != 0 {
		t.Skipf("needs root to create cgroups (euid %d)", euid)
	}
	h, err := Detect()
	if err != nil {
		t.Skipf("no usable cgroup filesystem: %v", err)
	}
	if h.Mode() == Unified {
		t.Skipf("cgroup v2 host: the real-host tests here exercise v1/hybrid; v2 is covered by the VM script and fake-tree tests")
	}
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids"} {
		if _, ok := h.OwnPaths()[c]; !ok {
			t.Skipf("cgroup v1 controller %q not mounted", c)
		}
	}
	return h
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
	j, err := h.Create(id, Limits{CPUs: []int{0}, MemoryBytes: mem, PidsLimit: 32})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() { _ = j.Kill(5 * time.Second); _ = j.Remove() })

	own := h.OwnPaths()
	for k, p := range j.Paths() {
		if !strings.HasPrefix(p, own[k]+"/"+JobsDirV1+"/") {
			t.Errorf("job cgroup %q = %s, not below own %s", k, p, own[k])
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("job cgroup %q not created: %v", k, err)
		}
	}
	p := j.Paths()
	if got := readTrim(t, p["memory"], "memory.limit_in_bytes"); got != fmt.Sprint(mem) {
		t.Errorf("memory.limit_in_bytes = %s, want %d", got, mem)
	}
	if h.hasMemsw() {
		if got := readTrim(t, p["memory"], "memory.memsw.limit_in_bytes"); got != fmt.Sprint(mem) {
			t.Errorf("memory.memsw.limit_in_bytes = %s, want %d", got, mem)
		}
	}
	if got := readTrim(t, p["cpu"], "cpu.cfs_quota_us"); got != "100000" {
		t.Errorf("cpu.cfs_quota_us = %s, want 100000", got)
	}
	if got := readTrim(t, p["cpuset"], "cpuset.cpus"); got != "0" {
		t.Errorf("cpuset.cpus = %s, want 0", got)
	}
	if got := readTrim(t, p["pids"], "pids.max"); got != "32" {
		t.Errorf("pids.max = %s, want 32", got)
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

	// Other tests' jobs in this package may exist concurrently: keep them.
	keep := map[string]bool{live.ID: true}
	for _, dir := range h.JobsDirs() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != dead.ID {
				keep[e.Name()] = true
			}
		}
	}
	removed, err := h.RemoveStale(nil, keep)
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
