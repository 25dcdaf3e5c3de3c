package integration

import (
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/cpuset"
)

const nobody = 65534

// TestJobs drives one cluster through the life of real jobs.
func TestJobs(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0-1", "1G")

	t.Run("exit code and output files come back", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "-o", "out.%J", "-e", "err.%J", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3")
		j := c.waitState(id, time.Minute, api.StateFailed)
		if j.ExitCode == nil || *j.ExitCode != 3 || j.Reason != "exited with code 3" {
			t.Fatalf("job = %+v", j)
		}
		if got := c.output(fmt.Sprintf("out.%d", id)); got != "to-stdout\n" {
			t.Errorf("stdout = %q", got)
		}
		if got := c.output(fmt.Sprintf("err.%d", id)); got != "to-stderr\n" {
			t.Errorf("stderr = %q", got)
		}
		r := c.gantry("job", fmt.Sprint(id), "--json")
		if r.code != 0 || !strings.Contains(r.stdout, `"state": "FAILED"`) {
			t.Errorf("gantry job --json: %+v", r)
		}
	})

	t.Run("success", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "-o", "ok.%J", "--", "true")
		j := c.waitState(id, time.Minute, api.StateSucceeded)
		if *j.ExitCode != 0 || j.StartTime == nil || j.EndTime == nil {
			t.Fatalf("job = %+v", j)
		}
	})

	t.Run("wait follows the event stream; hist shows every transition", func(t *testing.T) {
		c := c.with(t)
		ok := c.submit(0, "-o", "w.%J", "--", "sleep", "1")
		bad := c.submit(0, "-o", "w.%J", "--", "false")
		r := c.gantry("wait", fmt.Sprint(ok), fmt.Sprint(bad), "--timeout", "60s")
		if r.code != 1 || !strings.Contains(r.stdout, fmt.Sprintf("Job <%d> SUCCEEDED", ok)) ||
			!strings.Contains(r.stdout, fmt.Sprintf("Job <%d> FAILED: exited with code 1", bad)) {
			t.Fatalf("gantry wait: %+v", r)
		}
		if r := c.gantry("wait", fmt.Sprint(ok)); r.code != 0 {
			t.Fatalf("gantry wait on a finished job: %+v", r)
		}
		r = c.gantry("hist", fmt.Sprint(ok))
		var states []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			states = append(states, strings.Fields(line)[2])
		}
		if got := strings.Join(states, " "); got != "RUNNABLE STARTING RUNNING SUCCEEDED" {
			t.Fatalf("gantry hist states %q:\n%s", got, r.stdout)
		}
		if r := c.gantryAs(nobody, "hist", fmt.Sprint(ok)); r.code == 0 {
			t.Errorf("nobody read root's job history: %+v", r)
		}
	})

	t.Run("holds, begin times and dependencies", func(t *testing.T) {
		c := c.with(t)
		prep := c.submit(0, "-J", "prep", "-o", "dep.%J", "--", "sleep", "1")
		after := c.submit(0, "-w", "done(prep)", "-o", "dep.%J", "--", "true")
		never := c.submit(0, "-w", fmt.Sprintf("exit(%d)", prep), "--cancel-unsatisfiable", "-o", "dep.%J", "--", "true")
		held := c.submit(0, "-H", "-o", "dep.%J", "--", "true")
		begin := time.Now().Add(2 * time.Second).UTC().Format(time.RFC3339)
		late := c.submit(0, "-b", begin, "-o", "dep.%J", "--", "true")

		if j := c.job(after); j.State != api.StatePending || !strings.Contains(j.Reason, `waiting for dependency: done("prep")`) {
			t.Errorf("dependent job while prep runs: %s %q", j.State, j.Reason)
		}
		c.waitState(prep, time.Minute, api.StateSucceeded)
		c.waitState(after, time.Minute, api.StateSucceeded)
		j := c.waitState(never, time.Minute, api.StateCancelled)
		if !strings.Contains(j.Reason, "can never be satisfied") {
			t.Errorf("unsatisfiable job: %q", j.Reason)
		}
		if j := c.job(held); j.State != api.StatePending || !j.Held {
			t.Errorf("held job: %+v", j)
		}
		if r := c.gantryAs(nobody, "release", fmt.Sprint(held)); r.code == 0 {
			t.Errorf("nobody released root's job: %+v", r)
		}
		if r := c.gantry("release", fmt.Sprint(held)); r.code != 0 || !strings.Contains(r.stdout, "is released") {
			t.Fatalf("gantry release: %+v", r)
		}
		c.waitState(held, time.Minute, api.StateSucceeded)
		j = c.waitState(late, time.Minute, api.StateSucceeded)
		if want, _ := time.Parse(time.RFC3339, begin); j.StartTime.Before(want) {
			t.Errorf("job started at %v, before its begin time %v", j.StartTime, want)
		}
		if r := c.gantry("sub", "-w", "done(", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, `dependency "done("`) {
			t.Errorf("bad dependency accepted: %+v", r)
		}
	})

	t.Run("memory limit kills and reports OOM with peak memory", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "-M", "64M", "-o", "oom.%J", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1")
		j := c.waitState(id, time.Minute, api.StateFailed)
		if !j.OOMKilled || !strings.Contains(j.Reason, "OOM") {
			t.Fatalf("job not reported as OOM: %+v", j)
		}
		if j.PeakMemoryBytes < 48<<20 || j.PeakMemoryBytes > 80<<20 {
			t.Errorf("peak memory %s, want close to the 64 MiB limit", api.FormatMemory(j.PeakMemoryBytes))
		}
	})

	t.Run("job sees only its cores", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "-n", "1", "-o", "cpus.%J", "--", "grep", "Cpus_allowed_list", "/proc/self/status")
		j := c.waitState(id, time.Minute, api.StateSucceeded)
		got := strings.TrimSpace(strings.TrimPrefix(c.output(fmt.Sprintf("cpus.%d", id)), "Cpus_allowed_list:"))
		if len(j.CPUs) != 1 || got != cpuset.Format(j.CPUs) {
			t.Fatalf("job allocated %v but saw Cpus_allowed_list %q", j.CPUs, got)
		}
	})

	t.Run("walltime kills", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "-W", "2s", "-o", "wall.%J", "--", "sleep", "600")
		j := c.waitState(id, time.Minute, api.StateTimeout)
		if d := j.EndTime.Sub(*j.StartTime); d < 2*time.Second || d > 20*time.Second {
			t.Errorf("ran %s under a 2s walltime", d)
		}
	})

	t.Run("gantry kill kills", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "-o", "kill.%J", "--", "sleep", "600")
		c.waitState(id, time.Minute, api.StateRunning)
		if r := c.gantry("kill", fmt.Sprint(id)); r.code != 0 || !strings.Contains(r.stdout, "is being terminated") {
			t.Fatalf("gantry kill: %+v", r)
		}
		j := c.waitState(id, time.Minute, api.StateCancelled)
		if j.ExitCode == nil {
			t.Errorf("killed job has no exit status: %+v", j)
		}
	})

	t.Run("a user's job runs as that user, who may not kill others' jobs", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(nobody, "-o", "whoami.%J", "--", "sh", "-c", "id -u; id -g; touch /etc/gantry-test 2>&1 || true")
		j := c.waitState(id, time.Minute, api.StateSucceeded)
		if j.UID != nobody || j.User != "nobody" {
			t.Errorf("job owner = %s (%d)", j.User, j.UID)
		}
		out := c.output(fmt.Sprintf("whoami.%d", id))
		if !strings.HasPrefix(out, "65534\n65534\n") || !strings.Contains(out, "Read-only file system") {
			t.Errorf("job output = %q", out)
		}
		fi, err := os.Stat(c.work + fmt.Sprintf("/whoami.%d", id))
		if err != nil || fi.Sys().(*syscall.Stat_t).Uid != nobody {
			t.Errorf("output file not owned by the user: %v", err)
		}

		rootJob := c.submit(0, "-o", "rootjob.%J", "--", "sleep", "600")
		c.waitState(rootJob, time.Minute, api.StateRunning)
		r := c.gantryAs(nobody, "kill", fmt.Sprint(rootJob))
		if r.code == 0 || !strings.Contains(r.stderr, "may not kill") {
			t.Errorf("nobody killed root's job: %+v", r)
		}
		if j := c.job(rootJob); j.State != api.StateRunning || j.KillRequested {
			t.Errorf("root's job after nobody's kill: %s kill=%v", j.State, j.KillRequested)
		}
		c.gantry("kill", fmt.Sprint(rootJob))
		c.waitState(rootJob, time.Minute, api.StateCancelled)
	})
}

// TestAccounting checks gantry acct against jobs whose outcome is known.
func TestAccounting(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0-1", "1G")
	ok := c.submit(0, "-n", "2", "-o", "/dev/null", "--", "true")
	oom := c.submit(0, "-M", "64M", "-o", "/dev/null", "--", "dd", "if=/dev/zero", "of=/dev/null", "bs=300M", "count=1")
	mine := c.submit(nobody, "-o", "/dev/null", "--", "true")
	for _, id := range []int64{ok, oom, mine} {
		c.waitState(id, time.Minute, api.StateSucceeded, api.StateFailed)
	}
	r := c.gantry("acct", "-a", "--format", "csv")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if r.code != 0 || len(lines) != 4 || !strings.HasPrefix(lines[0], "job_id,array_id,array_index,name,user") {
		t.Fatalf("gantry acct --format csv: %+v", r)
	}
	var oomLine string
	for _, l := range lines {
		if strings.HasPrefix(l, fmt.Sprintf("%d,", oom)) {
			oomLine = l
		}
	}
	if !strings.Contains(oomLine, ",67108864,67108864,") || !strings.Contains(oomLine, ",FAILED,137,memory limit 64.0MiB exceeded (OOM kill),") {
		t.Errorf("OOM job's record: %s", oomLine)
	}
	r = c.gantryAs(nobody, "acct")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprint(mine)) || strings.Contains(r.stdout, "root") || !strings.Contains(r.stdout, "1 jobs;") {
		t.Errorf("nobody's own accounting: %+v", r)
	}
	if r := c.gantryAs(nobody, "acct", "-a"); r.code == 0 || !strings.Contains(r.stderr, "may not read the accounting") {
		t.Errorf("nobody read everyone's accounting: %+v", r)
	}
	if r := c.gantry("acct", "--since", "yesterday-ish"); r.code != 2 || !strings.Contains(r.stderr, `"yesterday-ish"`) {
		t.Errorf("bad --since: %+v", r)
	}
	if r := c.gantry("acct", "-a", "--state", "FAILED", "--since", "1h"); !strings.Contains(r.stdout, "1 jobs;") {
		t.Errorf("filtered accounting:\n%s", r.stdout)
	}
}

// TestServerCrash kills the server with SIGKILL while jobs pend and run,
// restarts it, and checks nothing acknowledged was lost or run twice.
func TestServerCrash(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0", "1G") // one core: jobs run one at a time

	done := c.submit(0, "-o", "done.%J", "--", "echo", "finished before the crash")
	c.waitState(done, time.Minute, api.StateSucceeded)
	// Each job appends its id to a shared file, so a second run would show.
	running := c.submit(0, "-o", "crash.%J", "--", "sh", "-c", "echo run >> runs.$GANTRY_JOB_ID; sleep 3")
	c.waitState(running, time.Minute, api.StateRunning)
	var pending []int64
	for range 3 {
		pending = append(pending, c.submit(0, "-o", "crash.%J", "--", "sh", "-c", "echo run >> runs.$GANTRY_JOB_ID"))
	}

	c.server.crash()
	time.Sleep(4 * time.Second) // the running job ends while the server is down
	c.startServer()

	if j := c.job(done); j.State != api.StateSucceeded || j.ExitCode == nil || *j.ExitCode != 0 {
		t.Errorf("finished job after restart: %+v", j)
	}
	for _, id := range append([]int64{running}, pending...) {
		j := c.waitState(id, time.Minute, api.StateSucceeded)
		if runs := c.output(fmt.Sprintf("runs.%d", id)); runs != "run\n" {
			t.Errorf("job %d ran %d times", id, strings.Count(runs, "run"))
		}
		if id == running && j.StartTime == nil {
			t.Errorf("running job lost its start time: %+v", j)
		}
	}
	r := c.gantry("jobs", "--json")
	if got := strings.Count(r.stdout, `"id":`); got != 5 {
		t.Errorf("gantry jobs lists %d jobs after the restart, want 5:\n%s", got, r.stdout)
	}
}
