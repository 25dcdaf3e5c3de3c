package sim

import (
	"bytes"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/swf"
)

func fixture(t testing.TB, limit int) *swf.Log {
	t.Helper()
	l, err := swf.Open(filepath.Join("..", "testdata", "swf", "tiny.swf"), limit)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// TestFixture replays testdata/swf/tiny.swf, whose schedule is worked out
// by hand in its comments: job 1 holds the machine until 100; job 2 (all
// 4 procs) follows; it ends at 150, 10 s before its estimate, and jobs 3
// and 5 start then. Under conservative, job 2 starts at 100 by its
// reservation, and the early end compresses 3 and 5 from 160 to 150.
func TestFixture(t *testing.T) {
	const want = `job_id,submit,start,end,procs
1,0,0,100,4
2,10,100,150,4
3,20,150,180,2
5,30,150,190,1
`
	for _, p := range policies {
		res, err := Run(fixture(t, 0), Config{Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, res.Jobs); err != nil {
			t.Fatal(err)
		}
		if buf.String() != want {
			t.Errorf("%v: CSV\n%s\nwant\n%s", p, buf.String(), want)
		}
		s := res.Summarize()
		if s.Skipped != (Skipped{RunTime: 1, TooLarge: 1, Total: 2}) || s.Procs != 4 || s.Records != 6 || s.Jobs != 4 {
			t.Errorf("%v: summary %+v", p, s)
		}
		// makespan 190; work 400+200+60+40 = 700; waits 0, 90, 130, 120;
		// bounded slowdowns 1, 140/50, 160/30, 160/40.
		wantBSLD := (1 + 140.0/50 + 160.0/30 + 160.0/40) / 4
		if s.MakespanSeconds != 190 || !near(s.Utilization, 700.0/(4*190)) || !near(s.MeanWaitSeconds, 85) ||
			s.MaxWaitSeconds != 130 || !near(s.MeanBoundedSlowdown, wantBSLD) {
			t.Errorf("%v: summary %+v (want bounded slowdown %v)", p, s, wantBSLD)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestConventions(t *testing.T) {
	t.Run("jobs takes the first records before the skip rules", func(t *testing.T) {
		res, err := Run(fixture(t, 4), Config{})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Jobs) != 3 || res.Skipped.Total != 1 {
			t.Errorf("%d jobs, %+v skipped", len(res.Jobs), res.Skipped)
		}
	})
	t.Run("procs overrides the header", func(t *testing.T) {
		res, err := Run(fixture(t, 0), Config{Procs: 8})
		if err != nil {
			t.Fatal(err)
		}
		if res.Procs != 8 || res.Skipped.TooLarge != 0 {
			t.Errorf("procs %d, skipped %+v", res.Procs, res.Skipped)
		}
	})
	t.Run("MaxNodes when MaxProcs is missing", func(t *testing.T) {
		l := fixture(t, 0)
		l.Header.MaxProcs = 0
		res, err := Run(l, Config{})
		if err != nil || res.Procs != 2 {
			t.Fatalf("procs %v, %v", res, err)
		}
		l.Header.MaxNodes = 0
		if _, err := Run(l, Config{}); err == nil {
			t.Error("no machine size, no error")
		}
	})
	t.Run("actual estimates", func(t *testing.T) {
		res, err := Run(fixture(t, 0), Config{Policy: sched.EASY, Estimates: EstimatesActual})
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range res.Jobs {
			if j.Estimate != j.Run {
				t.Errorf("job %d: estimate %d, run %d", j.ID, j.Estimate, j.Run)
			}
		}
	})
}

func TestReport(t *testing.T) {
	var runs []*Result
	for _, p := range policies {
		res, err := Run(randomLog(1, 300, 16), Config{Policy: p})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, res)
	}
	var buf bytes.Buffer
	if err := WriteReport(&buf, "random <log>", runs); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	for _, want := range []string{"<!DOCTYPE html>", "random &lt;log&gt;", "Utilization over time", "Queue length over time",
		"Wait-time distribution", "conservative / user", "<polyline"} {
		if !strings.Contains(page, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Error("report is not self-contained")
	}
	if strings.Contains(page, "NaN") || strings.Contains(page, "Inf") {
		t.Error("report has NaN or Inf coordinates")
	}
}

// BenchmarkReplay replays whole traces from ../shared/traces (parsed
// once, outside the timing).
func BenchmarkReplay(b *testing.B) {
	dir := traceDir(b)
	for _, trace := range []string{"LANL-CM5-1994-4.1-cln.swf.gz", "SDSC-SP2-1998-4.2-cln.swf.gz"} {
		l, err := swf.Open(filepath.Join(dir, trace), 0)
		if err != nil {
			b.Skipf("%s: %v", trace, err)
		}
		for _, p := range policies {
			b.Run(strings.SplitN(trace, "-", 2)[0]+"/"+p.String(), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Run(l, Config{Policy: p}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
