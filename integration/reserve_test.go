package integration

import (
	"encoding/json"
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

// TestAdvanceReservation runs a user's job in an advance reservation for
// that user (gantry reserve --users, bsub -U), keeps everyone else's jobs
// off its node meanwhile, and refuses jobs that may not enter it.
func TestAdvanceReservation(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("a1", "0-1", "1G")
	start := time.Now().Add(-time.Minute).Format("2006-01-02 15:04")
	r := c.gantry("reserve", "--nodes", "a1", "--start", start, "--duration", "2h", "--reason", "nobody's demo", "--users", "nobody", "--json")
	var rsv api.Reservation
	if err := json.Unmarshal([]byte(r.stdout), &rsv); err != nil || r.code != 0 {
		t.Fatalf("reserve: %+v", r)
	}
	if r := c.gantry("reservations"); !strings.Contains(r.stdout, "nobody") {
		t.Errorf("gantry reservations:\n%s", r.stdout)
	}
	// root's plain job stays off the reserved node.
	other := c.submit(0, "-W", "10", "-o", "/dev/null", "--", "true")
	// nobody's job in the reservation runs there.
	r = c.gantryAs(nobody, "sub", "-U", fmt.Sprint(rsv.ID), "-W", "10", "-o", "/dev/null", "--", "true")
	var mine int64
	if _, err := fmt.Sscanf(r.stdout, "Job <%d>", &mine); err != nil {
		t.Fatalf("sub -U: %+v", r)
	}
	if j := c.waitState(mine, time.Minute, api.StateSucceeded); j.Node != "a1" {
		t.Errorf("the reservation's job ran on %q", j.Node)
	}
	if j := c.job(other); j.State != api.StateRunnable || !strings.Contains(j.Reason, "maintenance window") {
		t.Errorf("a job outside the reservation is %s (%s)", j.State, j.Reason)
	}
	for _, tt := range []struct {
		uid  int
		args []string
		want string
	}{
		{1000, []string{"-U", fmt.Sprint(rsv.ID), "-W", "10"}, "may not run jobs in it"},
		{nobody, []string{"-U", fmt.Sprint(rsv.ID)}, "needs a walltime"},
		{nobody, []string{"-U", "999", "-W", "10"}, "reservation 999: no such reservation"},
	} {
		r := c.gantryAs(tt.uid, append(append([]string{"sub"}, tt.args...), "-o", "/dev/null", "--", "true")...)
		if r.code == 0 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("sub %v as %d: %+v", tt.args, tt.uid, r)
		}
	}
	c.gantry("kill", fmt.Sprint(other))
}
