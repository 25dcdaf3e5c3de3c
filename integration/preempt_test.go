package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestPreemption runs a job of a queue that may preempt another on a full
// node: the victim is requeued (and runs again afterwards), or, with
// preempt_mode suspend, frozen until the preemptor ends and then resumed.
func TestPreemption(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("p1", "0-1", "1G")
	for _, q := range [][]string{
		{"scavenger", "--priority", "1"},
		{"urgent", "--priority", "100", "--preempts", "scavenger", "--preempt-mode", "requeue"},
		{"gentle", "--priority", "100", "--preempts", "scavenger", "--preempt-mode", "suspend"},
	} {
		if r := c.gantry(append([]string{"queue", "add"}, q...)...); r.code != 0 {
			t.Fatalf("queue add %v: %s", q, r.stderr)
		}
	}

	for _, tt := range []struct{ queue, mode string }{{"urgent", "requeue"}, {"gentle", "suspend"}} {
		t.Run(tt.mode, func(t *testing.T) {
			c := c.with(t)
			victim := c.submitQ(0, "scavenger", "-n", "2", "-W", "10", "-o", "/dev/null", "--", "sleep", "4")
			c.waitState(victim, time.Minute, api.StateRunning)
			boss := c.submitQ(0, tt.queue, "-n", "2", "-W", "10", "-o", "/dev/null", "--", "sleep", "1")
			c.waitState(boss, time.Minute, api.StateRunning)
			v := c.job(victim)
			hist := c.gantry("hist", fmt.Sprint(victim)).stdout
			if !strings.Contains(hist, fmt.Sprintf("preempted by job %d", boss)) {
				t.Errorf("victim's history does not name its preemptor:\n%s", hist)
			}
			if tt.mode == "requeue" && (v.Attempt != 2 || v.State != api.StateRunnable) {
				t.Errorf("requeued victim: %s attempt %d", v.State, v.Attempt)
			}
			if tt.mode == "suspend" {
				c.waitFor("the victim to be frozen", 20*time.Second, func() bool { return c.job(victim).Suspended })
			}
			c.waitState(boss, time.Minute, api.StateSucceeded)
			// The victim runs again (requeue) or is thawed (suspend), and
			// finishes.
			v = c.waitState(victim, time.Minute, api.StateSucceeded)
			if tt.mode == "suspend" && v.Attempt > 1 {
				t.Errorf("suspended victim ran again as attempt %d", v.Attempt)
			}
		})
	}
}

// TestQueueNodeSelector runs a queue's jobs only on the nodes whose labels
// match its selector, and a job with a host list (bsub -m, gantry sub -m)
// only on those hosts.
func TestQueueNodeSelector(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("cpu1", "0", "512M", "--label", "kind=cpu")
	c.startNode("gpu1", "1", "512M", "--label", "kind=gpu", "--label", "rack=r2")
	if r := c.gantry("queue", "add", "gpuq", "--nodes", "kind=gpu"); r.code != 0 {
		t.Fatalf("queue add: %s", r.stderr)
	}
	for range 3 {
		id := c.submitQ(0, "gpuq", "-o", "/dev/null", "--", "true")
		if j := c.waitState(id, time.Minute, api.StateSucceeded); j.Node != "gpu1" {
			t.Errorf("a job of queue gpuq ran on %s", j.Node)
		}
	}
	if r := c.gantry("queue", "add", "nowhere", "--nodes", "kind=tpu"); r.code != 0 {
		t.Fatalf("queue add: %s", r.stderr)
	}
	id := c.submitQ(0, "nowhere", "-o", "/dev/null", "--", "true")
	c.waitFor("a reason", 10*time.Second, func() bool { return c.job(id).Reason != "" })
	if j := c.job(id); j.State != api.StateRunnable || !strings.Contains(j.Reason, "no node has what it selects (kind=tpu)") {
		t.Errorf("a job no node may run is %s (%s)", j.State, j.Reason)
	}
	c.gantry("kill", fmt.Sprint(id))

	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"sub", "-m", "cpu1", "-o", "/dev/null", "--", "true"}, "cpu1"},
		{[]string{"sub", "-m", "gpu1", "-q", "normal", "-o", "/dev/null", "--", "true"}, "gpu1"},
	} {
		for range 2 {
			r := c.gantry(tt.args...)
			var jid int64
			fmt.Sscanf(r.stdout, "Job <%d>", &jid)
			if j := c.waitState(jid, time.Minute, api.StateSucceeded); j.Node != tt.want {
				t.Errorf("gantry %v ran on %s", tt.args, j.Node)
			}
		}
	}
	// Labels: bsub select[], gantry sub --label; LSF's own resources
	// (type==X86_64) are recorded, not enforced.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-R", "select[kind==gpu]"}, "gpu1"},
		{[]string{"-R", "select[defined(rack)]"}, "gpu1"},
		{[]string{"-R", "select[kind==cpu && type==X86_64]"}, "cpu1"},
	} {
		r := c.lsf("", append(append([]string{"bsub", "-K", "-oo", "/dev/null"}, tt.args...), "true")...)
		if j := c.job(c.bsubID(r)); j.Node != tt.want {
			t.Errorf("bsub %v ran on %s", tt.args, j.Node)
		}
	}
	r := c.gantry("sub", "--label", "kind=cpu", "-o", "/dev/null", "--", "true")
	var lid int64
	fmt.Sscanf(r.stdout, "Job <%d>", &lid)
	if j := c.waitState(lid, time.Minute, api.StateSucceeded); j.Node != "cpu1" {
		t.Errorf("gantry sub --label kind=cpu ran on %s", j.Node)
	}

	r = c.lsf("", "bsub", "-K", "-m", "gpu1+2 others", "-oo", "/dev/null", "true")
	if r.code != 0 {
		t.Errorf("bsub -m with others: %+v", r)
	}
	r = c.lsf("", "bsub", "-K", "-m", "gpu1", "-oo", "/dev/null", "true")
	if j := c.job(c.bsubID(r)); j.Node != "gpu1" || !slices.Equal(j.Spec.Hosts, []string{"gpu1"}) {
		t.Errorf("bsub -m gpu1 ran on %s (hosts %v)", j.Node, j.Spec.Hosts)
	}
}
