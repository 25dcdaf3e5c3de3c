package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/cgroups"
	"github.com/gantry-hpc/gantry/cpuset"
)

// The test binary is also the libcontainer init (package init) and the
// supervisor, exactly as the gantry binary is in production.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "job-supervisor" {
		os.Exit(SupervisorMain(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == "gpu-probe" {
		os.Exit(gpuProbeMain(os.Args[2:]))
	}
	os.Exit(m.Run())
}

const nobody = 65534

var prepareOnce sync.Once

// requireRunner skips t unless jobs can really run here: root, a cgroup
// layout with the controllers the runner limits, PID namespaces. On cgroup
// v2 it prepares the test process's cgroup like the daemon would.
func requireRunner(t *testing.T) *cgroups.Host {
	t.Helper()
	skip := t.Skipf
	requireV2 := os.Getenv("GANTRY_REQUIRE_CGROUP2") == "1"
	if requireV2 {
		// Set by `make test-vm`: in its cgroup v2 guest nothing may skip.
		skip = t.Fatalf
	}
	if euid := os.Geteuid(); euid != 0 {
		skip("needs root to create containers and cgroups (euid %d)", euid)
	}
	if _, err := os.Stat("/proc/self/ns/pid"); err != nil {
		skip("no PID namespaces: %v", err)
	}
	h, err := cgroups.Detect()
	if err != nil {
		skip("no usable cgroup filesystem: %v", err)
	}
	if h.Mode() == cgroups.Unified {
		var perr error
		prepareOnce.Do(func() { perr = h.Prepare() })
		if perr != nil {
			skip("cannot prepare the cgroup v2 tree for jobs: %v", perr)
		}
		return h
	}
	if requireV2 {
		t.Fatalf("GANTRY_REQUIRE_CGROUP2=1 but this host's cgroups are %v", h.Mode())
	}
	for _, c := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids", "devices"} {
		if _, ok := h.OwnPaths()[c]; !ok {
			t.Skipf("cgroup v1 controller %q not mounted", c)
		}
	}
	return h
}

func launcher(t *testing.T) Launcher {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Launcher{Exe: exe, Args: []string{"job-supervisor"}}
}

// workDir returns a directory owned by nobody, reachable by nobody. It
// lies below /tmp, so it also exercises the bind of a cwd that the
// container's private /tmp would otherwise hide.
func workDir(t *testing.T) string {
	t.Helper()
	base := t.TempDir()
	for _, d := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	w := filepath.Join(base, "work")
	if err := os.Mkdir(w, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(w, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	return w
}

var unsafeID = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func jobID(t *testing.T) string {
	return fmt.Sprintf("rt-%d-%s", os.Getpid(), unsafeID.ReplaceAllString(t.Name(), "_"))
}

// baseSpec runs argv as nobody in a fresh work dir.
func baseSpec(t *testing.T, argv ...string) Spec {
	w := workDir(t)
	return Spec{
		JobID:       jobID(t),
		Argv:        argv,
		Env:         []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + w, "LANG=C"},
		Cwd:         w,
		UID:         nobody,
		GID:         nobody,
		Stdout:      filepath.Join(w, "out.txt"),
		Stderr:      filepath.Join(w, "err.txt"),
		CPUs:        []int{0},
		MemoryBytes: 256 << 20,
		PidsLimit:   256,
		Walltime:    30 * time.Second,
		KillGrace:   time.Second,
	}
}

func start(t *testing.T, spec Spec) *Handle {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "job")
	h, err := launcher(t).Start(dir, spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		_ = h.Kill()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = h.Wait(ctx)
	})
	return h
}

func wait(t *testing.T, h *Handle) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := h.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if t.Failed() || testing.Verbose() {
		t.Logf("result %+v", res)
	}
	return res
}

func runJob(t *testing.T, spec Spec) (Result, *Handle) {
	t.Helper()
	h := start(t, spec)
	res := wait(t, h)
	if b, err := os.ReadFile(filepath.Join(h.Dir(), LogFile)); err == nil && t.Failed() {
		t.Logf("supervisor.log:\n%s", b)
	}
	return res, h
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitRunning waits until the job has written "started" to its stdout,
// and returns the processes in its cgroup.
func waitRunning(t *testing.T, host *cgroups.Host, spec Spec) []int {
	t.Helper()
	j, err := host.Job(spec.JobID)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if b, _ := os.ReadFile(spec.Stdout); strings.HasPrefix(string(b), "started") {
			pids, err := j.Pids()
			if err != nil || len(pids) == 0 {
				t.Fatalf("running job %s has no processes in its cgroup (%v)", spec.JobID, err)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s never started running", spec.JobID)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// assertExited fails t if any of pids is still alive a few seconds after
// its job ended. A killed process leaves its cgroup (cgroup_exit) a little
// before it turns into a zombie, so an empty cgroup does not yet mean that
// /proc shows every member dead: each pid gets a grace period to finish
// exiting, and only one that outlives it is an orphan.
func assertExited(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if alive(pid) {
			t.Errorf("job process %d still alive after its job ended", pid)
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}

func assertCgroupGone(t *testing.T, host *cgroups.Host, id string) {
	t.Helper()
	j, err := host.Job(id)
	if err != nil {
		t.Fatal(err)
	}
	if j.Exists() {
		t.Errorf("job cgroup of %s still exists: %v", id, j.Paths())
	}
}

func TestExitCodeOutputIdentity(t *testing.T) {
	host := requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", `echo out; echo err >&2; id -u; id -g; pwd; echo "$FOO"; exit 7`)
	spec.Env = append(spec.Env, "FOO=bar baz")
	res, _ := runJob(t, spec)
	if res.Error != "" || res.ExitCode != 7 || res.Signal != "" {
		t.Fatalf("result %+v, want exit 7 without error", res)
	}
	if got, want := readFile(t, spec.Stdout), fmt.Sprintf("out\n%d\n%d\n%s\nbar baz\n", nobody, nobody, spec.Cwd); got != want {
		t.Errorf("stdout %q, want %q", got, want)
	}
	if got := readFile(t, spec.Stderr); got != "err\n" {
		t.Errorf("stderr %q, want %q", got, "err\n")
	}
	for _, p := range []string{spec.Stdout, spec.Stderr} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s owned by %d:%d, want %d:%d", p, st.Uid, st.Gid, nobody, nobody)
		}
	}
	if res.StartedAt.IsZero() || res.EndedAt.Before(res.StartedAt) {
		t.Errorf("times %v .. %v", res.StartedAt, res.EndedAt)
	}
	if res.CPUTime <= 0 || res.PeakMemoryBytes <= 0 {
		t.Errorf("usage cpu %v peak %d, want > 0", res.CPUTime, res.PeakMemoryBytes)
	}
	assertCgroupGone(t, host, spec.JobID)
}

func TestSharedStdoutStderr(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", "echo a; echo b >&2; echo c; echo d >&2")
	spec.Stderr = spec.Stdout
	res, _ := runJob(t, spec)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result %+v", res)
	}
	if got := readFile(t, spec.Stdout); got != "a\nb\nc\nd\n" {
		t.Errorf("combined output %q, want a..d in order", got)
	}
}

// The job sees the host read-only, a private /tmp, its CPUs, no
// capabilities, and can write only its cwd and /tmp.
func TestIsolation(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	script := strings.Join([]string{
		`touch /etc/gantry-probe 2>/dev/null && echo etc=rw || echo etc=ro`,
		`touch /usr/gantry-probe 2>/dev/null && echo usr=rw || echo usr=ro`,
		`echo x > /tmp/gantry-private && echo tmp=rw`,
		`echo tmpfiles=$(ls -A /tmp | grep -v "^$(basename $(dirname $(dirname $PWD)))\$" | tr '\n' ' ')`,
		`echo x > ./written && echo cwd=rw`,
		`grep -E '^(Cpus_allowed_list|CapEff|NoNewPrivs):' /proc/self/status | tr -d '\t'`,
		`echo "pid1=$(tr '\0' ' ' </proc/1/cmdline)"`,
		`test -x /usr/bin/python3 && echo python=yes || echo python=no`,
		`ls /dev | tr '\n' ' '; echo`,
	}, "; ")
	spec := baseSpec(t, "sh", "-c", script)
	spec.CPUs = []int{1}
	if n, _ := os.ReadFile("/sys/devices/system/cpu/online"); strings.TrimSpace(string(n)) == "0" {
		spec.CPUs = []int{0}
	}
	res, _ := runJob(t, spec)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result %+v; stderr %s", res, readFile(t, spec.Stderr))
	}
	out := readFile(t, spec.Stdout)
	for _, want := range []string{
		"etc=ro", "usr=ro", "tmp=rw", "tmpfiles=gantry-private\n", "cwd=rw",
		"Cpus_allowed_list:" + cpuset.Format(spec.CPUs) + "\n",
		"CapEff:0000000000000000", "NoNewPrivs:1", "pid1=/run/gantry/shim job-shim ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("job output lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat("/tmp/gantry-private"); err == nil {
		t.Errorf("the job's /tmp file appeared in the host's /tmp")
	}
	if _, err := os.Stat("/etc/gantry-probe"); err == nil {
		t.Errorf("the job wrote the host's /etc")
	}
	if _, err := os.Stat(filepath.Join(spec.Cwd, "written")); err != nil {
		t.Errorf("the job's write to its cwd is not visible on the host: %v", err)
	}
}

// A cwd outside /tmp (the common case: /home, /scratch).
func TestCwdOutsideTmp(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	base, err := os.MkdirTemp("/var/tmp", "gantry-runner-test-")
	if err != nil {
		t.Skipf("no /var/tmp: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(base, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	spec := baseSpec(t, "sh", "-c", "pwd; echo hi > f; cat f")
	spec.Cwd, spec.Stdout, spec.Stderr = base, filepath.Join(base, "o"), filepath.Join(base, "e")
	res, _ := runJob(t, spec)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result %+v; stderr %s", res, readFile(t, spec.Stderr))
	}
	if got := readFile(t, spec.Stdout); got != base+"\nhi\n" {
		t.Errorf("stdout %q", got)
	}
}

func TestOOMKilled(t *testing.T) {
	host := requireRunner(t)
	t.Parallel()
	const limit = 64 << 20
	spec := baseSpec(t, "dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1")
	spec.MemoryBytes = limit
	res, _ := runJob(t, spec)
	if !res.OOMKilled || res.ExitCode != 128+9 || res.Signal != "SIGKILL" {
		t.Errorf("result %+v, want OOMKilled, exit 137, SIGKILL", res)
	}
	if res.PeakMemoryBytes < limit/2 || res.PeakMemoryBytes > limit+(1<<20) {
		t.Errorf("PeakMemoryBytes %d, want near the %d limit", res.PeakMemoryBytes, limit)
	}
	assertCgroupGone(t, host, spec.JobID)
}

func TestWalltime(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	t.Run("ignores SIGTERM, gets SIGKILL after the grace", func(t *testing.T) {
		t.Parallel()
		// The walltime leaves the shell time to set its trap even on a
		// slow emulated machine (make test-vm).
		spec := baseSpec(t, "sh", "-c", `trap "" TERM; sleep 100`)
		spec.Walltime, spec.KillGrace = 3*time.Second, 500*time.Millisecond
		res, _ := runJob(t, spec)
		if !res.TimedOut || res.Killed || res.Signal != "SIGKILL" || res.ExitCode != 137 {
			t.Errorf("result %+v, want TimedOut by SIGKILL", res)
		}
		if d := res.EndedAt.Sub(res.StartedAt); d < 3*time.Second || d > 20*time.Second {
			t.Errorf("ran %v, want about walltime + grace = 3.5s", d)
		}
	})
	t.Run("a plain command stops on SIGTERM though the shim is PID 1", func(t *testing.T) {
		t.Parallel()
		spec := baseSpec(t, "sleep", "100")
		spec.Walltime, spec.KillGrace = 300*time.Millisecond, time.Minute
		res, _ := runJob(t, spec)
		if !res.TimedOut || res.Signal != "SIGTERM" || res.ExitCode != 143 {
			t.Errorf("result %+v, want TimedOut by SIGTERM", res)
		}
		if d := res.EndedAt.Sub(res.StartedAt); d > 20*time.Second {
			t.Errorf("ran %v: SIGTERM did not stop it, the grace did", d)
		}
	})
	t.Run("handles SIGTERM", func(t *testing.T) {
		t.Parallel()
		spec := baseSpec(t, "sh", "-c", `trap 'echo got-term; exit 3' TERM; while :; do sleep 0.05; done`)
		spec.Walltime, spec.KillGrace = 3*time.Second, 20*time.Second
		res, _ := runJob(t, spec)
		if !res.TimedOut || res.ExitCode != 3 {
			t.Errorf("result %+v, want TimedOut with the job's exit 3", res)
		}
		if got := readFile(t, spec.Stdout); got != "got-term\n" {
			t.Errorf("stdout %q, want got-term", got)
		}
	})
}

// Kill kills; the job ran in exactly the cgroup computed by package
// cgroups, below the own cgroups, and nothing was created elsewhere.
func TestKillAndCgroupPlacement(t *testing.T) {
	host := requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", "sleep 100 & echo started; sleep 100")
	h := start(t, spec)
	pids := waitRunning(t, host, spec)

	want, err := host.JobPaths(spec.JobID)
	if err != nil {
		t.Fatal(err)
	}
	base := host.BasePaths()
	for k, p := range want {
		if !strings.HasPrefix(p, base[k]+"/") {
			t.Errorf("job cgroup %q = %s not below %s", k, p, base[k])
		}
		if _, err := os.Stat(p); err != nil {
			t.Errorf("job cgroup %q missing while running: %v", k, err)
		}
	}
	// The job's processes are in exactly those cgroups.
	self, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pids[0]))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(self), ":/") {
		t.Fatalf("odd /proc/%d/cgroup: %s", pids[0], self)
	}
	// Nothing named after the job anywhere else in the cgroup trees.
	var found []string
	_ = filepath.WalkDir(host.Root(), func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if d.Name() == spec.JobID {
			found = append(found, p)
			return filepath.SkipDir
		}
		return nil
	})
	var wantList []string
	for _, p := range want {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			p = rp
		}
		wantList = append(wantList, p)
	}
	slices.Sort(wantList)
	wantList = slices.Compact(wantList)
	sort.Strings(found)
	if !slices.Equal(found, wantList) {
		t.Errorf("cgroups named %s:\n got %v\nwant %v", spec.JobID, found, wantList)
	}

	if err := h.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	res := wait(t, h)
	if !res.Killed || res.TimedOut || res.ExitCode == 0 {
		t.Errorf("result %+v, want Killed with a failing exit", res)
	}
	assertCgroupGone(t, host, spec.JobID)
	assertExited(t, pids)
	if err := h.Kill(); err != nil {
		t.Errorf("Kill after the end: %v", err)
	}
}

func TestCommandNotFound(t *testing.T) {
	host := requireRunner(t)
	t.Parallel()
	for _, argv0 := range []string{"no-such-command-xyz", "./no-such-script"} {
		t.Run(argv0, func(t *testing.T) {
			spec := baseSpec(t, argv0, "arg")
			res, _ := runJob(t, spec)
			if res.ExitCode != 127 || !strings.Contains(res.Error, argv0) {
				t.Errorf("result %+v, want exit 127 and an error naming %q", res, argv0)
			}
			assertCgroupGone(t, host, spec.JobID)
		})
	}
	t.Run("not executable by the user", func(t *testing.T) {
		spec := baseSpec(t, "./script")
		p := filepath.Join(spec.Cwd, "script")
		if err := os.WriteFile(p, []byte("#!/bin/sh\necho no\n"), 0o744); err != nil { // root-owned, x for root only
			t.Fatal(err)
		}
		res, _ := runJob(t, spec)
		if res.ExitCode != 127 || !strings.Contains(res.Error, "./script") {
			t.Errorf("result %+v, want 127", res)
		}
	})
}

// Output files are opened as the user: a symlink the user planted at the
// stdout path, pointing at a root-owned file, must not make root write it.
func TestOutputSymlinkNotFollowedAsRoot(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", "echo pwned")
	victim := filepath.Join(filepath.Dir(spec.Cwd), "victim")
	if err := os.WriteFile(victim, []byte("precious\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, spec.Stdout); err != nil {
		t.Fatal(err)
	}
	_ = os.Lchown(spec.Stdout, nobody, nobody)
	res, _ := runJob(t, spec)
	if res.ExitCode == 0 || !strings.Contains(res.Error, spec.Stdout) || !strings.Contains(res.Error, "permission denied") {
		t.Errorf("result %+v, want a permission error naming %s", res, spec.Stdout)
	}
	if got := readFile(t, victim); got != "precious\n" {
		t.Errorf("victim file now %q", got)
	}
	var st unix.Stat_t
	if err := unix.Stat(victim, &st); err != nil || st.Uid != 0 {
		t.Errorf("victim owner %d (%v), want still root", st.Uid, err)
	}
}

// A group-writable file of another user stays theirs: the job writes it
// through a pipe, so libcontainer's stdio chown never sees it.
func TestForeignWritableOutputNotChowned(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", "echo shared")
	if err := os.WriteFile(spec.Stdout, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(spec.Stdout, 0o666); err != nil {
		t.Fatal(err)
	}
	res, _ := runJob(t, spec)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result %+v", res)
	}
	if got := readFile(t, spec.Stdout); got != "shared\n" {
		t.Errorf("stdout %q", got)
	}
	var st unix.Stat_t
	if err := unix.Stat(spec.Stdout, &st); err != nil || st.Uid != 0 {
		t.Errorf("root's world-writable output file now owned by %d (%v)", st.Uid, err)
	}
}

func TestAdoptRunningAndFinished(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", "sleep 1; echo done")
	first := start(t, spec) // then "forgotten", as by a daemon restart
	dir := first.Dir()
	h, err := Adopt(dir)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	if h.proc != nil || h.pidfd < 0 {
		t.Errorf("adopted handle should use a pidfd (proc %v pidfd %d)", h.proc, h.pidfd)
	}
	res := wait(t, h)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("adopted result %+v", res)
	}
	if got := readFile(t, spec.Stdout); got != "done\n" {
		t.Errorf("stdout %q", got)
	}
	again, err := Adopt(dir)
	if err != nil {
		t.Fatalf("Adopt finished: %v", err)
	}
	if res2 := wait(t, again); res2.ExitCode != 0 || !res2.EndedAt.Equal(res.EndedAt) {
		t.Errorf("adopting a finished job gave %+v", res2)
	}
	if _, err := Adopt(t.TempDir()); err == nil {
		t.Errorf("Adopt of an empty dir succeeded")
	}
}

func TestStartRefusesSecondRun(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "true")
	h := start(t, spec)
	wait(t, h)
	_, err := launcher(t).Start(h.Dir(), spec)
	if !errors.Is(err, ErrSpecExists) {
		t.Errorf("second Start: err = %v, want ErrSpecExists", err)
	}
}

func TestSupervisorDied(t *testing.T) {
	host := requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", "echo started; exec sleep 100")
	h := start(t, spec)
	pids := waitRunning(t, host, spec)
	if err := unix.Kill(h.pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	res := wait(t, h)
	if !strings.HasPrefix(res.Error, "supervisor died") || !strings.Contains(res.Error, "killed 2 orphaned") {
		t.Errorf("result %+v, want supervisor died and the two orphans (shim and command) killed", res)
	}
	assertCgroupGone(t, host, spec.JobID)
	assertExited(t, pids)
}

// TestStartLatency measures Start to Wait for `true`, supervisor process
// included.
func TestStartLatency(t *testing.T) {
	requireRunner(t)
	if testing.Short() {
		t.Skip("short")
	}
	var ds []time.Duration
	for i := range 5 {
		spec := baseSpec(t, "true")
		spec.JobID = fmt.Sprintf("%s-%d", spec.JobID, i)
		t0 := time.Now()
		res, _ := runJob(t, spec)
		ds = append(ds, time.Since(t0))
		if res.ExitCode != 0 || res.Error != "" {
			t.Fatalf("result %+v", res)
		}
	}
	slices.Sort(ds)
	t.Logf("start-to-exit of `true` via a supervisor: median %v (min %v, max %v)", ds[len(ds)/2], ds[0], ds[len(ds)-1])
}

// pinCgroupPaths redirects a container whose planned cgroup paths differ
// from ours (what happens to the cgroup2 part on hybrid hosts whose own
// cgroup2 path is not "/").
func TestPinCgroupPaths(t *testing.T) {
	host := requireRunner(t)
	t.Parallel()
	id := jobID(t)
	job, err := host.Job(id)
	if err != nil {
		t.Fatal(err)
	}
	spec := baseSpec(t, "true")
	dir := t.TempDir()
	cfg, _, err := containerConfig(&spec, filepath.Join(dir, rootfsDir), job, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cgroups.Path = "gantry-elsewhere/" + id
	if host.Mode() == cgroups.Unified {
		cfg.Cgroups.Path = "/gantry-elsewhere/" + id
	}
	ctr, err := libcontainer.Create(filepath.Join(dir, stateDir), id, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ctr.Destroy()
	st, _ := ctr.State()
	if samePaths(st.CgroupPaths, job.Paths()) {
		t.Fatalf("test setup: planned paths already equal ours")
	}
	err = pinCgroupPaths(ctr, job.Paths())
	if host.Mode() == cgroups.Unified {
		// fs2 hands out a copy: redirection is impossible and must say so.
		if err == nil || !strings.Contains(err.Error(), "cannot be redirected") {
			t.Fatalf("pin on v2: err = %v", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("pinCgroupPaths: %v", err)
	}
	st, _ = ctr.State()
	if !reflect.DeepEqual(st.CgroupPaths, job.Paths()) {
		t.Errorf("after pinning, libcontainer plans %v, want %v", st.CgroupPaths, job.Paths())
	}
}

// waitCond waits until cond holds (a file-based supervisor state).
func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Suspend freezes the job (it makes no progress), Resume thaws it, and the
// time spent suspended does not count against the walltime.
func TestSuspendResume(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", `echo started; i=0; while :; do i=$((i+1)); echo $i > n; sleep 0.05; done`)
	spec.Walltime, spec.KillGrace = 3*time.Second, time.Second
	h := start(t, spec)
	if err := h.Resume(); err != nil && !errors.Is(err, ErrNotRunning) {
		t.Errorf("Resume before the start: %v", err)
	}
	waitCond(t, "the job to start", func() bool { _, ok := h.Started(); return ok })
	count := func() string { b, _ := os.ReadFile(filepath.Join(spec.Cwd, "n")); return strings.TrimSpace(string(b)) }
	waitCond(t, "the job to count", func() bool { return count() != "" })

	if err := h.Suspend(); err != nil {
		t.Fatalf("Suspend: %v", err)
	}
	waitCond(t, "the job to be suspended", h.Suspended)
	if err := h.Suspend(); err != nil {
		t.Errorf("second Suspend: %v", err)
	}
	frozenAt := count()
	const held = 4 * time.Second // longer than the walltime
	time.Sleep(held)
	if got := count(); got != frozenAt {
		t.Errorf("suspended job counted on: %s -> %s", frozenAt, got)
	}
	if err := h.Resume(); err != nil {
		t.Fatalf("Resume: %v", err)
	}
	waitCond(t, "the job to resume", func() bool { return !h.Suspended() })
	waitCond(t, "the job to count again", func() bool { return count() != frozenAt })

	res := wait(t, h)
	if !res.TimedOut || res.Error != "" {
		t.Fatalf("result %+v, want TimedOut", res)
	}
	if res.Suspended < held {
		t.Errorf("Suspended %v, want at least %v", res.Suspended, held)
	}
	if ran := res.EndedAt.Sub(res.StartedAt); ran < spec.Walltime+held {
		t.Errorf("ran %v: the walltime clock ran while suspended (walltime %v, suspended %v)", ran, spec.Walltime, res.Suspended)
	}
	if h.Suspended() {
		t.Errorf("suspended marker left after the end")
	}
	if err := h.Suspend(); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Suspend after the end: %v, want ErrNotRunning", err)
	}
}

// A suspended job that is killed is thawed first, so it sees its SIGTERM.
func TestKillSuspended(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", `trap 'echo got-term; exit 5' TERM; echo started; while :; do sleep 0.05; done`)
	h := start(t, spec)
	waitCond(t, "the job to set its trap", func() bool {
		b, _ := os.ReadFile(spec.Stdout)
		return strings.HasPrefix(string(b), "started")
	})
	// The job may print before its supervisor has recorded it running:
	// until then Suspend says ErrNotRunning, and callers retry.
	waitCond(t, "Suspend to be accepted", func() bool { return h.Suspend() == nil })
	waitCond(t, "the job to be suspended", h.Suspended)
	if err := h.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	res := wait(t, h)
	if !res.Killed || res.ExitCode != 5 {
		t.Errorf("result %+v, want Killed with the job's own exit 5", res)
	}
	if got := readFile(t, spec.Stdout); !strings.Contains(got, "got-term") {
		t.Errorf("stdout %q: the job never saw SIGTERM", got)
	}
}

// In host mode the user's home is writable, the rest of the host is not.
func TestHomeWritable(t *testing.T) {
	requireRunner(t)
	t.Parallel()
	spec := baseSpec(t, "sh", "-c", `echo hi > "$HOME/h" && echo home=rw; cat "$HOME/h"`)
	home := filepath.Join(filepath.Dir(spec.Cwd), "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, nobody, nobody); err != nil {
		t.Fatal(err)
	}
	spec.Home = home
	spec.Env = append(spec.Env, "HOME="+home)
	res, _ := runJob(t, spec)
	if res.ExitCode != 0 || res.Error != "" {
		t.Fatalf("result %+v; stderr %s", res, readFile(t, spec.Stderr))
	}
	if got := readFile(t, spec.Stdout); got != "home=rw\nhi\n" {
		t.Errorf("stdout %q", got)
	}
	if got := readFile(t, filepath.Join(home, "h")); got != "hi\n" {
		t.Errorf("home file on the host %q", got)
	}
}
