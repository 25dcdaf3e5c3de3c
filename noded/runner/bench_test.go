package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/cgroups"
)

// BenchmarkLaunchOverhead measures the start-to-exit time of a `true` job
// two ways in the same run, interleaved so that machine load hits both
// alike:
//
//   - plain: a bare libcontainer loop, the same container configuration
//     (host root read-only, job cgroup with limits), Create, Run, Wait,
//     Destroy, in this process, /bin/true as PID 1;
//   - supervised: what the node daemon does, Launcher.Start (spec.json, a
//     detached supervisor process, output files opened as the user, the
//     job cgroup, the container, the shim as PID 1, result.json) and
//     Handle.Wait.
//
// It reports ms/plain, ms/supervised and their ratio (x-plain).
//
//	go test -run '^$' -bench LaunchOverhead -benchtime 30x ./noded/runner/
func BenchmarkLaunchOverhead(b *testing.B) {
	host := requireRunnerB(b)
	var plain, sup time.Duration
	base := b.TempDir()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		plainTrue(b, host, base, i)
		plain += time.Since(t0)

		t1 := time.Now()
		supervisedTrue(b, base, i)
		sup += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(plain.Microseconds())/1000/n, "ms/plain")
	b.ReportMetric(float64(sup.Microseconds())/1000/n, "ms/supervised")
	b.ReportMetric(float64(sup)/float64(plain), "x-plain")
}

func requireRunnerB(b *testing.B) *cgroups.Host {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	h, err := cgroups.Detect()
	if err != nil {
		b.Skipf("no cgroups: %v", err)
	}
	if h.Mode() == cgroups.Unified {
		if err := h.Prepare(); err != nil {
			b.Skipf("cannot prepare cgroup v2: %v", err)
		}
	}
	return h
}

func benchSpec(b *testing.B, base, kind string, i int) Spec {
	w := filepath.Join(base, fmt.Sprintf("%s-%d", kind, i))
	if err := os.MkdirAll(w, 0o755); err != nil {
		b.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(base), base} {
		_ = os.Chmod(d, 0o755)
	}
	if err := os.Chown(w, nobody, nobody); err != nil {
		b.Fatal(err)
	}
	return Spec{
		JobID: fmt.Sprintf("bench-%d-%s-%d", os.Getpid(), kind, i), Argv: []string{"/bin/true"},
		Env: []string{"PATH=/usr/bin:/bin"}, Cwd: w, UID: nobody, GID: nobody,
		Stdout: filepath.Join(w, "out"), Stderr: filepath.Join(w, "out"),
		CPUs: []int{0}, MemoryBytes: 256 << 20, PidsLimit: 64,
	}
}

// plainTrue runs /bin/true in the job's container with libcontainer alone.
func plainTrue(b *testing.B, host *cgroups.Host, base string, i int) {
	spec := benchSpec(b, base, "plain", i)
	if err := RunPlain(host, filepath.Join(base, fmt.Sprintf("plain-state-%d", i)), spec); err != nil {
		b.Fatal(err)
	}
}

// supervisedTrue runs /bin/true as the node daemon does.
func supervisedTrue(b *testing.B, base string, i int) {
	spec := benchSpec(b, base, "sup", i)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	h, err := Launcher{Exe: exe, Args: []string{"job-supervisor"}}.Start(filepath.Join(base, fmt.Sprintf("sup-job-%d", i)), spec)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := h.Wait(ctx)
	if err != nil || res.ExitCode != 0 || res.Error != "" {
		b.Fatalf("supervised true: %+v %v", res, err)
	}
}
