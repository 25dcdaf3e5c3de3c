package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

func TestParseQueueFile(t *testing.T) {
	good := `
[queues.normal]
priority = 30
default_walltime = "1:00"
max_walltime = "168h"

[queues.gpu]
priority = 50
nodes = { gpu = "h100" }
groups = ["ml"]
max_running_jobs_per_user = 8
preempts = ["scavenger"]
preempt_mode = "requeue"
open = false
`
	qs, err := parseQueueFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) != 2 || qs[0].Name != "gpu" || qs[1].Name != "normal" {
		t.Fatalf("queues %+v", qs)
	}
	gpu, normal := qs[0], qs[1]
	if gpu.Open || !gpu.Active || gpu.Nodes["gpu"] != "h100" || gpu.MaxRunningJobsPerUser != 8 || gpu.Source != "config" {
		t.Errorf("gpu = %+v", gpu)
	}
	if normal.DefaultWalltimeSeconds != 3600 || normal.MaxWalltimeSeconds != 168*3600 || !normal.Open {
		t.Errorf("normal = %+v", normal)
	}

	bad := []struct{ name, file, want string }{
		{"syntax", "[queues.a\n", "queues file"},
		{"unknown key", "[queues.a]\nprio = 3\n", "unknown keys: queues.a.prio"},
		{"bad walltime", "[queues.a]\nmax_walltime = \"soon\"\n", `queue a: max_walltime: walltime "soon"`},
		{"default over max", "[queues.a]\ndefault_walltime = \"2:00\"\nmax_walltime = \"1:00\"\n", "exceeds the maximum"},
		{"bad name", "[queues.\"9x\"]\n", `queue name "9x"`},
		{"bad mode", "[queues.a]\npreempt_mode = \"kill\"\n", `preempt_mode "kill"`},
		{"wrong type", "[queues.a]\npriority = \"high\"\n", "queues file"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseQueueFile(tt.file); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestQueueAdmission(t *testing.T) {
	s := newTestServer(t)
	var q api.Queue
	if code := call(t, s, alice, "PUT", "/v1/queues/short", `{"name":"short","open":true,"active":true}`, nil); code != http.StatusForbidden {
		t.Fatalf("a user defined a queue: %d", code)
	}
	code := call(t, s, root, "PUT", "/v1/queues/short",
		`{"name":"short","priority":10,"open":true,"active":true,"default_walltime_seconds":60,"max_walltime_seconds":600,"users":["alice"]}`, &q)
	if code != http.StatusOK || q.Source != "api" {
		t.Fatalf("put queue: %d %+v", code, q)
	}
	var sub api.SubmitResponse
	if code := call(t, s, alice, "POST", "/v1/jobs", `{"command":["true"],"cwd":"/tmp","queue":"short"}`, &sub); code != http.StatusCreated || sub.DefaultQueue {
		t.Fatalf("submit to short: %d %+v", code, sub)
	}
	var j api.Job
	call(t, s, alice, "GET", "/v1/jobs/1", "", &j)
	if j.Spec.WalltimeSeconds != 60 {
		t.Errorf("queue default walltime not applied: %d", j.Spec.WalltimeSeconds)
	}
	tests := []struct {
		name   string
		caller Caller
		body   string
		code   int
		want   string
	}{
		{"not in the ACL", bob, `{"command":["true"],"cwd":"/tmp","queue":"short"}`, 403, "user bob may not submit"},
		{"over the max walltime", alice, `{"command":["true"],"cwd":"/tmp","queue":"short","walltime_seconds":601}`, 400, "allows at most 10m0s"},
		{"no such queue", alice, `{"command":["true"],"cwd":"/tmp","queue":"long"}`, 400, `queue "long": no such queue (known: normal, short)`},
	}
	for _, tt := range tests {
		var e api.Error
		if code := call(t, s, tt.caller, "POST", "/v1/jobs", tt.body, &e); code != tt.code || !strings.Contains(e.Error, tt.want) {
			t.Errorf("%s: %d %q, want %d %q", tt.name, code, e.Error, tt.code, tt.want)
		}
	}
	call(t, s, root, "POST", "/v1/queues/short/close", "", &q)
	var e api.Error
	if code := call(t, s, alice, "POST", "/v1/jobs", `{"command":["true"],"cwd":"/tmp","queue":"short"}`, &e); code != http.StatusConflict || !strings.Contains(e.Error, "closed") {
		t.Errorf("closed queue: %d %q", code, e.Error)
	}
	if code := call(t, s, root, "DELETE", "/v1/queues/short", "", &e); code != http.StatusConflict || !strings.Contains(e.Error, "unfinished jobs") {
		t.Errorf("delete busy queue: %d %q", code, e.Error)
	}
	if code := call(t, s, root, "DELETE", "/v1/queues/normal", "", &e); code != http.StatusConflict {
		t.Errorf("deleted the default queue: %d", code)
	}
	var list api.QueueList
	call(t, s, alice, "GET", "/v1/queues", "", &list)
	if len(list.Queues) != 2 || list.Queues[1].Name != "short" || list.Queues[1].Runnable != 1 || list.Queues[1].Open {
		t.Errorf("queues %+v", list.Queues)
	}
}
