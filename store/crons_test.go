package store

import (
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

func TestCronFiring(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	owner := newJob(1)
	start := time.Date(2026, 11, 26, 10, 0, 30, 0, time.UTC)
	hourly := func(overlap string) int64 {
		spec := api.CronSpec{Schedule: "0 * * * *", Overlap: overlap, Job: api.JobSpec{Command: []string{"true"}, Cwd: "/tmp", Queue: "normal", Name: "nightly"}}
		id, err := s.AddCron(ctx, spec, owner, start)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	skip, queue, allow := hourly("skip"), hourly("queue"), hourly("allow")

	// Before the first slot nothing fires; the timer is set for 11:00.
	res, err := s.FireDue(ctx, start.Add(time.Minute))
	if err != nil || len(res.Submitted) != 0 || !res.Next.Equal(time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)) {
		t.Fatalf("early FireDue = %+v, %v", res, err)
	}
	// 11:00: each fires once; firing again at the same instant does nothing.
	at11 := time.Date(2026, 11, 26, 11, 0, 0, 0, time.UTC)
	res, _ = s.FireDue(ctx, at11)
	if len(res.Submitted) != 3 {
		t.Fatalf("11:00 submitted %v", res.Submitted)
	}
	if again, _ := s.FireDue(ctx, at11); len(again.Submitted) != 0 {
		t.Fatalf("a slot fired twice: %v", again.Submitted)
	}
	// 12:00 with the 11:00 jobs still unfinished: skip skips, queue
	// depends, allow runs.
	res, _ = s.FireDue(ctx, at11.Add(time.Hour))
	if len(res.Submitted) != 2 {
		t.Fatalf("12:00 submitted %v, want the queue and allow crons' jobs", res.Submitted)
	}
	c, _ := s.Cron(ctx, skip)
	if c.Fired != 1 || c.Skipped != 1 {
		t.Errorf("skip cron fired %d skipped %d", c.Fired, c.Skipped)
	}
	q, _ := s.Cron(ctx, queue)
	if j, _ := s.Job(ctx, q.LastJob); j.Spec.Dependency != "ended(2)" || j.State != api.StatePending {
		t.Errorf("queued overlap job: dependency %q state %s", j.Spec.Dependency, j.State)
	}
	a, _ := s.Cron(ctx, allow)
	if j, _ := s.Job(ctx, a.LastJob); j.Spec.Dependency != "" || j.UID != owner.UID || j.User != "alice" {
		t.Errorf("allowed overlap job: %+v", j)
	}

	// The server was down from 12:30 to 15:10: one catch-up run, two
	// slots counted as missed.
	for _, id := range []int64{queue, allow} {
		if _, err := s.SetCronPaused(ctx, id, true, at11); err != nil {
			t.Fatal(err)
		}
	}
	s.db.Exec(`UPDATE jobs SET state = 'SUCCEEDED'`)
	res, _ = s.FireDue(ctx, time.Date(2026, 11, 26, 15, 10, 0, 0, time.UTC))
	if len(res.Submitted) != 1 {
		t.Fatalf("after the outage submitted %v, want one catch-up", res.Submitted)
	}
	c, _ = s.Cron(ctx, skip)
	if c.Fired != 2 || c.Skipped != 3 || !c.NextFire.Equal(time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("after catch-up: fired %d skipped %d next %v", c.Fired, c.Skipped, c.NextFire)
	}
	evs, _ := s.Events(ctx, EventFilter{Jobs: []int64{c.LastJob}})
	if len(evs) != 1 || !strings.Contains(evs[0].Reason, "slot 2026-11-26 15:00 UTC (2 earlier slots missed") || evs[0].Actor != "cron 1" {
		t.Errorf("catch-up event %+v", evs)
	}
	// Paused crons fire nothing; resumed ones continue after now.
	p, _ := s.Cron(ctx, queue)
	if !p.Paused || p.NextFire != nil {
		t.Errorf("paused cron %+v", p)
	}
	r, err := s.SetCronPaused(ctx, queue, false, time.Date(2026, 11, 26, 15, 20, 0, 0, time.UTC))
	if err != nil || r.Paused || !r.NextFire.Equal(time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("resumed cron %+v, %v", r, err)
	}
	// A closed queue skips the slot.
	s.db.Exec(`UPDATE queues SET spec_json = json_set(spec_json, '$.open', json('false'))`)
	res, _ = s.FireDue(ctx, time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC))
	if len(res.Submitted) != 0 {
		t.Errorf("fired into a closed queue: %v", res.Submitted)
	}
}
