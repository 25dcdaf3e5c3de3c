package integration

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestNodeDaemonCrash SIGKILLs every node daemon while 20 jobs run, keeps
// them down while about half of the jobs end, restarts them, and checks
// that all 20 jobs finish with their real exit codes: the ones that ended
// while no daemon was there (their supervisors wrote result.json) and the
// ones still running at the restart (re-adopted through their supervisor's
// pidfd).
//
// The scheduler gives each job exclusive cores, and this may be a 2-core
// machine, so the 20 jobs run on 10 node daemons offering CPUs 0-1 each,
// separate nodes to the server as they would be separate hosts.
func TestNodeDaemonCrash(t *testing.T) {
	requireJobHost(t)
	if testing.Short() {
		t.Skip("short: starts 10 node daemons and 20 jobs")
	}
	const nodes, jobs = 10, 20
	c := newCluster(t)
	for i := range nodes {
		c.startNode(fmt.Sprintf("crash%02d", i), "0-1", "512M")
	}

	// Job i exits with i+1 (so a lost status, reported as 0 or 1, cannot
	// pass), after 1 s for even i (ends while the daemons are down) or 8 s
	// for odd i (ends after the restart). Each writes its start to a file,
	// to show it ran exactly once.
	ids := make([]int64, jobs)
	for i := range jobs {
		sleep := 1
		if i%2 == 1 {
			sleep = 8
		}
		script := fmt.Sprintf("echo $GANTRY_JOB_ID >> started.$GANTRY_JOB_ID; echo running; sleep %d; exit %d", sleep, i+1)
		ids[i] = c.submit(0, "-n", "1", "-M", "32M", "-o", "crash.%J", "--", "sh", "-c", script)
	}
	c.waitFor("all 20 jobs to run", 60*time.Second, func() bool {
		for _, id := range ids {
			if _, err := os.Stat(fmt.Sprintf("%s/started.%d", c.work, id)); err != nil {
				return false
			}
		}
		return true
	})

	for name, p := range c.nodes {
		p.crash()
		t.Logf("node daemon %s killed with SIGKILL", name)
	}
	// Down long enough for the short jobs to end unobserved.
	time.Sleep(3 * time.Second)
	for i := range nodes {
		c.startNode(fmt.Sprintf("crash%02d", i), "0-1", "512M")
	}

	for i, id := range ids {
		j := c.waitState(id, 60*time.Second, api.StateFailed)
		if j.ExitCode == nil || *j.ExitCode != i+1 {
			t.Errorf("job %d (%d): exit code %v, want %d (reason %q)", i, id, fmtCode(j.ExitCode), i+1, j.Reason)
		}
		if got := c.output(fmt.Sprintf("started.%d", id)); strings.Count(got, "\n") != 1 {
			t.Errorf("job %d started %d times", id, strings.Count(got, "\n"))
		}
		if got := c.output(fmt.Sprintf("crash.%d", id)); !strings.Contains(got, "running") {
			t.Errorf("job %d output %q", id, got)
		}
	}
}

func fmtCode(p *int) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}
