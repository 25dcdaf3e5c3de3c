package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestQueueOrderAndLimits checks what the queues do at dispatch: a higher
// priority queue's job starts first, a per-user limit holds jobs back, and
// an inactive queue starts nothing.
func TestQueueOrderAndLimits(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	for _, q := range [][]string{
		{"low", "--priority", "1"}, {"high", "--priority", "100"}, {"lim", "--max-running-jobs-per-user", "1"},
	} {
		if r := c.gantry(append([]string{"queue", "add"}, q...)...); r.code != 0 {
			t.Fatalf("queue add %v: %+v", q, r)
		}
	}
	c.startNode("n1", "0", "1G")
	blocker := c.submit(0, "-o", "/dev/null", "--", "sleep", "2")
	c.waitState(blocker, time.Minute, api.StateRunning)
	low := c.submitQ(0, "low", "-o", "/dev/null", "--", "sleep", "1")
	high := c.submitQ(0, "high", "-o", "/dev/null", "--", "sleep", "1")
	c.waitFor("priorities", 10*time.Second, func() bool { return c.job(low).Priority != nil && c.job(high).Priority != nil })
	if pl, ph := c.job(low).Priority, c.job(high).Priority; ph.Priority <= pl.Priority || ph.Queue <= pl.Queue {
		t.Errorf("priorities: high %+v, low %+v", ph, pl)
	}
	if out := c.gantry("job", "2").stdout; !strings.Contains(out, "Priority:") {
		t.Errorf("gantry job shows no priority:\n%s", out)
	}
	h := c.waitState(high, time.Minute, api.StateRunning)
	if l := c.job(low); l.State != api.StateRunnable {
		t.Errorf("low-priority job %s while the high one runs", l.State)
	}
	c.waitState(low, time.Minute, api.StateSucceeded)
	if l := c.job(low); !l.StartTime.After(*h.StartTime) {
		t.Errorf("low started %v, before high %v", l.StartTime, h.StartTime)
	}

	// A per-user limit of one running job.
	c.startNode("n2", "1", "1G")
	a := c.submitQ(0, "lim", "-o", "/dev/null", "--", "sleep", "2")
	b := c.submitQ(0, "lim", "-o", "/dev/null", "--", "sleep", "1")
	c.waitState(a, time.Minute, api.StateRunning)
	c.waitFor("the limit reason", 10*time.Second, func() bool { return c.job(b).Reason != "" })
	if j := c.job(b); j.State != api.StateRunnable || !strings.Contains(j.Reason, "limit") {
		t.Errorf("second job in a one-job-per-user queue: %s %q", j.State, j.Reason)
	}
	c.waitState(b, time.Minute, api.StateSucceeded)

	// An inactive queue starts nothing until activated.
	c.gantry("queue", "inactivate", "low")
	idle := c.submitQ(0, "low", "-o", "/dev/null", "--", "true")
	time.Sleep(time.Second)
	if j := c.job(idle); j.State != api.StateRunnable {
		t.Errorf("a job of an inactive queue is %s", j.State)
	}
	c.gantry("queue", "activate", "low")
	c.waitState(idle, time.Minute, api.StateSucceeded)
}

// TestTopBottom reorders a user's waiting jobs with gantry top and bot.
func TestTopBottom(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0", "1G")
	blocker := c.submit(0, "-o", "/dev/null", "--", "sleep", "2")
	c.waitState(blocker, time.Minute, api.StateRunning)
	a := c.submit(0, "-o", "/dev/null", "--", "sleep", "0.3")
	b := c.submit(0, "-o", "/dev/null", "--", "sleep", "0.3")
	last := c.submit(0, "-o", "/dev/null", "--", "sleep", "0.3")
	if r := c.gantry("top", fmt.Sprint(last)); r.code != 0 || !strings.Contains(r.stdout, "is moved to the top") {
		t.Fatalf("gantry top: %+v", r)
	}
	if r := c.gantry("bot", fmt.Sprint(a)); r.code != 0 {
		t.Fatalf("gantry bot: %+v", r)
	}
	if r := c.gantryAs(nobody, "top", fmt.Sprint(b)); r.code == 0 {
		t.Errorf("nobody moved root's job: %+v", r)
	}
	var starts []time.Time
	for _, id := range []int64{last, b, a} {
		j := c.waitState(id, time.Minute, api.StateSucceeded)
		starts = append(starts, *j.StartTime)
	}
	if !starts[0].Before(starts[1]) || !starts[1].Before(starts[2]) {
		t.Errorf("start order %v, want the moved-up job first and the moved-down one last", starts)
	}
	if r := c.gantry("top", fmt.Sprint(a)); r.code == 0 || !strings.Contains(r.stderr, "SUCCEEDED") {
		t.Errorf("moved a finished job: %+v", r)
	}
}
