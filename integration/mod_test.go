package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

// TestModify changes a waiting job (no node: it cannot start) and checks
// the refusals.
func TestModify(t *testing.T) {
	c := newCluster(t)
	id := c.submit(0, "-n", "1", "-o", "/dev/null", "--", "true")
	if r := c.gantry("mod", fmt.Sprint(id), "-n", "4", "-W", "1:30", "-J", "renamed"); r.code != 0 || !strings.Contains(r.stdout, "are being changed") {
		t.Fatalf("gantry mod: %+v", r)
	}
	j := c.job(id)
	if j.Spec.Cores != 4 || j.Spec.WalltimeSeconds != 5400 || j.Spec.Name != "renamed" || j.State != api.StateRunnable {
		t.Errorf("modified job %+v", j.Spec)
	}
	if hist := c.gantry("hist", fmt.Sprint(id)).stdout; !strings.Contains(hist, "modified: name, cores, walltime") {
		t.Errorf("history:\n%s", hist)
	}
	if r := c.gantry("mod", fmt.Sprint(id), "-w", "done(99999)"); r.code != 0 || c.job(id).State != api.StatePending {
		t.Errorf("adding a dependency: %+v, state %s", r, c.job(id).State)
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"mod", fmt.Sprint(id)}, "nothing to change"},
		{[]string{"mod", fmt.Sprint(id), "-M", "lots"}, `"lots"`},
		{[]string{"mod", fmt.Sprint(id), "-q", "nope"}, `queue "nope"`},
		{[]string{"mod", fmt.Sprint(id), "-n", "0"}, "cores 0"},
		{[]string{"mod", "424242", "-n", "2"}, "job 424242"},
	}
	for _, tt := range bad {
		if r := c.gantry(tt.args...); r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("gantry %v: %+v, want an error with %q", tt.args, r, tt.want)
		}
	}
	if r := c.gantryAs(nobody, "mod", fmt.Sprint(id), "-n", "2"); r.code == 0 || !strings.Contains(r.stderr, "may not modify") {
		t.Errorf("nobody modified root's job: %+v", r)
	}
	c.gantry("kill", fmt.Sprint(id))
	if r := c.gantry("mod", fmt.Sprint(id), "-n", "2"); r.code == 0 || !strings.Contains(r.stderr, "CANCELLED") {
		t.Errorf("modified a cancelled job: %+v", r)
	}
}
