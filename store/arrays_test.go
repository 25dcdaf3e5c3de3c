package store

import (
	"reflect"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

func TestArrayLifecycle(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	now := time.Unix(1700000000, 0)
	j := newJob(1)
	j.Spec.Array, j.Spec.ArrayThrottle = "1-7:2", 2 // 1 3 5 7
	parent, _ := s.SubmitJob(ctx, j)

	pending, _, err := s.ScheduleInput(ctx)
	if err != nil || len(pending) != 2 {
		t.Fatalf("candidates %v, %v; want 2 (the throttle)", pending, err)
	}
	plan := sched.Plan{Starts: []sched.Allocation{
		{Job: pending[0].ID, Node: "n1", CPUs: []int{0}}, {Job: pending[1].ID, Node: "n1", CPUs: []int{1}},
	}}
	started, err := s.ApplyPlan(ctx, plan, now)
	if err != nil || len(started) != 2 {
		t.Fatalf("ApplyPlan = %v, %v", started, err)
	}
	e1, _ := s.Job(ctx, started[0])
	e3, _ := s.Job(ctx, started[1])
	if e1.ArrayID != parent || e1.ArrayIndex != 1 || e3.ArrayIndex != 3 || e1.State != api.StateStarting || e1.Spec.Array != "" {
		t.Fatalf("elements %+v %+v", e1, e3)
	}
	if pending, _, _ := s.ScheduleInput(ctx); len(pending) != 0 {
		t.Fatalf("the throttle let %d more start", len(pending))
	}
	// Element 5 is cancelled before it starts; it is skipped.
	if _, err := s.CancelElement(ctx, parent, 5, "alice", now); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CancelElement(ctx, parent, 6, "alice", now); err == nil {
		t.Fatal("cancelled index 6, not an element")
	}
	s.db.Exec(`UPDATE jobs SET state = 'RUNNING' WHERE id IN (?, ?)`, e1.ID, e3.ID)
	s.FinishJob(ctx, "n1", api.JobResult{JobID: e1.ID, ExitCode: 0, EndedAt: now})
	pending, _, err = s.ScheduleInput(ctx)
	if len(pending) != 1 {
		dbg, _ := s.Job(ctx, parent)
		d1, _ := s.Job(ctx, e1.ID)
		t.Fatalf("after one ended: %d candidates, want 1 (%v); parent %s %q; e1 %s", len(pending), err, dbg.State, dbg.Reason, d1.State)
	}
	started, _ = s.ApplyPlan(ctx, sched.Plan{Starts: []sched.Allocation{{Job: pending[0].ID, Node: "n1", CPUs: []int{0}}}}, now)
	e7, _ := s.Job(ctx, started[0])
	if e7.ArrayIndex != 7 {
		t.Fatalf("next element index %d, want 7 (5 was cancelled)", e7.ArrayIndex)
	}
	p, _ := s.Job(ctx, parent)
	if p.State != api.StateRunning {
		t.Fatalf("array with every element started: %s", p.State)
	}
	counts, _ := s.ArrayElements(ctx, p)
	if counts[api.StateSucceeded] != 1 || counts[api.StateCancelled] != 1 || counts[api.StateRunning] != 1 || counts[api.StateStarting] != 1 {
		t.Fatalf("counts %v", counts)
	}
	s.db.Exec(`UPDATE jobs SET state = 'RUNNING' WHERE id = ?`, e7.ID)
	s.FinishJob(ctx, "n1", api.JobResult{JobID: e3.ID, ExitCode: 0, EndedAt: now})
	s.FinishJob(ctx, "n1", api.JobResult{JobID: e7.ID, ExitCode: 2, EndedAt: now})
	p, _ = s.Job(ctx, parent)
	if p.State != api.StateFailed || p.Reason != "2 of 4 elements did not succeed" {
		t.Fatalf("finished array: %s %q", p.State, p.Reason)
	}
	if el, err := s.Element(ctx, parent, 7); err != nil || el.ID != e7.ID {
		t.Fatalf("Element(7) = %+v, %v", el, err)
	}
}

func TestArrayCancel(t *testing.T) {
	ctx := t.Context()
	s, _ := Open(t.TempDir())
	defer s.Close()
	now := time.Now()
	j := newJob(1)
	j.Spec.Array = "1-1000000"
	parent, err := s.SubmitJob(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	pending, _, _ := s.ScheduleInput(ctx)
	if len(pending) != maxElementsPerPass {
		t.Fatalf("%d candidates, want the per-pass cap %d", len(pending), maxElementsPerPass)
	}
	started, _ := s.ApplyPlan(ctx, sched.Plan{Starts: []sched.Allocation{{Job: pending[0].ID, Node: "n1", CPUs: []int{0}}}}, now)
	view, err := s.Element(ctx, parent, 500000)
	if err != nil || view.State != api.StateRunnable || view.ArrayIndex != 500000 || view.ID != 0 {
		t.Fatalf("unstarted element view %+v, %v", view, err)
	}
	p, err := s.RequestKill(ctx, parent, "alice", now)
	if err != nil || p.State != api.StateRunning && p.State != api.StateRunnable || !p.KillRequested {
		t.Fatalf("kill array with a running element: %+v, %v", p, err)
	}
	if e, _ := s.Job(ctx, started[0]); !e.KillRequested {
		t.Fatal("the running element was not marked for killing")
	}
	if pending, _, _ := s.ScheduleInput(ctx); len(pending) != 0 {
		t.Fatal("a cancelled array still offers elements")
	}
	s.db.Exec(`UPDATE jobs SET state = 'RUNNING' WHERE id = ?`, started[0])
	s.FinishJob(ctx, "n1", api.JobResult{JobID: started[0], Killed: true, ExitCode: 143, EndedAt: now})
	p, _ = s.Job(ctx, parent)
	if p.State != api.StateCancelled || p.EndTime == nil {
		t.Fatalf("cancelled array after its element ended: %+v", p)
	}
	counts, _ := s.ArrayElements(ctx, p)
	if counts[api.StateCancelled] != 1000000 {
		t.Fatalf("counts %v", counts)
	}
}

// TestArrayReason: an array's reason is its first waiting candidate's, and
// a pass writes only the reasons that changed.
func TestArrayReason(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	now := time.Unix(1700000000, 0)
	j := newJob(1)
	j.Spec.Array = "1-3"
	parent, _ := s.SubmitJob(ctx, j)
	single, _ := s.SubmitJob(ctx, newJob(1))
	for _, tt := range []struct {
		name    string
		reasons []string // of the candidates, then of the single job
		want    []sched.JobReason
	}{
		{"first candidate's", []string{"a", "b", "c", "s"}, []sched.JobReason{{Job: parent, Reason: "a"}, {Job: single, Reason: "s"}}},
		{"unchanged: nothing written", []string{"a", "c", "b", "s"}, nil},
		{"the first changed", []string{"b", "a", "a", "s"}, []sched.JobReason{{Job: parent, Reason: "b"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pending, _, err := s.ScheduleInput(ctx)
			if err != nil || len(pending) != 4 {
				t.Fatalf("pending %v, %v; want 3 candidates and a job", pending, err)
			}
			var plan sched.Plan
			for k, p := range pending {
				plan.Waiting = append(plan.Waiting, sched.JobReason{Job: p.ID, Reason: tt.reasons[k]})
			}
			var got []sched.JobReason
			for k, write := range s.runq.newReasons(plan.Waiting) {
				if write {
					id, _ := reasonOwner(plan.Waiting[k].Job)
					got = append(got, sched.JobReason{Job: id, Reason: plan.Waiting[k].Reason})
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("reasons to write %+v, want %+v", got, tt.want)
			}
			if _, err := s.ApplyPlan(ctx, plan, now); err != nil {
				t.Fatal(err)
			}
			if a, _ := s.Job(ctx, parent); a.Reason != tt.reasons[0] {
				t.Errorf("the array's reason is %q, want %q", a.Reason, tt.reasons[0])
			}
		})
	}
}
