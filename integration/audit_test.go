package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestAuditSession runs a session of state-changing calls, allowed and
// refused, by root and by nobody, and finds every one of them in the
// audit log, in order, and nothing else (but node heartbeats carrying
// results).
func TestAuditSession(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0", "1G")
	a := c.submit(0, "-o", "/dev/null", "--", "true")
	b := c.submit(nobody, "-H", "-o", "/dev/null", "--", "true")
	if r := c.gantryAs(nobody, "release", fmt.Sprint(b)); r.code != 0 {
		t.Fatalf("release: %+v", r)
	}
	if r := c.gantryAs(nobody, "kill", fmt.Sprint(a)); r.code == 0 {
		t.Fatalf("nobody killed root's job: %+v", r)
	}
	if r := c.gantry("queue", "add", "audq", "--priority", "3"); r.code != 0 {
		t.Fatalf("queue add: %+v", r)
	}
	if r := c.gantryAs(nobody, "drain", "n1", "--reason", "mine"); r.code == 0 {
		t.Fatalf("nobody drained: %+v", r)
	}
	c.gantry("drain", "n1", "--reason", "audit test")
	c.gantry("resume", "n1")
	if r := c.gantryAs(nobody, "token", "create"); r.code != 0 {
		t.Fatalf("token create: %+v", r)
	}
	c.waitState(a, time.Minute, api.StateSucceeded)
	c.waitState(b, time.Minute, api.StateSucceeded)

	type call struct {
		user, method, path, object string
		status                     int
	}
	want := []call{
		{"root", "POST", "/v1/nodes/register", "node n1", 200},
		{"root", "POST", "/v1/jobs", fmt.Sprintf("job %d", a), 201},
		{"nobody", "POST", "/v1/jobs", fmt.Sprintf("job %d", b), 201},
		{"nobody", "POST", fmt.Sprintf("/v1/jobs/%d/release", b), fmt.Sprintf("job %d", b), 200},
		{"nobody", "POST", fmt.Sprintf("/v1/jobs/%d/kill", a), fmt.Sprintf("job %d", a), 403},
		{"root", "PUT", "/v1/queues/audq", "queue audq", 200},
		{"nobody", "POST", "/v1/nodes/n1/drain", "node n1", 403},
		{"root", "POST", "/v1/nodes/n1/drain", "node n1", 200},
		{"root", "POST", "/v1/nodes/n1/resume", "node n1", 200},
		{"nobody", "POST", "/v1/tokens", "", 201},
	}
	r := c.gantry("audit", "--json")
	var log api.AuditList
	if err := json.Unmarshal([]byte(r.stdout), &log); err != nil || r.code != 0 {
		t.Fatalf("gantry audit --json: %v %+v", err, r)
	}
	var got []call
	results := 0
	for _, rec := range log.Records {
		if strings.HasSuffix(rec.Path, "/status") { // heartbeats with results
			results++
			continue
		}
		if rec.Remote != "unix" || rec.Time.IsZero() {
			t.Errorf("record %+v: want remote unix and a time", rec)
		}
		if rec.Status >= 400 && rec.Error == "" {
			t.Errorf("refused call without its error: %+v", rec)
		}
		if rec.Path == "/v1/tokens" {
			rec.Object = "" // the new token's id
		}
		got = append(got, call{rec.User, rec.Method, rec.Path, rec.Object, rec.Status})
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("audit log:\n%v\nwant:\n%v", got, want)
	}
	if results == 0 {
		t.Error("no node report carrying job results in the audit log")
	}

	// nobody sees its own calls only; filters work in the table too.
	r = c.gantryAs(nobody, "audit")
	if r.code != 0 || strings.Contains(r.stdout, "root*") || strings.Count(r.stdout, "\n") != 6 { // root is an admin: root*
		t.Errorf("nobody's audit:\n%s%s", r.stdout, r.stderr)
	}
	r = c.gantry("audit", "--user", "root", "--method", "put", "--since", "1h")
	if r.code != 0 || !strings.Contains(r.stdout, "/v1/queues/audq") || strings.Count(r.stdout, "\n") != 2 {
		t.Errorf("filtered audit:\n%s%s", r.stdout, r.stderr)
	}
}
