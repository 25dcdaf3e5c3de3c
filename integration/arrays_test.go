package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestArrays runs job arrays end to end: elements start as resources and
// the throttle allow, each knows its index, and arrays and elements can be
// inspected and cancelled.
func TestArrays(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0-1", "1G")

	id := c.submit(0, "-J", "sweep[1-6]%2", "-o", "arr.%J.%I", "--", "sh", "-c", `echo "index $GANTRY_ARRAY_INDEX of $LSB_JOBID"; sleep 0.2`)
	r := c.gantry("wait", fmt.Sprint(id), "--timeout", "120s")
	if r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("Job <%d> SUCCEEDED: all 6 elements succeeded", id)) {
		t.Fatalf("gantry wait on the array: %+v", r)
	}
	for i := 1; i <= 6; i++ {
		if got, want := c.output(fmt.Sprintf("arr.%d.%d", id, i)), fmt.Sprintf("index %d of %d\n", i, id); got != want {
			t.Errorf("element %d wrote %q, want %q", i, got, want)
		}
	}
	j := c.job(id)
	if j.Elements[api.StateSucceeded] != 6 {
		t.Errorf("array element counts %v", j.Elements)
	}
	// At most two elements ran at once: the throttle. Their start and end
	// events tell.
	running, most := 0, 0
	var all []api.Event
	c.client.Events(t.Context(), 0, []int64{id}, false, func(e api.Event) bool { all = append(all, e); return true })
	for _, e := range all {
		if e.ArrayID != id {
			continue
		}
		switch {
		case e.State == api.StateStarting:
			running++
		case e.State.Terminal():
			running--
		}
		most = max(most, running)
	}
	if most != 2 {
		t.Errorf("at most %d elements ran at once, want 2 (the throttle)", most)
	}
	if r := c.gantry("job", fmt.Sprintf("%d[4]", id)); r.code != 0 || !strings.Contains(r.stdout, fmt.Sprintf("Job:            %d[4]", id)) {
		t.Errorf("gantry job ID[4]: %+v", r)
	}

	// Cancel one element before it starts, then the whole array.
	big := c.submit(0, "-J", "long[1-50]%1", "-o", "/dev/null", "--", "sleep", "600")
	c.waitFor("the first element to run", time.Minute, func() bool { return c.job(big).Elements[api.StateRunning] == 1 })
	if r := c.gantry("kill", fmt.Sprintf("%d[30]", big)); r.code != 0 || !strings.Contains(r.stdout, "is cancelled") {
		t.Errorf("kill of a waiting element: %+v", r)
	}
	if r := c.gantry("kill", fmt.Sprint(big)); r.code != 0 {
		t.Fatalf("kill array: %+v", r)
	}
	j = c.waitState(big, time.Minute, api.StateCancelled)
	if j.Elements[api.StateCancelled] != 50 {
		t.Errorf("cancelled array counts %v", j.Elements)
	}
	if r := c.gantry("sub", "-J", "bad[5-1]", "--", "true"); r.code != 2 || !strings.Contains(r.stderr, `range "5-1"`) {
		t.Errorf("bad array accepted: %+v", r)
	}
}
