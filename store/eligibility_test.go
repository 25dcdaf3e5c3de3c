package store

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

func TestPromote(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	submit := func(mod func(*api.JobSpec)) int64 {
		j := newJob(1)
		mod(&j.Spec)
		id, err := s.SubmitJob(ctx, j)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	later := now.Add(time.Hour)
	prep := submit(func(sp *api.JobSpec) { sp.Name = "prep-1" })
	failed := submit(func(sp *api.JobSpec) { sp.Name = "bad" })
	held := submit(func(sp *api.JobSpec) { sp.Hold = true })
	begin := submit(func(sp *api.JobSpec) { sp.BeginTime = &later })
	onPrep := submit(func(sp *api.JobSpec) { sp.Dependency = `done("prep*")` })
	onFailed := submit(func(sp *api.JobSpec) { sp.Dependency = "done(2)" })
	onFailedCancel := submit(func(sp *api.JobSpec) { sp.Dependency = "done(2)"; sp.CancelOnUnsatisfiable = true })
	onExit := submit(func(sp *api.JobSpec) { sp.Dependency = "exit(2, == 3)" })

	// prep and bad ran and ended; the rest are pending.
	for id, code := range map[int64]int{prep: 0, failed: 3} {
		if _, err := s.db.Exec(`UPDATE jobs SET state = 'RUNNING', node = 'n1' WHERE id = ?`, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.FinishJob(ctx, "n1", api.JobResult{JobID: id, ExitCode: code, StartedAt: now, EndedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	res, err := s.Promote(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if !res.NextBegin.Equal(later) {
		t.Errorf("NextBegin = %v, want %v", res.NextBegin, later)
	}
	want := map[int64]struct {
		state  api.JobState
		reason string
	}{
		held:           {api.StatePending, ""},
		begin:          {api.StatePending, "begin time"},
		onPrep:         {api.StateRunnable, ""},
		onFailed:       {api.StatePending, "dependency can never be satisfied: done(2)"},
		onFailedCancel: {api.StateCancelled, "dependency can never be satisfied"},
		onExit:         {api.StateRunnable, ""},
	}
	for id, w := range want {
		j, _ := s.Job(ctx, id)
		if j.State != w.state || !strings.Contains(j.Reason, w.reason) {
			t.Errorf("job %d: %s %q, want %s with %q", id, j.State, j.Reason, w.state, w.reason)
		}
	}

	// Release the held job; at the begin time the other one runs too.
	if _, err := s.SetHold(ctx, held, false, "alice", now); err != nil {
		t.Fatal(err)
	}
	res, _ = s.Promote(ctx, later)
	if len(res.Runnable) != 2 {
		t.Errorf("after release and begin time: runnable %v, want [%d %d]", res.Runnable, held, begin)
	}
	// Holding a runnable job takes it back to PENDING; a running one cannot.
	j, err := s.SetHold(ctx, onPrep, true, "alice", now)
	if err != nil || j.State != api.StatePending || j.Reason != "held by alice" {
		t.Errorf("hold runnable: %+v, %v", j, err)
	}
	if _, err := s.SetHold(ctx, prep, true, "alice", now); err == nil {
		t.Error("held a finished job")
	}
}
