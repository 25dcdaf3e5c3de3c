package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

func TestAuditRecordsStateChanges(t *testing.T) {
	s := newTestServer(t)
	call(t, s, root, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0,1],"memory_bytes":1073741824}`, nil)
	var sub api.SubmitResponse
	call(t, s, alice, "POST", "/v1/jobs", `{"command":["true"],"cwd":"/tmp"}`, &sub)
	call(t, s, bob, "POST", "/v1/jobs/1/kill", "", nil) // refused
	call(t, s, alice, "GET", "/v1/jobs/1", "", nil)     // a read: not audited
	call(t, s, root, "PUT", "/v1/queues/gpu", `{"name":"gpu","open":true,"active":true}`, nil)
	call(t, s, root, "POST", "/v1/nodes/n1/status", `{}`, nil) // a plain heartbeat: not audited
	// Unauthenticated (a TCP caller without a token).
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/v1/jobs", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	var all api.AuditList
	if code := call(t, s, root, "GET", "/v1/audit", "", &all); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	want := []struct {
		user, method, path, object string
		status                     int
	}{
		{"root", "POST", "/v1/nodes/register", "node n1", 200},
		{"alice", "POST", "/v1/jobs", "job 1", 201},
		{"bob", "POST", "/v1/jobs/1/kill", "job 1", 403},
		{"root", "PUT", "/v1/queues/gpu", "queue gpu", 200},
		{"", "POST", "/v1/jobs", "", 401},
	}
	if len(all.Records) != len(want) {
		t.Fatalf("audit log has %d records, want %d: %+v", len(all.Records), len(want), all.Records)
	}
	for i, w := range want {
		r := all.Records[i]
		if r.User != w.user || r.Method != w.method || r.Path != w.path || r.Object != w.object || r.Status != w.status {
			t.Errorf("record %d: %+v, want %+v", i, r, w)
		}
	}
	if r := all.Records[2]; r.Error == "" || r.Remote != "unix" || r.UID != bob.UID || r.Admin {
		t.Errorf("refused kill: %+v", r)
	}
	if r := all.Records[0]; !r.Admin {
		t.Errorf("root's call not marked admin: %+v", r)
	}
	if r := all.Records[4]; !strings.HasPrefix(r.Remote, "127.0.0.1:") || !strings.Contains(r.Error, "unauthenticated") {
		t.Errorf("unauthenticated call: %+v", r)
	}

	// Users see their own calls only.
	var mine api.AuditList
	call(t, s, alice, "GET", "/v1/audit", "", &mine)
	if len(mine.Records) != 1 || mine.Records[0].User != "alice" {
		t.Fatalf("alice's audit: %+v", mine.Records)
	}
	var e api.Error
	if code := call(t, s, alice, "GET", "/v1/audit?user=bob", "", &e); code != http.StatusForbidden {
		t.Fatalf("alice reading bob's calls: %d", code)
	}
	var filtered api.AuditList
	call(t, s, root, "GET", "/v1/audit?method=put", "", &filtered)
	if len(filtered.Records) != 1 || filtered.Records[0].Path != "/v1/queues/gpu" {
		t.Fatalf("method filter: %+v", filtered.Records)
	}
	call(t, s, root, "GET", "/v1/audit?limit=2", "", &filtered)
	if len(filtered.Records) != 2 || filtered.Records[1].Status != 401 {
		t.Fatalf("limit keeps the newest: %+v", filtered.Records)
	}
	if code := call(t, s, root, "GET", "/v1/audit?since=yesterday", "", &e); code != http.StatusBadRequest {
		t.Fatalf("bad since: %d", code)
	}
}

func TestAdminGroup(t *testing.T) {
	dir := t.TempDir()
	s, err := New(Config{StateDir: dir, Socket: "unused", AdminGroup: "adm"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	call(t, s, root, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0,1],"memory_bytes":1073741824}`, nil)
	operator := Caller{UID: 1002, GID: 1002, User: "carol", Groups: []uint32{1002, 4}, Remote: "unix"}
	if code := call(t, s, operator, "POST", "/v1/nodes/n1/drain", `{"reason":"maintenance"}`, nil); code != 200 {
		t.Fatalf("drain by a member of the admin group: %d", code)
	}
	if code := call(t, s, alice, "POST", "/v1/nodes/n1/resume", "", nil); code != http.StatusForbidden {
		t.Fatalf("resume by a user: %d", code)
	}
	// Admins are not nodes.
	if code := call(t, s, operator, "POST", "/v1/nodes/n1/status", `{}`, nil); code != http.StatusForbidden {
		t.Fatalf("node status by an admin who is not root: %d", code)
	}
	if _, err := New(Config{StateDir: t.TempDir(), Socket: "unused", AdminGroup: "no-such-group-xyz"}); err == nil {
		t.Fatal("unknown admin group accepted")
	}
}
