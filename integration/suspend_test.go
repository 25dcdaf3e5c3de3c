package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestSuspendContinue freezes a running job through the CLI: it stops
// making progress and its walltime clock stops; continued, it goes on.
func TestSuspendContinue(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0", "1G", "--heartbeat-interval", "300ms")
	id := c.submit(0, "-W", "8s", "-o", "count.%J", "--", "sh", "-c", `i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo $i > n.$GANTRY_JOB_ID; sleep 0.1; done`)
	c.waitState(id, time.Minute, api.StateRunning)
	count := func() string { return strings.TrimSpace(c.output(fmt.Sprintf("n.%d", id))) }
	c.waitFor("the job to count", 10*time.Second, func() bool { return c.fileExists(fmt.Sprintf("n.%d", id)) })
	if r := c.gantryAs(nobody, "suspend", fmt.Sprint(id)); r.code == 0 {
		t.Errorf("nobody suspended root's job: %+v", r)
	}
	if r := c.gantry("suspend", fmt.Sprint(id)); r.code != 0 || !strings.Contains(r.stdout, "is being suspended") {
		t.Fatalf("gantry suspend: %+v", r)
	}
	c.waitFor("the node to report the job suspended", 20*time.Second, func() bool { return c.job(id).Suspended })
	frozen := count()
	time.Sleep(9 * time.Second) // past the walltime: a frozen job's clock stops
	if got := count(); got != frozen {
		t.Errorf("a suspended job counted on: %s then %s", frozen, got)
	}
	if j := c.job(id); j.State != api.StateRunning {
		t.Fatalf("suspended job %s (%s)", j.State, j.Reason)
	}
	if r := c.gantry("continue", fmt.Sprint(id)); r.code != 0 {
		t.Fatalf("gantry continue: %+v", r)
	}
	c.waitState(id, time.Minute, api.StateSucceeded)
	if count() != "40" {
		t.Errorf("the job stopped at %s", count())
	}
	if hist := c.gantry("hist", fmt.Sprint(id)).stdout; !strings.Contains(hist, "suspended") || !strings.Contains(hist, "continued") {
		t.Errorf("history:\n%s", hist)
	}

	if r := c.gantry("suspend", fmt.Sprint(id)); r.code == 0 || !strings.Contains(r.stderr, "not running") {
		t.Errorf("suspended a finished job: %+v", r)
	}
}
