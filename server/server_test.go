package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(Config{StateDir: t.TempDir(), Socket: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.store.Close() })
	return s
}

var (
	alice = Caller{UID: 1000, GID: 1000, User: "alice", Groups: []uint32{1000}, Remote: "unix"}
	bob   = Caller{UID: 1001, GID: 1001, User: "bob", Groups: []uint32{1001}, Remote: "unix"}
	root  = Caller{UID: 0, GID: 0, User: "root", Groups: []uint32{0}, Admin: true, Remote: "unix"}
)

// call sends one request to the handler as caller c and decodes the answer.
func call(t *testing.T, s *Server, c Caller, method, path string, body string, out any) int {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if out != nil {
		if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
			t.Fatalf("%s %s: decode %q: %v", method, path, w.Body.String(), err)
		}
	}
	return w.Code
}

func TestSubmitScheduleReportKill(t *testing.T) {
	s := newTestServer(t)
	ctx := t.Context()

	var reg api.Error
	if code := call(t, s, alice, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0,1],"memory_bytes":1073741824}`, &reg); code != http.StatusForbidden {
		t.Fatalf("a user registered a node: %d %v", code, reg)
	}
	if code := call(t, s, root, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0,1],"memory_bytes":1073741824}`, nil); code != http.StatusOK {
		t.Fatalf("register: %d", code)
	}

	var sub api.SubmitResponse
	if code := call(t, s, alice, "POST", "/v1/jobs", `{"command":["sleep","100"],"cwd":"/tmp","cores":2}`, &sub); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	if sub.Queue != "normal" || !sub.DefaultQueue {
		t.Fatalf("submit answer %+v", sub)
	}
	if err := s.schedulePass(ctx); err != nil {
		t.Fatal(err)
	}

	var as api.Assignments
	call(t, s, root, "GET", "/v1/nodes/n1/assignments?wait=0s", "", &as)
	if len(as.Jobs) != 1 || as.Jobs[0].JobID != sub.ID || len(as.Jobs[0].CPUs) != 2 || as.Jobs[0].UID != 1000 {
		t.Fatalf("assignments %+v", as)
	}
	if got := as.Jobs[0].Stdout; got != "/tmp/gantry-1.out" {
		t.Fatalf("stdout %q", got)
	}

	// Bob may not kill Alice's job, and sees it without its command.
	var e api.Error
	if code := call(t, s, bob, "POST", "/v1/jobs/1/kill", "", &e); code != http.StatusForbidden || !strings.Contains(e.Error, "may not kill") {
		t.Fatalf("bob kill: %d %v", code, e)
	}
	var seen api.Job
	call(t, s, bob, "GET", "/v1/jobs/1", "", &seen)
	if seen.Spec.Command[0] != "(hidden)" || seen.Spec.Env != nil {
		t.Fatalf("bob sees %+v", seen.Spec)
	}

	st := api.NodeStatus{Running: []api.RunningJob{{JobID: sub.ID, StartedAt: time.Now()}}}
	body, _ := json.Marshal(st)
	call(t, s, root, "POST", "/v1/nodes/n1/status", string(body), nil)
	var j api.Job
	call(t, s, alice, "GET", "/v1/jobs/1", "", &j)
	if j.State != api.StateRunning {
		t.Fatalf("state after report = %s", j.State)
	}

	call(t, s, alice, "POST", "/v1/jobs/1/kill", "", &j)
	call(t, s, root, "GET", "/v1/nodes/n1/assignments?wait=0s", "", &as)
	if len(as.Kill) != 1 || as.Kill[0] != sub.ID {
		t.Fatalf("kill list %+v", as.Kill)
	}
	st = api.NodeStatus{Finished: []api.JobResult{{JobID: sub.ID, ExitCode: 143, Signal: "SIGTERM", Killed: true}}}
	body, _ = json.Marshal(st)
	var ack api.NodeStatusResponse
	call(t, s, root, "POST", "/v1/nodes/n1/status", string(body), &ack)
	if len(ack.Acked) != 1 {
		t.Fatalf("ack %+v", ack)
	}
	call(t, s, alice, "GET", "/v1/jobs/1", "", &j)
	if j.State != api.StateCancelled {
		t.Fatalf("state after kill = %s (%s)", j.State, j.Reason)
	}
}

func TestAssignmentsLongPollWakesOnSubmit(t *testing.T) {
	s := newTestServer(t)
	call(t, s, root, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0],"memory_bytes":1073741824}`, nil)
	index, _ := s.assign.current()
	done := make(chan api.Assignments)
	go func() {
		var as api.Assignments
		call(t, s, root, "GET", "/v1/nodes/n1/assignments?wait=60s&index="+jsonNumber(index), "", &as)
		done <- as
	}()
	call(t, s, alice, "POST", "/v1/jobs", `{"command":["true"],"cwd":"/tmp"}`, nil)
	if err := s.schedulePass(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case as := <-done:
		if len(as.Jobs) != 1 || as.Index <= index {
			t.Fatalf("woken with %+v", as)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("long poll was not woken by the placement")
	}
}

func jsonNumber(v uint64) string { b, _ := json.Marshal(v); return string(b) }

func TestBadRequests(t *testing.T) {
	s := newTestServer(t)
	tests := []struct {
		name, method, path, body string
		wantCode                 int
		wantErr                  string
	}{
		{"empty body", "POST", "/v1/jobs", "", 400, "empty"},
		{"not json", "POST", "/v1/jobs", "{nope", 400, "request body"},
		{"unknown field", "POST", "/v1/jobs", `{"command":["x"],"cwd":"/","bogus":1}`, 400, `unknown field "bogus"`},
		{"trailing data", "POST", "/v1/jobs", `{"command":["x"],"cwd":"/"} {}`, 400, "after the JSON object"},
		{"missing command", "POST", "/v1/jobs", `{"cwd":"/"}`, 400, "command: missing"},
		{"bad type", "POST", "/v1/jobs", `{"command":"x","cwd":"/"}`, 400, "request body"},
		{"unknown queue", "POST", "/v1/jobs", `{"command":["x"],"cwd":"/","queue":"gpu"}`, 400, `queue "gpu"`},
		{"bad id", "GET", "/v1/jobs/abc", "", 400, `job id "abc"`},
		{"unknown job", "GET", "/v1/jobs/77", "", 404, "job 77"},
		{"kill unknown", "POST", "/v1/jobs/77/kill", "", 404, "job 77"},
		{"bad state", "GET", "/v1/jobs?state=SLEEPING", "", 400, `state "SLEEPING"`},
		{"no endpoint", "GET", "/v2/x", "", 404, "no such endpoint"},
		{"huge body", "POST", "/v1/jobs", `{"command":["` + strings.Repeat("a", api.MaxSpecBytes) + `"],"cwd":"/"}`, 400, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e api.Error
			code := call(t, s, alice, tt.method, tt.path, tt.body, &e)
			if code != tt.wantCode || !strings.Contains(e.Error, tt.wantErr) {
				t.Fatalf("got %d %q, want %d with %q", code, e.Error, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestTCPNeedsToken(t *testing.T) {
	s := newTestServer(t)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	resp, err := http.Get(ts.URL + "/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("no token: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", ts.URL+"/v1/health", nil)
	req.Header.Set("Authorization", "Bearer "+rootToken(t, s))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("with token: %d", resp.StatusCode)
	}
}

// FuzzAPI sends arbitrary bodies to every endpoint that takes one: the
// server must answer with a 4xx or 2xx, never panic or fail inside.
func FuzzAPI(f *testing.F) {
	for _, seed := range []string{
		`{"command":["true"],"cwd":"/tmp"}`,
		`{"command":["x"],"cwd":"/","cores":-5,"memory_bytes":-1}`,
		`{"name":"n1","cpus":[0,1],"memory_bytes":100}`,
		`{"running":[{"job_id":1}],"finished":[{"job_id":1,"exit_code":3}]}`,
		`null`, `[]`, `{"command":[""],"cwd":""}`, "\x00",
		`{"name":"q1","open":true,"max_walltime_seconds":-1}`, `{"command":["x"],"cwd":"/","dependency":"done((("}`,
		`{"command":["x"],"cwd":"/","begin_time":"2030-01-01T00:00:00Z","hold":true}`,
	} {
		f.Add(seed)
	}
	s, err := New(Config{StateDir: f.TempDir(), Socket: "unused"})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.store.Close() })
	h := s.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, ep := range []struct{ method, path string }{
			{"POST", "/v1/jobs"}, {"POST", "/v1/nodes/register"}, {"POST", "/v1/nodes/n1/status"}, {"PUT", "/v1/queues/q1"},
		} {
			method, path := ep.method, ep.path
			r := httptest.NewRequest(method, path, bytes.NewReader([]byte(body)))
			r = r.WithContext(context.WithValue(r.Context(), callerKey{}, root))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s %s %q: %d %s", method, path, body, w.Code, w.Body.String())
			}
		}
	})
}

func TestEventStreamFollows(t *testing.T) {
	s := newTestServer(t)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	call(t, s, alice, "POST", "/v1/jobs", `{"command":["true"],"cwd":"/tmp"}`, nil)

	req, _ := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/v1/events?follow=true&job=1", nil)
	req.Header.Set("Authorization", "Bearer "+rootToken(t, s))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(resp.Body)
	var first api.Event
	if err := dec.Decode(&first); err != nil || first.State != api.StateRunnable || first.Actor != "alice" {
		t.Fatalf("first event %+v, %v", first, err)
	}
	// A kill committed after the stream is open arrives on it.
	call(t, s, alice, "POST", "/v1/jobs/1/kill", "", nil)
	var next api.Event
	if err := dec.Decode(&next); err != nil || next.State != api.StateCancelled || next.ID <= first.ID {
		t.Fatalf("next event %+v, %v", next, err)
	}

	// Bob sees none of Alice's events.
	var e api.Error
	r := httptest.NewRequest("GET", "/v1/events", nil)
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, bob))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	if w.Code != 200 || strings.TrimSpace(w.Body.String()) != "" {
		t.Fatalf("bob's stream: %d %q %v", w.Code, w.Body.String(), e)
	}
}
