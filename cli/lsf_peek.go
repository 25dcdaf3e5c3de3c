package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
)

func init() {
	lsfCommands["bpeek"] = &lsfCommand{
		opts: map[string]bool{"f": false, "J": true, "q": true},
		usage: `Usage: bpeek [-f] [-J NAME] [JOB_ID | "JOB_ID[INDEX]"]

Shows the output a job has written so far (your most recent running job
when none is named); -f follows it until the job ends. bpeek reads the
job's output file, so it works on the job's host or a shared filesystem.

Examples:
  bpeek 42
  bpeek -f "42[7]"
`,
		run: runBpeek,
	}
	lsfCommands["bhist"] = &lsfCommand{
		opts: map[string]bool{"l": false, "a": false, "d": false, "u": true, "w": false},
		usage: `Usage: bhist [-l] [-a | -d] [-u USER|all] [JOB_ID ...]

Shows how long jobs spent in each state (-l: every event, with its time,
host and reason). Without job IDs: your unfinished jobs (-a: all, -d:
finished ones).
`,
		run: runBhist,
	}
	lsfCommands["bacct"] = &lsfCommand{
		opts: map[string]bool{"l": false, "u": true, "q": true},
		usage: `Usage: bacct [-l] [-u USER|all] [-q QUEUE] [JOB_ID ...]

Accounting summary of finished jobs: counts, CPU time, wait and
turnaround times, hog factor (-l: each job too).
`,
		run: runBacct,
	}
}

func outputFileOf(j api.Job, stderr bool) string {
	id := lsfJobID(j)
	tmpl := j.Spec.Stdout
	if stderr {
		if j.Spec.Stderr == "" {
			return ""
		}
		tmpl = j.Spec.Stderr
	}
	if tmpl == "" {
		tmpl = "gantry-%J.out"
	}
	return api.OutputPath(tmpl, j.Spec.Cwd, id, j.ArrayIndex)
}

func runBpeek(x *lsfRun) error {
	cl, err := x.client()
	if err != nil {
		return err
	}
	var j api.Job
	switch len(x.args) {
	case 0:
		all, err := cl.Jobs(x.ctx, false)
		if err != nil {
			return err
		}
		sel := &lsfRun{opts: map[string][]string{"r": {""}}}
		for _, k := range []string{"q", "J"} {
			if x.has(k) {
				sel.opts[k] = x.opts[k]
			}
		}
		run := filterJobs(sel, all, "")
		if len(run) == 0 {
			return lsfErr("No unfinished job found")
		}
		j = run[len(run)-1]
	case 1:
		if j, err = jobByRef(x.ctx, cl, x.args[0]); err != nil {
			if client.NotFound(err) {
				return lsfErr("Job <%s> is not found", x.args[0])
			}
			return err
		}
	default:
		return lsfErr("bpeek: name one job")
	}
	if j.StartTime == nil && !j.State.Terminal() {
		return lsfErr("Job <%d> : Not yet started.", lsfJobID(j))
	}
	fmt.Fprintln(x.out, "<< output from stdout >>")
	if err := showOutput(x.ctx, cl, j, 0, x.has("f"), x.out); err != nil {
		return lsfErr("bpeek: %v", err)
	}
	return nil
}

// showOutput copies what the part of rank of job j has written to its
// output files to out: stdout, then stderr when it is a file of its own;
// with follow, stdout only, until the job ends. It reads the files, so it
// works on the job's host or on a shared filesystem.
func showOutput(ctx context.Context, cl *client.Client, j api.Job, rank int, follow bool, out io.Writer) error {
	path := api.RankOutput(outputFileOf(j, false), rank)
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("%w (the job's output file is read directly: run this where the file is visible)", err)
	}
	defer f.Close()
	if _, err := io.Copy(out, f); err != nil {
		return err
	}
	if !follow {
		if ep := outputFileOf(j, true); ep != "" && ep != outputFileOf(j, false) {
			if b, err := os.ReadFile(api.RankOutput(ep, rank)); err == nil {
				fmt.Fprintln(out, "\n<< output from stderr >>")
				out.Write(b)
			}
		}
		return nil
	}
	// Follow until the job ends, then drain what is left.
	for {
		cur, err := cl.JobByRef(ctx, refOf(j))
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, f); err != nil {
			return err
		}
		if cur.State.Terminal() {
			_, err := io.Copy(out, f)
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// stateTimes sums the time a job spent in LSF's states from its events.
func stateTimes(evs []api.Event, j api.Job) map[string]time.Duration {
	out := map[string]time.Duration{}
	prev, prevState := j.SubmitTime, "PEND"
	held := false
	for _, e := range evs {
		out[prevState] += e.Time.Sub(prev)
		prev = e.Time
		if strings.Contains(strings.ToLower(e.Reason), "held") {
			held = true
		} else if e.State != api.StatePending {
			held = false
		}
		switch {
		case e.State == api.StatePending && held:
			prevState = "PSUSP"
		case e.State == api.StatePending || e.State == api.StateRunnable:
			prevState = "PEND"
		case e.State == api.StateStarting || e.State == api.StateRunning:
			prevState = "RUN"
		case e.State.Terminal():
			prevState = ""
		}
	}
	if prevState != "" {
		out[prevState] += time.Since(prev)
	}
	delete(out, "")
	return out
}

func selectJobs(x *lsfRun, finishedOnly bool) ([]api.Job, error) {
	cl, err := x.client()
	if err != nil {
		return nil, err
	}
	if len(x.args) > 0 {
		var out []api.Job
		for _, a := range x.args {
			js, err := jobsOfRef(x.ctx, cl, a)
			if err != nil {
				return nil, err
			}
			out = append(out, js...)
		}
		return out, nil
	}
	u := x.get("u")
	all, err := cl.Jobs(x.ctx, u != "")
	if err != nil {
		return nil, err
	}
	var out []api.Job
	for _, j := range all {
		if u != "" && u != "all" && j.User != u {
			continue
		}
		if q := x.get("q"); q != "" && j.Spec.Queue != q {
			continue
		}
		switch {
		case finishedOnly || x.has("d"):
			if !j.State.Terminal() {
				continue
			}
		case x.has("a"):
		default:
			if j.State.Terminal() {
				continue
			}
		}
		out = append(out, j)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

func runBhist(x *lsfRun) error {
	jobs, err := selectJobs(x, false)
	if err != nil {
		return err
	}
	if len(jobs) == 0 {
		return lsfErr("No matching job found")
	}
	cl, _ := x.client()
	if !x.has("l") {
		fmt.Fprintln(x.out, "Summary of time in seconds spent in various states:")
		fmt.Fprintln(x.out, "JOBID   USER    JOB_NAME  PEND    PSUSP   RUN     USUSP   SSUSP   UNKWN   TOTAL")
	}
	for i, j := range jobs {
		evs, err := cl.History(x.ctx, refOf(j))
		if err != nil {
			return err
		}
		if x.has("l") {
			if i > 0 {
				fmt.Fprintln(x.out, strings.Repeat("-", 78))
			}
			writeBhistLong(x.out, j, evs)
			continue
		}
		t := stateTimes(evs, j)
		secs := func(s string) string { return strconv.FormatInt(int64(t[s].Seconds()), 10) }
		var total time.Duration
		for _, d := range t {
			total += d
		}
		name := lsfJobName(j)
		if !x.has("w") {
			name = truncLeft(name, 9)
		}
		fmt.Fprintf(x.out, "%-7s %-7s %-9s %-7s %-7s %-7s %-7s %-7s %-7s %d\n", strconv.FormatInt(lsfJobID(j), 10), truncLeft(j.User, 7), name,
			secs("PEND"), secs("PSUSP"), secs("RUN"), secs("USUSP"), secs("SSUSP"), "0", int64(total.Seconds()))
	}
	return nil
}

func writeBhistLong(w io.Writer, j api.Job, evs []api.Event) {
	fmt.Fprintf(w, "\nJob <%d>, Job Name <%s>, User <%s>, Project <%s>, Command <%s>\n", lsfJobID(j), lsfJobName(j), j.User, projectOf(j), lsfJobName(j))
	fmt.Fprintf(w, "%s: Submitted from host <%s>, to Queue <%s>, CWD <%s>;\n", lsfLongTime(j.SubmitTime), dash(j.Spec.SubmitHost), j.Spec.Queue, j.Spec.Cwd)
	for _, e := range evs {
		var what string
		switch e.State {
		case api.StateStarting:
			what = fmt.Sprintf("Dispatched %d Task(s) on Host(s) <%s>", max(j.Spec.Cores, 1), e.Node)
		case api.StateRunning:
			what = "Starting"
		case api.StateSucceeded:
			what = "Done successfully"
		case api.StatePending, api.StateRunnable:
			what = "Pending"
		default:
			what = "Exited"
			if e.State == api.StateFailed && j.ExitCode != nil {
				what = fmt.Sprintf("Exited with exit code %d", *j.ExitCode)
			}
		}
		if e.Reason != "" {
			what += ": " + e.Reason
		}
		if e.Actor != "" && e.Actor != "scheduler" {
			what += " (by " + e.Actor + ")"
		}
		fmt.Fprintf(w, "%s: %s;\n", lsfLongTime(e.Time), what)
	}
	t := stateTimes(evs, j)
	var total time.Duration
	for _, d := range t {
		total += d
	}
	fmt.Fprintln(w, "\nSummary of time in seconds spent in various states by  "+lsfLongTime(time.Now()))
	fmt.Fprintln(w, "  PEND     PSUSP    RUN      USUSP    SSUSP    UNKWN    TOTAL")
	s := func(k string) int64 { return int64(t[k].Seconds()) }
	fmt.Fprintf(w, "  %-8d %-8d %-8d %-8d %-8d %-8d %d\n", s("PEND"), s("PSUSP"), s("RUN"), 0, 0, 0, int64(total.Seconds()))
}

func runBacct(x *lsfRun) error {
	jobs, err := selectJobs(x, true)
	if err != nil {
		return err
	}
	var done, exited int
	var cpu, wait, turn, hog []float64
	for _, j := range jobs {
		if !j.State.Terminal() || j.EndTime == nil {
			continue
		}
		if j.State == api.StateSucceeded {
			done++
		} else {
			exited++
		}
		cpu = append(cpu, j.CPUTimeSeconds)
		start := *j.EndTime
		if j.StartTime != nil {
			start = *j.StartTime
		}
		wait = append(wait, start.Sub(j.SubmitTime).Seconds())
		t := j.EndTime.Sub(j.SubmitTime).Seconds()
		turn = append(turn, t)
		if t > 0 {
			hog = append(hog, j.CPUTimeSeconds/t)
		} else {
			hog = append(hog, 0)
		}
	}
	who := "all users"
	if u := x.get("u"); u != "" && u != "all" {
		who = "users " + u
	} else if u == "" {
		who = "users " + currentUser()
	}
	fmt.Fprintf(x.out, "\nAccounting information about jobs that are: \n  - submitted by %s,\n  - accounted on all projects.\n  - completed normally or exited\n  - executed on all hosts.\n  - submitted to %s.\n  - accounted on all service classes.\n",
		who, map[bool]string{true: "queue " + x.get("q"), false: "all queues"}[x.get("q") != ""])
	fmt.Fprintln(x.out, strings.Repeat("-", 78))
	if x.has("l") {
		for _, j := range jobs {
			if j.EndTime == nil {
				continue
			}
			fmt.Fprintf(x.out, "\nJob <%d>, Job Name <%s>, User <%s>, Project <%s>, Status <%s>, Queue <%s>, Command <%s>\n",
				lsfJobID(j), lsfJobName(j), j.User, projectOf(j), lsfStat(j), j.Spec.Queue, lsfJobName(j))
			fmt.Fprintf(x.out, "%s: Submitted from host <%s>, CWD <%s>;\n", lsfLongTime(j.SubmitTime), dash(j.Spec.SubmitHost), j.Spec.Cwd)
			if j.StartTime != nil {
				fmt.Fprintf(x.out, "%s: Dispatched %d Task(s) on Host(s) <%s>;\n", lsfLongTime(*j.StartTime), max(j.Spec.Cores, 1), j.Node)
			}
			fmt.Fprintf(x.out, "%s: Completed <%s>%s.\n", lsfLongTime(*j.EndTime), strings.ToLower(lsfStat(j)), reasonSuffix(j.Reason))
			fmt.Fprintln(x.out, "\nAccounting information about this job:")
			fmt.Fprintln(x.out, "     CPU_T     WAIT     TURNAROUND   STATUS     HOG_FACTOR    MEM")
			start := *j.EndTime
			if j.StartTime != nil {
				start = *j.StartTime
			}
			t := j.EndTime.Sub(j.SubmitTime).Seconds()
			h := 0.0
			if t > 0 {
				h = j.CPUTimeSeconds / t
			}
			fmt.Fprintf(x.out, "%10.2f %8d %14d %8s %14.4f %6s\n", j.CPUTimeSeconds, int64(start.Sub(j.SubmitTime).Seconds()), int64(t),
				strings.ToLower(lsfStat(j)), h, shortMem(j.PeakMemoryBytes))
			fmt.Fprintln(x.out, strings.Repeat("-", 78))
		}
	}
	if done+exited == 0 {
		fmt.Fprintln(x.out, "No matching job found")
		return nil
	}
	sum, avg, mx, mn := stats(cpu)
	_, wavg, wmx, wmn := stats(wait)
	_, tavg, tmx, tmn := stats(turn)
	_, havg, hmx, hmn := stats(hog)
	fmt.Fprintln(x.out, "\nSUMMARY:      ( time unit: second ) ")
	fmt.Fprintf(x.out, " Total number of done jobs: %7d      Total number of exited jobs: %6d\n", done, exited)
	fmt.Fprintf(x.out, " Total CPU time consumed: %9.1f      Average CPU time consumed: %8.1f\n", sum, avg)
	fmt.Fprintf(x.out, " Maximum CPU time of a job: %7.1f      Minimum CPU time of a job: %8.1f\n", mx, mn)
	fmt.Fprintf(x.out, " Total wait time in queues: %7.1f\n", sumOf(wait))
	fmt.Fprintf(x.out, " Average wait time in queue: %6.1f\n", wavg)
	fmt.Fprintf(x.out, " Maximum wait time in queue: %6.1f      Minimum wait time in queue: %7.1f\n", wmx, wmn)
	fmt.Fprintf(x.out, " Average turnaround time: %9d (seconds/job)\n", int64(tavg))
	fmt.Fprintf(x.out, " Maximum turnaround time: %9d      Minimum turnaround time: %10d\n", int64(tmx), int64(tmn))
	fmt.Fprintf(x.out, " Average hog factor of a job: %5.2f ( cpu time / turnaround time )\n", havg)
	fmt.Fprintf(x.out, " Maximum hog factor of a job: %5.2f      Minimum hog factor of a job: %5.2f\n", hmx, hmn)
	return nil
}

func shortMem(b int64) string {
	if b <= 0 {
		return "0M"
	}
	return fmt.Sprintf("%dM", (b+(1<<20)-1)>>20)
}

func sumOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s
}

func stats(v []float64) (sum, avg, mx, mn float64) {
	if len(v) == 0 {
		return
	}
	mn = v[0]
	for _, x := range v {
		sum += x
		mx = max(mx, x)
		mn = min(mn, x)
	}
	return sum, sum / float64(len(v)), mx, mn
}

func currentUser() string {
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Getuid())
}
