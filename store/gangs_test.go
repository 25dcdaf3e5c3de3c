package store

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

// gangStore is a store with nodes n1..n4 and one gang over all four,
// placed at now.
func gangStore(t *testing.T, now time.Time) (*Store, int64) {
	t.Helper()
	return gangStoreWith(t, now, nil)
}

// gangStoreWith is gangStore with a retry strategy.
func gangStoreWith(t *testing.T, now time.Time, retry *api.RetryStrategy) (*Store, int64) {
	t.Helper()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := t.Context()
	var plan sched.Plan
	j := newJob(2)
	j.Spec.Nodes, j.Spec.Retry = 4, retry
	id, err := s.SubmitJob(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 4; i++ {
		name := fmt.Sprintf("n%d", i)
		if err := s.RegisterNode(ctx, api.RegisterRequest{Name: name, CPUs: []int{0, 1}, MemoryBytes: 1 << 30, Address: fmt.Sprintf("10.0.0.%d", i)}, now); err != nil {
			t.Fatal(err)
		}
		plan.Starts = append(plan.Starts, sched.Allocation{Job: id, Node: name, CPUs: []int{0, 1}, MemoryBytes: 64 << 20})
	}
	pending, _, err := s.ScheduleInput(ctx)
	if err != nil || len(pending) != 1 || pending[0].Nodes != 4 || pending[0].Tasks != 4 || pending[0].Cores != 2 {
		t.Fatalf("ScheduleInput: %+v, %v", pending, err)
	}
	if started, err := s.ApplyPlan(ctx, plan, now); err != nil || len(started) != 1 {
		t.Fatalf("ApplyPlan = %v, %v", started, err)
	}
	return s, id
}

func TestGangLifecycle(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, id := gangStore(t, now)
	ctx := t.Context()

	// Every node is assigned its part; every part holds its node.
	for i := 1; i <= 4; i++ {
		as, err := s.Assignments(ctx, fmt.Sprintf("n%d", i))
		if err != nil || len(as) != 1 || len(as[0].Parts) != 4 || as[0].Parts[i-1].Address != fmt.Sprintf("10.0.0.%d", i) {
			t.Fatalf("assignments of n%d: %+v, %v", i, as, err)
		}
	}
	if _, running, _ := s.ScheduleInput(ctx); len(running) != 4 {
		t.Fatalf("running allocations %+v, want one per part", running)
	}
	nodes, _ := s.Nodes(ctx)
	for _, n := range nodes {
		if n.Jobs != 1 || n.AllocCores != 2 {
			t.Errorf("node %s: %d jobs, %d cores", n.Name, n.Jobs, n.AllocCores)
		}
	}

	// Released once the last part is ready; rank 0 gives the port.
	for i := 4; i >= 1; i-- {
		released, err := s.MarkPartsReady(ctx, fmt.Sprintf("n%d", i), []api.PartReady{{JobID: id, Attempt: 1, Port: 29500}}, now)
		if err != nil || (len(released) == 1) != (i == 1) {
			t.Fatalf("ready on n%d: released %v, %v", i, released, err)
		}
	}
	j, _ := s.Job(ctx, id)
	if j.Parts[0].Port != 29500 || j.Parts[1].Port != 0 || !j.Parts[3].Ready {
		t.Fatalf("parts after ready: %+v", j.Parts)
	}

	// RUNNING once every part started, from the last start.
	for i := 1; i <= 4; i++ {
		changed, err := s.MarkRunning(ctx, fmt.Sprintf("n%d", i), id, 1, now.Add(time.Duration(i)*time.Second))
		if err != nil || changed != (i == 4) {
			t.Fatalf("running on n%d: %v, %v", i, changed, err)
		}
	}
	if j, _ := s.Job(ctx, id); j.State != api.StateRunning || !j.StartTime.Equal(now.Add(4*time.Second)) {
		t.Fatalf("job %s from %v", j.State, j.StartTime)
	}

	// Two parts exit 0: nothing ends; the third fails: the gang fails
	// with its reason, and the last part's later result is still kept.
	end := now.Add(time.Minute)
	for _, n := range []string{"n1", "n2"} {
		if _, changed, err := s.FinishJob(ctx, n, api.JobResult{JobID: id, Attempt: 1, StartedAt: now, EndedAt: end, PeakMemoryBytes: 10}); changed || err != nil {
			t.Fatalf("part on %s exited 0: changed %v, %v", n, changed, err)
		}
	}
	final, changed, err := s.FinishJob(ctx, "n3", api.JobResult{JobID: id, Attempt: 1, ExitCode: 3, EndedAt: end, PeakMemoryBytes: 30, CPUTimeSeconds: 1})
	if err != nil || !changed || final != api.StateFailed {
		t.Fatalf("failed part: %v %v %v", final, changed, err)
	}
	if _, changed, _ := s.FinishJob(ctx, "n4", api.JobResult{JobID: id, Attempt: 1, ExitCode: 143, Signal: "SIGTERM", EndedAt: end}); changed {
		t.Fatal("a part ending after its gang changed the job")
	}
	j, _ = s.Job(ctx, id)
	if !strings.Contains(j.Reason, "rank 2 on n3: exited with code 3") || *j.ExitCode != 3 || j.PeakMemoryBytes != 30 {
		t.Errorf("gang ended %s %q exit %v peak %d", j.State, j.Reason, *j.ExitCode, j.PeakMemoryBytes)
	}
	if j.Parts[3].Signal != "SIGTERM" || j.Parts[0].ExitCode == nil || *j.Parts[0].ExitCode != 0 {
		t.Errorf("parts after the end: %+v", j.Parts)
	}
	if as, _ := s.Assignments(ctx, "n4"); len(as) != 0 {
		t.Errorf("n4 still assigned %+v", as)
	}
}

func TestGangStartBarrier(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, id := gangStore(t, now)
	ctx := t.Context()
	for _, n := range []string{"n1", "n2", "n4"} {
		if _, err := s.MarkPartsReady(ctx, n, []api.PartReady{{JobID: id, Attempt: 1}}, now); err != nil {
			t.Fatal(err)
		}
	}
	if stuck, err := s.RequeueStuckGangs(ctx, now.Add(-time.Second), now.Add(time.Minute)); err != nil || len(stuck) != 0 {
		t.Fatalf("a gang placed after the cutoff was requeued: %v, %v", stuck, err)
	}
	stuck, err := s.RequeueStuckGangs(ctx, now.Add(time.Second), now.Add(time.Minute))
	if err != nil || len(stuck) != 1 {
		t.Fatalf("RequeueStuckGangs = %v, %v", stuck, err)
	}
	j, _ := s.Job(ctx, id)
	if j.State != api.StateRunnable || j.Attempt != 2 || !strings.Contains(j.Reason, "ranks 2 (n3) not ready") || j.Node != "" {
		t.Fatalf("after the barrier: %s attempt %d node %q %q", j.State, j.Attempt, j.Node, j.Reason)
	}
	// The old try's readiness reports and results change nothing.
	if rel, _ := s.MarkPartsReady(ctx, "n3", []api.PartReady{{JobID: id, Attempt: 1}}, now); len(rel) != 0 {
		t.Fatal("a stale try was released")
	}
	if _, changed, _ := s.FinishJob(ctx, "n1", api.JobResult{JobID: id, Attempt: 1, ExitCode: 1}); changed {
		t.Fatal("a stale try's result changed the job")
	}
	if _, running, _ := s.ScheduleInput(ctx); len(running) != 0 {
		t.Fatalf("a requeued gang still holds %+v", running)
	}
	for _, n := range []string{"n1", "n2", "n3", "n4"} {
		if as, _ := s.Assignments(ctx, n); len(as) != 0 {
			t.Errorf("%s still assigned %+v", n, as)
		}
	}
}

func TestGangNodeLost(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, id := gangStore(t, now)
	ctx := t.Context()
	for i := 1; i <= 4; i++ {
		s.ReportNode(ctx, fmt.Sprintf("n%d", i), nil, nil, now.Add(time.Minute))
	}
	// n3 alone falls silent.
	if _, err := s.db.ExecContext(ctx, `UPDATE nodes SET heartbeat_ns = ? WHERE name = 'n3'`, now.UnixNano()); err != nil {
		t.Fatal(err)
	}
	down, lost, err := s.MarkSilentNodesDown(ctx, now.Add(30*time.Second), now.Add(time.Minute))
	if err != nil || len(down) != 1 || len(lost) != 1 || lost[0] != id {
		t.Fatalf("MarkSilentNodesDown = %v %v %v", down, lost, err)
	}
	if j, _ := s.Job(ctx, id); j.State != api.StateNodeFail || !strings.Contains(j.Reason, "n3") {
		t.Fatalf("gang after losing n3: %s %q", j.State, j.Reason)
	}
}

func TestGangPreempted(t *testing.T) {
	now := time.Unix(1700000000, 0)
	for _, action := range []sched.PreemptAction{sched.Suspend, sched.Requeue} {
		t.Run(action.String(), func(t *testing.T) {
			s, id := gangStore(t, now)
			ctx := t.Context()
			plan := sched.Plan{Preemptions: []sched.Preemption{{Job: id, Nodes: []string{"n1", "n2", "n3", "n4"}, Action: action, By: 99}}}
			if _, err := s.ApplyPlan(ctx, plan, now); err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 4; i++ {
				as, err := s.Assignments(ctx, fmt.Sprintf("n%d", i))
				switch {
				case err != nil:
					t.Fatal(err)
				case action == sched.Requeue && len(as) != 0:
					t.Errorf("requeued gang still on n%d", i)
				case action == sched.Suspend && (len(as) != 1 || !as[0].SuspendRequested):
					t.Errorf("suspended gang on n%d: %+v", i, as)
				}
			}
			if action == sched.Suspend {
				victims, _ := s.PreemptSuspendedJobs(ctx)
				if len(victims) != 1 || victims[0].By != 99 {
					t.Fatalf("PreemptSuspendedJobs = %+v", victims)
				}
				if ok, err := s.ResumePreempted(ctx, id, now); !ok || err != nil {
					t.Fatalf("ResumePreempted = %v, %v", ok, err)
				}
				if j, _ := s.Job(ctx, id); j.SuspendRequested {
					t.Error("still suspended after the resume")
				}
			}
		})
	}
}

// TestGangNodeLostRetried requeues a gang that retries node failures when
// one of its nodes is lost: every part is dropped, and the next try is
// placed afresh.
func TestGangNodeLostRetried(t *testing.T) {
	now := time.Unix(1700000000, 0)
	s, id := gangStoreWith(t, now, &api.RetryStrategy{Attempts: 2, NodeFailure: true})
	ctx := t.Context()
	for i := 1; i <= 4; i++ {
		s.ReportNode(ctx, fmt.Sprintf("n%d", i), nil, nil, now.Add(time.Minute))
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE nodes SET heartbeat_ns = ? WHERE name = 'n2'`, now.UnixNano()); err != nil {
		t.Fatal(err)
	}
	if _, lost, err := s.MarkSilentNodesDown(ctx, now.Add(30*time.Second), now.Add(time.Minute)); err != nil || len(lost) != 1 {
		t.Fatalf("MarkSilentNodesDown: %v %v", lost, err)
	}
	j, _ := s.Job(ctx, id)
	if j.State != api.StateRunnable || j.Attempt != 2 || len(j.Parts) != 0 {
		t.Fatalf("after losing n2: %s attempt %d parts %+v", j.State, j.Attempt, j.Parts)
	}
	for _, n := range []string{"n1", "n3", "n4"} {
		if as, _ := s.Assignments(ctx, n); len(as) != 0 {
			t.Errorf("%s still runs a part: %+v", n, as)
		}
	}
	if _, running, _ := s.ScheduleInput(ctx); len(running) != 0 {
		t.Errorf("the requeued gang still holds %+v", running)
	}
}
