package store

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

func TestRetryAndNodeFailure(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	now := time.Unix(1700000000, 0)
	s.RegisterNode(ctx, api.RegisterRequest{Name: "n1", CPUs: []int{0, 1}, MemoryBytes: 1 << 30}, now)
	submit := func(r *api.RetryStrategy) int64 {
		j := newJob(1)
		j.Spec.Retry = r
		id, _ := s.SubmitJob(ctx, j)
		return id
	}
	place := func(id int64) {
		t.Helper()
		if started, err := s.ApplyPlan(ctx, sched.Plan{Starts: []sched.Allocation{{Job: id, Node: "n1", CPUs: []int{0}}}}, now); err != nil || len(started) != 1 {
			t.Fatalf("place %d: %v %v", id, started, err)
		}
	}
	onExit3 := submit(&api.RetryStrategy{Attempts: 2, ExitCodes: []int{3}})
	place(onExit3)
	// A result for another try is ignored.
	if _, changed, _ := s.FinishJob(ctx, "n1", api.JobResult{JobID: onExit3, Attempt: 2, ExitCode: 3}); changed {
		t.Fatal("a result of a future try was applied")
	}
	st, _, _ := s.FinishJob(ctx, "n1", api.JobResult{JobID: onExit3, Attempt: 1, ExitCode: 3, EndedAt: now})
	j, _ := s.Job(ctx, onExit3)
	if st != api.StateRunnable || j.State != api.StateRunnable || j.Attempt != 2 || j.Node != "" || j.ExitCode != nil {
		t.Fatalf("after a retried failure: %s %+v", st, j)
	}
	place(onExit3)
	st, _, _ = s.FinishJob(ctx, "n1", api.JobResult{JobID: onExit3, Attempt: 2, ExitCode: 3, EndedAt: now})
	if st != api.StateFailed {
		t.Fatalf("last attempt ended %s, want FAILED", st)
	}
	evs, _ := s.Events(ctx, EventFilter{Jobs: []int64{onExit3}})
	var reasons []string
	for _, e := range evs {
		reasons = append(reasons, e.Reason)
	}
	if !strings.Contains(strings.Join(reasons, "|"), "attempt 1 of 2: exited with code 3; retrying") {
		t.Errorf("events %q", reasons)
	}

	other := submit(&api.RetryStrategy{Attempts: 3, ExitCodes: []int{3}})
	place(other)
	if st, _, _ := s.FinishJob(ctx, "n1", api.JobResult{JobID: other, ExitCode: 4, EndedAt: now}); st != api.StateFailed {
		t.Errorf("exit 4 with retries on 3 only: %s", st)
	}

	// A lost node: a job that retries on node failure is requeued, one
	// without a strategy ends NODE_FAIL.
	requeue := submit(&api.RetryStrategy{Attempts: 2, NodeFailure: true})
	plain := submit(nil)
	place(requeue)
	s.ApplyPlan(ctx, sched.Plan{Starts: []sched.Allocation{{Job: plain, Node: "n1", CPUs: []int{1}}}}, now)
	down, lost, err := s.MarkSilentNodesDown(ctx, now.Add(time.Minute), now.Add(time.Minute+30*time.Second))
	if err != nil || len(down) != 1 || len(lost) != 2 {
		t.Fatalf("MarkSilentNodesDown = %v %v %v", down, lost, err)
	}
	if j, _ := s.Job(ctx, requeue); j.State != api.StateRunnable || j.Attempt != 2 {
		t.Errorf("retried job after node loss: %s attempt %d", j.State, j.Attempt)
	}
	if j, _ := s.Job(ctx, plain); j.State != api.StateNodeFail || !strings.Contains(j.Reason, "node n1 lost: no heartbeat for 30s") {
		t.Errorf("plain job after node loss: %s %q", j.State, j.Reason)
	}
}
