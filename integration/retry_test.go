package integration

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestRetries runs a job whose first try fails with a retried exit code.
func TestRetries(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0", "1G")
	id := c.submit(0, "--retry", "3", "--retry-on", "exit=3", "-o", "retry.%J", "--",
		"sh", "-c", `echo "$GANTRY_ATTEMPT" >> tries.$GANTRY_JOB_ID; [ "$GANTRY_ATTEMPT" -ge 2 ] || exit 3`)
	j := c.waitState(id, time.Minute, api.StateSucceeded)
	if j.Attempt != 2 {
		t.Errorf("succeeded on attempt %d, want 2", j.Attempt)
	}
	if got := c.output(fmt.Sprintf("tries.%d", id)); got != "1\n2\n" {
		t.Errorf("tries %q", got)
	}
	hist := c.gantry("hist", fmt.Sprint(id)).stdout
	if !strings.Contains(hist, "attempt 1 of 3: exited with code 3; retrying") {
		t.Errorf("history:\n%s", hist)
	}
	// An exit code the strategy does not name ends the job.
	other := c.submit(0, "--retry", "3", "--retry-on", "exit=3", "-o", "retry.%J", "--", "sh", "-c", "exit 4")
	if j := c.waitState(other, time.Minute, api.StateFailed); j.Attempt != 1 {
		t.Errorf("exit 4 was retried: attempt %d", j.Attempt)
	}
	if r := c.gantry("sub", "--retry", "11", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "retry attempts 11") {
		t.Errorf("--retry 11 accepted: %+v", r)
	}
}

// TestNodeFailure stops a node daemon past the heartbeat timeout: its
// jobs end NODE_FAIL, or move to another node when they retry on node
// failure; when it comes back, it kills the stale runs.
func TestNodeFailure(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t, "--heartbeat-timeout", "3s")
	c.startNode("n1", "0", "1G", "--heartbeat-interval", "300ms")
	plain := c.submit(0, "-o", "/dev/null", "--", "sleep", "600")
	c.waitState(plain, time.Minute, api.StateRunning)
	c.startNode("n2", "1", "1G", "--heartbeat-interval", "300ms")
	requeued := c.submit(0, "--retry", "2", "--retry-on", "node-fail", "-o", "/dev/null", "--", "sleep", "600")
	j := c.waitState(requeued, time.Minute, api.StateRunning)
	if j.Node != "n2" {
		t.Fatalf("second job on %s, want n2", j.Node)
	}
	// Stop n2 (the one with the retrying job) and, at the same time, n1.
	for _, n := range []string{"n1", "n2"} {
		c.nodes[n].cmd.Process.Signal(syscall.SIGSTOP)
	}
	j = c.waitState(plain, time.Minute, api.StateNodeFail)
	if !strings.Contains(j.Reason, "node n1 lost") {
		t.Errorf("NODE_FAIL reason %q", j.Reason)
	}
	c.waitFor("the retrying job to be requeued", time.Minute, func() bool { return c.job(requeued).Attempt == 2 })
	// n1 comes back first: the retrying job runs there, its second try.
	c.nodes["n1"].cmd.Process.Signal(syscall.SIGCONT)
	j = c.waitState(requeued, time.Minute, api.StateRunning)
	if j.Node != "n1" || j.Attempt != 2 {
		t.Errorf("requeued job runs on %s attempt %d, want n1 attempt 2", j.Node, j.Attempt)
	}
	// n2 comes back and kills its stale first try.
	c.nodes["n2"].cmd.Process.Signal(syscall.SIGCONT)
	c.waitFor("n2 to kill the stale try", time.Minute, func() bool {
		return strings.Contains(c.nodes["n2"].log.String(), `msg="killing job" node=n2 job_id=2 attempt=1 requested=false`)
	})
	c.waitFor("n1 to kill the stale run of the failed job", time.Minute, func() bool {
		return strings.Contains(c.nodes["n1"].log.String(), `msg="killing job" node=n1 job_id=1 attempt=1 requested=false`)
	})
	if j := c.job(requeued); j.State != api.StateRunning || j.Attempt != 2 {
		t.Errorf("the stale try's end changed the job: %s attempt %d", j.State, j.Attempt)
	}
	c.gantry("kill", fmt.Sprint(requeued))
	c.waitState(requeued, time.Minute, api.StateCancelled)
}
