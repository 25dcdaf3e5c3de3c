package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestReservations reserves a node for maintenance in 20 minutes: a job
// that ends before then starts, jobs that would reach into it wait; once
// the reservation is removed they start.
func TestReservations(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0-1", "1G")
	start := time.Now().Add(20 * time.Minute).UTC().Format(time.RFC3339)
	if r := c.gantryAs(nobody, "reserve", "--nodes", "n1", "--start", start, "--duration", "1h", "--reason", "x"); r.code == 0 {
		t.Errorf("nobody reserved a node: %+v", r)
	}
	if r := c.gantry("reserve", "--nodes", "nosuch", "--start", start, "--duration", "1h", "--reason", "x"); r.code == 0 || !strings.Contains(r.stderr, `node "nosuch"`) {
		t.Errorf("reservation of an unknown node: %+v", r)
	}
	r := c.gantry("reserve", "--nodes", "n1", "--start", start, "--duration", "1h", "--reason", "firmware")
	if r.code != 0 || !strings.Contains(r.stdout, "Reservation <1> on n1") {
		t.Fatalf("gantry reserve: %+v", r)
	}
	if r := c.gantry("reservations"); !strings.Contains(r.stdout, "firmware") {
		t.Errorf("gantry reservations:\n%s", r.stdout)
	}
	short := c.submit(0, "-W", "10", "-o", "/dev/null", "--", "sleep", "1")
	long := c.submit(0, "-W", "30", "-o", "/dev/null", "--", "true")
	open := c.submit(0, "-o", "/dev/null", "--", "true")
	c.waitState(short, time.Minute, api.StateRunning, api.StateSucceeded)
	c.waitFor("the reasons of the waiting jobs", 10*time.Second, func() bool { return c.job(long).Reason != "" && c.job(open).Reason != "" })
	for _, id := range []int64{long, open} {
		if j := c.job(id); j.State != api.StateRunnable {
			t.Errorf("job %d %s (%s): it would reach into the reservation", id, j.State, j.Reason)
		}
	}
	t.Logf("waiting reason: %s", c.job(long).Reason)
	if r := c.gantry("reservations", "rm", "1"); r.code != 0 {
		t.Fatalf("reservations rm: %+v", r)
	}
	for _, id := range []int64{long, open} {
		c.waitState(id, time.Minute, api.StateSucceeded)
	}
	if r := c.gantry("reservations", "rm", fmt.Sprint(1)); r.code == 0 {
		t.Errorf("removed a reservation twice: %+v", r)
	}
}
