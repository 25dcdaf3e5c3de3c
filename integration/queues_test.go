package integration

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestQueues defines queues from a file and through the CLI, and checks
// admission: the ACL, closed queues, walltime limits, and a SIGHUP reload.
func TestQueues(t *testing.T) {
	file := filepath.Join(t.TempDir(), "queues.toml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("[queues.short]\npriority = 10\nmax_walltime = \"0:10\"\nusers = [\"root\"]\n")
	c := newCluster(t, "--queues", file)

	r := c.gantry("queues")
	if r.code != 0 || !strings.Contains(r.stdout, "short") || !strings.Contains(r.stdout, "users=root") {
		t.Fatalf("gantry queues: %+v", r)
	}
	if r := c.gantry("sub", "-q", "short", "-W", "0:20", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "allows at most 10m0s") {
		t.Errorf("over the queue's max walltime: %+v", r)
	}
	if r := c.gantryAs(nobody, "sub", "-q", "short", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "may not submit") {
		t.Errorf("nobody submitted to a root-only queue: %+v", r)
	}
	if r := c.gantry("sub", "-q", "short", "--", "true"); r.code != 0 || !strings.Contains(r.stdout, "is submitted to queue <short>.") {
		t.Errorf("submit to short: %+v", r)
	}

	// The CLI: add, set, close, rm.
	if r := c.gantryAs(nobody, "queue", "add", "mine"); r.code == 0 {
		t.Errorf("nobody defined a queue: %+v", r)
	}
	if r := c.gantry("queue", "add", "long", "--priority", "5", "--default-walltime", "2:00", "--groups", "nogroup"); r.code != 0 {
		t.Fatalf("queue add: %+v", r)
	}
	if r := c.gantryAs(nobody, "sub", "-q", "long", "-H", "--", "true"); r.code != 0 {
		t.Errorf("nobody (group nogroup) submit to long: %+v", r)
	}
	if r := c.gantry("queue", "close", "long"); r.code != 0 || !strings.Contains(r.stdout, "Closed:Active") {
		t.Errorf("queue close: %+v", r)
	}
	if r := c.gantry("sub", "-q", "long", "--", "true"); r.code == 0 || !strings.Contains(r.stderr, "queue long is closed") {
		t.Errorf("submit to a closed queue: %+v", r)
	}
	if r := c.gantry("queue", "set", "long", "--max-walltime", "bogus"); r.code != 2 || !strings.Contains(r.stderr, `"bogus"`) {
		t.Errorf("queue set with a bad walltime: %+v", r)
	}
	if r := c.gantry("queue", "rm", "long"); r.code == 0 || !strings.Contains(r.stderr, "unfinished jobs") {
		t.Errorf("removed a queue with a held job: %+v", r)
	}

	// SIGHUP re-reads the file; a broken file changes nothing.
	write("[queues.short]\npriority = 99\n")
	c.server.cmd.Process.Signal(syscall.SIGHUP)
	c.waitFor("the reloaded queue", 10*time.Second, func() bool {
		return strings.Contains(c.gantry("queues").stdout, "short   99")
	})
	write("[queues.short]\npriority = \"x\"\n")
	c.server.cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(500 * time.Millisecond)
	if out := c.gantry("queues").stdout; !strings.Contains(out, "short   99") {
		t.Errorf("a broken queues file changed the queues:\n%s", out)
	}
	if !strings.Contains(c.server.log.String(), "keeping the old definitions") {
		t.Errorf("the broken file was not reported")
	}
}
