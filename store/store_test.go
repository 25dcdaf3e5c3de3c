package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

// openTestStore opens a store in a fresh directory, closed when the test
// ends.
func openTestStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newJob(cores int) api.Job {
	return api.Job{
		Spec:       api.JobSpec{Command: []string{"true"}, Cwd: "/tmp", Cores: cores, MemoryBytes: 64 << 20, WalltimeSeconds: 60},
		User:       "alice",
		UID:        1000,
		GID:        1000,
		Groups:     []uint32{1000, 27},
		SubmitTime: time.Unix(1700000000, 0),
	}
}

func TestJobLifecycleSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	ctx := t.Context()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000100, 0)
	if err := s.RegisterNode(ctx, api.RegisterRequest{Name: "n1", CPUs: []int{0, 1}, MemoryBytes: 1 << 30}, now); err != nil {
		t.Fatal(err)
	}
	id1, _ := s.SubmitJob(ctx, newJob(2))
	id2, _ := s.SubmitJob(ctx, newJob(1))

	pending, running, err := s.ScheduleInput(ctx)
	if err != nil || len(pending) != 2 || len(running) != 0 {
		t.Fatalf("ScheduleInput = %v, %v, %v", pending, running, err)
	}
	plan := sched.Plan{
		Starts:  []sched.Allocation{{Job: id1, Node: "n1", CPUs: []int{0, 1}, MemoryBytes: 64 << 20}},
		Waiting: []sched.JobReason{{Job: id2, Reason: "waiting for resources"}},
	}
	started, err := s.ApplyPlan(ctx, plan, now)
	if err != nil || len(started) != 1 || started[0] != id1 {
		t.Fatalf("ApplyPlan = %v, %v", started, err)
	}
	// Applying the same plan again starts nothing twice.
	if again, _ := s.ApplyPlan(ctx, plan, now); len(again) != 0 {
		t.Fatalf("second ApplyPlan started %v", again)
	}
	if ok, err := s.MarkRunning(ctx, "n1", id1, 1, now); !ok || err != nil {
		t.Fatalf("MarkRunning = %v, %v", ok, err)
	}
	nodes, err := s.Nodes(ctx)
	if err != nil || len(nodes) != 1 || nodes[0].AllocCores != 2 || nodes[0].Jobs != 1 {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	s.Close()

	// A crash here loses nothing: reopen and finish the job.
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	res := api.JobResult{JobID: id1, ExitCode: 137, Signal: "SIGKILL", OOMKilled: true, PeakMemoryBytes: 64 << 20, StartedAt: now, EndedAt: now.Add(time.Second)}
	if st, changed, err := s.FinishJob(ctx, "n1", res); err != nil || !changed || st != api.StateFailed {
		t.Fatalf("FinishJob = %v, %v, %v", st, changed, err)
	}
	if _, changed, _ := s.FinishJob(ctx, "n1", api.JobResult{JobID: id1}); changed {
		t.Fatal("a replayed result changed a finished job")
	}
	j, err := s.Job(ctx, id1)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != api.StateFailed || !j.OOMKilled || j.ExitCode == nil || *j.ExitCode != 137 || j.Reason != "memory limit 64.0MiB exceeded (OOM kill)" {
		t.Fatalf("job after OOM = %+v", j)
	}
	if j2, _ := s.Job(ctx, id2); j2.Reason != "waiting for resources" || j2.State != api.StateRunnable {
		t.Fatalf("waiting job = %+v", j2)
	}
}

func TestRequestKill(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	now := time.Now()
	pend, _ := s.SubmitJob(ctx, newJob(1))
	onNode, _ := s.SubmitJob(ctx, newJob(1))
	s.ApplyPlan(ctx, sched.Plan{Starts: []sched.Allocation{{Job: onNode, Node: "n1", CPUs: []int{0}}}}, now)

	j, err := s.RequestKill(ctx, pend, "alice", now)
	if err != nil || j.State != api.StateCancelled {
		t.Fatalf("kill pending = %+v, %v", j, err)
	}
	if _, err := s.RequestKill(ctx, pend, "alice", now); err == nil {
		t.Fatal("killing a cancelled job succeeded")
	}
	j, err = s.RequestKill(ctx, onNode, "alice", now)
	if err != nil || j.State != api.StateStarting || !j.KillRequested {
		t.Fatalf("kill placed = %+v, %v", j, err)
	}
	if _, err := s.RequestKill(ctx, 999, "alice", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("kill unknown = %v", err)
	}
}

func TestOutcome(t *testing.T) {
	spec := api.JobSpec{MemoryBytes: 64 << 20, WalltimeSeconds: 90}
	tests := []struct {
		name       string
		r          api.JobResult
		wantState  api.JobState
		wantReason string
	}{
		{"success", api.JobResult{}, api.StateSucceeded, ""},
		{"exit code", api.JobResult{ExitCode: 3}, api.StateFailed, "exited with code 3"},
		{"signal", api.JobResult{ExitCode: 139, Signal: "SIGSEGV"}, api.StateFailed, "killed by signal SIGSEGV"},
		{"oom", api.JobResult{ExitCode: 137, OOMKilled: true}, api.StateFailed, "memory limit 64.0MiB exceeded (OOM kill)"},
		{"timeout", api.JobResult{ExitCode: 143, TimedOut: true}, api.StateTimeout, "walltime 1m30s reached"},
		{"killed", api.JobResult{ExitCode: 143, Killed: true}, api.StateCancelled, "killed on request"},
		{"start error", api.JobResult{ExitCode: 127, Error: `command "nope" not found`}, api.StateFailed, `could not start: command "nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, why := Outcome(spec, tt.r)
			if st != tt.wantState || why != tt.wantReason {
				t.Fatalf("Outcome = %s %q, want %s %q", st, why, tt.wantState, tt.wantReason)
			}
		})
	}
}

func TestEventsRecordEveryTransition(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	now := time.Unix(1700000000, 0)
	id, _ := s.SubmitJob(ctx, newJob(1))
	other, _ := s.SubmitJob(ctx, newJob(1))
	s.ApplyPlan(ctx, sched.Plan{Starts: []sched.Allocation{{Job: id, Node: "n1", CPUs: []int{0}}}}, now)
	s.MarkRunning(ctx, "n1", id, 0, now)
	s.FinishJob(ctx, "n1", api.JobResult{JobID: id, ExitCode: 2, EndedAt: now.Add(time.Minute)})
	s.RequestKill(ctx, other, "bob", now)

	evs, err := s.Events(ctx, EventFilter{Jobs: []int64{id}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, string(e.State)+"/"+e.Actor)
	}
	want := []string{"RUNNABLE/alice", "STARTING/scheduler", "RUNNING/n1", "FAILED/n1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	rest, _ := s.Events(ctx, EventFilter{After: evs[len(evs)-1].ID})
	if len(rest) != 1 || rest[0].JobID != other || rest[0].State != api.StateCancelled || rest[0].Actor != "bob" {
		t.Fatalf("events after %d: %+v", evs[len(evs)-1].ID, rest)
	}
	uid := uint32(4242)
	if none, _ := s.Events(ctx, EventFilter{UID: &uid}); len(none) != 0 {
		t.Fatalf("another user's events: %+v", none)
	}
}
