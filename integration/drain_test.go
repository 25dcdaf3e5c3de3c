package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestDrain drains a node with a job on it: no new job starts there, the
// node goes DRAINING then DRAINED, resume lets jobs start again, and a
// drain deadline kills what still runs.
func TestDrain(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t, "--heartbeat-timeout", "10s")
	c.startNode("n1", "0", "1G")

	first := c.submit(0, "-o", "drain.%J", "--", "sleep", "2")
	c.waitState(first, time.Minute, api.StateRunning)
	if r := c.gantryAs(nobody, "drain", "n1", "--reason", "mine"); r.code == 0 {
		t.Errorf("nobody drained a node: %+v", r)
	}
	if r := c.gantry("drain", "n1"); r.code != 2 || !strings.Contains(r.stderr, "reason") {
		t.Errorf("drain without a reason: %+v", r)
	}
	if r := c.gantry("drain", "n1", "--reason", "swap the fan"); r.code != 0 || !strings.Contains(r.stdout, "Node <n1> is DRAINING") {
		t.Fatalf("gantry drain: %+v", r)
	}
	second := c.submit(0, "-o", "drain.%J", "--", "true")
	c.waitState(first, time.Minute, api.StateSucceeded)
	time.Sleep(500 * time.Millisecond)
	if j := c.job(second); j.State != api.StateRunnable {
		t.Errorf("a job started on a drained node: %s", j.State)
	}
	r := c.gantry("nodes")
	if !strings.Contains(r.stdout, "DRAINED") || !strings.Contains(r.stdout, "swap the fan (root,") {
		t.Errorf("gantry nodes after the drain:\n%s", r.stdout)
	}
	if r := c.gantry("resume", "n1"); r.code != 0 || !strings.Contains(r.stdout, "Node <n1> is UP") {
		t.Fatalf("gantry resume: %+v", r)
	}
	c.waitState(second, time.Minute, api.StateSucceeded)

	// A deadline kills what still runs.
	long := c.submit(0, "-o", "drain.%J", "--", "sleep", "600")
	c.waitState(long, time.Minute, api.StateRunning)
	if r := c.gantry("drain", "n1", "--reason", "reboot", "--deadline", "1s"); r.code != 0 {
		t.Fatalf("drain with a deadline: %+v", r)
	}
	c.waitState(long, time.Minute, api.StateCancelled)
	hist := c.gantry("hist", fmt.Sprint(long)).stdout
	if !strings.Contains(hist, "drain deadline of node n1 passed (reboot)") {
		t.Errorf("history does not say why the job was killed:\n%s", hist)
	}
	// With --requeue, what still runs at the deadline moves to another
	// node as its next try.
	c.gantry("resume", "n1")
	moved := c.submit(0, "-o", "/dev/null", "--", "sleep", "600")
	if j := c.waitState(moved, time.Minute, api.StateRunning); j.Node != "n1" {
		t.Fatalf("job on %s", j.Node)
	}
	c.startNode("n2", "1", "1G")
	if r := c.gantry("drain", "n1", "--reason", "swap", "--deadline", "1s", "--requeue"); r.code != 0 {
		t.Fatalf("drain --requeue: %+v", r)
	}
	c.waitFor("the job to run again on n2", time.Minute, func() bool {
		j := c.job(moved)
		return j.State == api.StateRunning && j.Node == "n2" && j.Attempt == 2
	})
	if r := c.gantry("drain", "n1", "--reason", "x", "--requeue"); r.code == 0 || !strings.Contains(r.stderr, "needs a deadline") {
		t.Errorf("--requeue without a deadline: %+v", r)
	}
	if r := c.gantry("drain", "nosuch", "--reason", "x"); r.code == 0 || !strings.Contains(r.stderr, "node nosuch") {
		t.Errorf("drain of an unknown node: %+v", r)
	}
}
