package integration

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestNodeHealth drains a node whose health-check script fails, with the
// script's reason, keeps jobs off it, and resumes it when the script passes
// again; an admin's drain is never lifted by a passing check.
func TestNodeHealth(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	sick := filepath.Join(c.dir, "sick")
	script := filepath.Join(c.dir, "health.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nif [ -e "+sick+" ]; then echo 'scratch disk full'; exit 1; fi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.startNode("h1", "0-1", "1G", "--health-check", script, "--health-interval", "200ms", "--heartbeat-interval", "500ms")
	node := func() api.Node {
		n, err := c.client.Node(context.Background(), "h1")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	os.WriteFile(sick, nil, 0o644)
	c.waitFor("the node to be drained", 30*time.Second, func() bool { return node().Drain != nil })
	if d := node().Drain; d.By != api.HealthDrainer || !strings.Contains(d.Reason, "health check health.sh failed (exit 1): scratch disk full") {
		t.Errorf("drain %+v", d)
	}
	id := c.submit(0, "-o", "/dev/null", "--", "true")
	c.waitFor("the job's reason", 10*time.Second, func() bool { return c.job(id).Reason != "" })
	if j := c.job(id); j.State != api.StateRunnable || !strings.Contains(j.Reason, "drained or down") {
		t.Errorf("job on a drained node: %s %q", j.State, j.Reason)
	}

	os.Remove(sick)
	c.waitFor("the node to be resumed", 30*time.Second, func() bool { return node().Drain == nil })
	c.waitState(id, time.Minute, api.StateSucceeded)

	// An admin's drain stays when the checks pass.
	if r := c.gantry("drain", "h1", "--reason", "firmware update"); r.code != 0 {
		t.Fatalf("drain: %+v", r)
	}
	os.WriteFile(sick, nil, 0o644)
	time.Sleep(time.Second)
	os.Remove(sick)
	time.Sleep(time.Second)
	if d := node().Drain; d == nil || d.Reason != "firmware update" {
		t.Errorf("the admin's drain became %+v", d)
	}
}
