package sim

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/swf"
)

var policies = []sched.Policy{sched.FCFS, sched.EASY, sched.Conservative}

// randomLog is a small synthetic workload on m processors: bursts of
// arrivals, sizes from 1 to m, run times that often end well before their
// estimate.
func randomLog(seed uint64, n, m int) *swf.Log {
	rng := rand.New(rand.NewPCG(seed, 7))
	l := &swf.Log{Header: swf.Header{MaxProcs: int64(m)}}
	t := int64(0)
	for i := range n {
		if rng.IntN(3) > 0 {
			t += int64(rng.IntN(50))
		}
		req := int64(1 + rng.IntN(100))
		run := req
		if rng.IntN(2) == 0 {
			run = 1 + rng.Int64N(req)
		}
		l.Jobs = append(l.Jobs, swf.Job{Number: int64(i + 1), Submit: t, RunTime: run, ReqTime: req, ReqProcs: int64(1 + rng.IntN(m)), AllocProcs: -1})
	}
	return l
}

// TestAgainstReference replays random workloads with the engine and with
// the plain textbook algorithms and wants the same start for every job.
func TestAgainstReference(t *testing.T) {
	for seed := range uint64(40) {
		l := randomLog(seed, 150, 16)
		for _, p := range policies {
			for _, e := range []Estimates{EstimatesUser, EstimatesActual} {
				checkReference(t, fmt.Sprintf("seed %d", seed), l, Config{Policy: p, Estimates: e})
			}
		}
	}
}

func checkReference(t *testing.T, name string, l *swf.Log, cfg Config) {
	t.Helper()
	res, err := Run(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	want := reference(res.Jobs, res.Procs, cfg.Policy)
	for k, j := range res.Jobs {
		if j.Start != want[k] {
			t.Fatalf("%s %v/%v: job %d (submit %d, %d procs, run %d, estimate %d) starts at %d, reference %d",
				name, cfg.Policy, cfg.Estimates, j.ID, j.Submit, j.Procs, j.Run, j.Estimate, j.Start, want[k])
		}
	}
	checkSchedule(t, res)
}

// checkSchedule checks what any valid schedule satisfies: no job starts
// before it is submitted, and processors are never over-committed.
func checkSchedule(t *testing.T, res *Result) {
	t.Helper()
	type ev struct {
		at    int64
		delta int
	}
	var evs []ev
	for _, j := range res.Jobs {
		if j.Start < j.Submit || j.End != j.Start+j.Run {
			t.Fatalf("job %d: submit %d start %d end %d run %d", j.ID, j.Submit, j.Start, j.End, j.Run)
		}
		evs = append(evs, ev{j.Start, j.Procs}, ev{j.End, -j.Procs})
	}
	// Ends before starts at the same instant.
	slices.SortFunc(evs, func(a, b ev) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.delta, b.delta)
	})
	used := 0
	for _, e := range evs {
		used += e.delta
		if used > res.Procs {
			t.Fatalf("%d processors in use at %d, the machine has %d", used, e.at, res.Procs)
		}
	}
}

// traceDir is ../shared/traces from the module root.
func traceDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Skip("no go.mod above the test: cannot find ../shared/traces")
		}
		dir = parent
	}
	traces := filepath.Join(dir, "..", "shared", "traces")
	if _, err := os.Stat(traces); err != nil {
		t.Skipf("needs the SWF traces in %s: %v", traces, err)
	}
	return traces
}

// TestTracesAgainstReference replays the first jobs of every trace in
// ../shared/traces with each policy and estimate mode, against the
// reference.
func TestTracesAgainstReference(t *testing.T) {
	dir := traceDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.swf*"))
	if len(files) == 0 {
		t.Skipf("no *.swf files in %s", dir)
	}
	n := 3000
	if testing.Short() {
		n = 500
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".swf.gz"), func(t *testing.T) {
			t.Parallel()
			l, err := swf.Open(f, n)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range policies {
				for _, e := range []Estimates{EstimatesUser, EstimatesActual} {
					checkReference(t, filepath.Base(f), l, Config{Policy: p, Estimates: e})
				}
			}
		})
	}
}
