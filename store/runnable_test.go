package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

// queueFromDB reads the runnable queue straight from the database, the way
// ScheduleInput did before the queue was kept in memory.
func queueFromDB(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.rdb.Query(`SELECT id, array_next, COALESCE(order_ns, submit_ns), user, spec FROM jobs
		WHERE state = ? AND kill_requested = 0 ORDER BY COALESCE(order_ns, submit_ns), id`, api.StateRunnable)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, next, order int64
		var user, raw string
		var spec api.JobSpec
		if err := rows.Scan(&id, &next, &order, &user, &raw); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal([]byte(raw), &spec); err != nil {
			t.Fatal(err)
		}
		e := cachedJob{job: sched.Job{ID: id, User: user, Submit: sched.Stamp(order)}}
		if next != 0 {
			e.arr = &arrayPart{next: next}
		}
		e.setRequest(spec)
		out = append(out, queueEntry(&e))
	}
	return out
}

func queueFromMemory(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	err := s.eachRunnable(t.Context(), func(e *cachedJob) error {
		out = append(out, queueEntry(e))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// queueEntry is what a pass reads of e.
func queueEntry(e *cachedJob) string {
	return fmt.Sprintf("%+v %+v", e.job, e.arrayOf())
}

// entriesMatchDB checks every job the store holds in memory, field by
// field, against the entries a first load from the database makes
// (submissions put theirs in memory without reading them back).
func entriesMatchDB(t *testing.T, s *Store) {
	t.Helper()
	q := s.runq
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if err := s.sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	fresh := &Store{rdb: s.rdb, runq: newRunq()}
	if err := fresh.loadCached(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(q.jobs) != len(fresh.runq.jobs) {
		t.Fatalf("%d jobs in memory, %d in the database", len(q.jobs), len(fresh.runq.jobs))
	}
	for id, want := range fresh.runq.jobs {
		got, ok := q.jobs[id]
		if !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("job %d in memory:\n%+v\nwant (database)\n%+v", id, got, want)
		}
	}
}

// listingFromDB is what a job table shows of every job, from the full
// listing.
func listingFromDB(t *testing.T, s *Store) []string {
	t.Helper()
	jobs, err := s.Jobs(t.Context(), JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		out = append(out, tableRow(j))
	}
	return out
}

func listingFromTable(t *testing.T, s *Store) []string {
	t.Helper()
	table, err := s.JobTable(t.Context(), JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	jt, err := table.Decode()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := range jt.Len() {
		out = append(out, tableRow(jt.Job(i)))
	}
	return out
}

func tableRow(j api.Job) string {
	return fmt.Sprintf("%d %d[%d] %s %s %s node=%s cores=%d name=%s %d reason=%q", j.ID, j.ArrayID, j.ArrayIndex, j.Spec.Array, j.User, j.State,
		j.Node, max(j.Spec.Cores, 1), j.Spec.Name, j.SubmitTime.UnixMilli(), j.Reason)
}

// TestRunnableQueueFollowsEveryWrite drives the store through every kind
// of write that can make a job runnable or not, or move it in the queue,
// in random order, and checks after each that the in-memory queue is the
// one the database holds; then that a reopened store loads the same.
func TestRunnableQueueFollowsEveryWrite(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1700000000, 0)
	if err := s.RegisterNode(ctx, api.RegisterRequest{Name: "n1", CPUs: []int{0, 1, 2, 3}, MemoryBytes: 1 << 30}, now); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ids []int64
	pick := func() int64 {
		if len(ids) == 0 {
			return 1
		}
		return ids[rng.IntN(len(ids))]
	}
	// The last pass's jobs, as the store handed them and as they were
	// then: the pass reads them in place, so they must not change.
	var passJobs []*sched.Job
	var passCopy []sched.Job
	check := func(step int, what string) {
		t.Helper()
		for k, j := range passJobs {
			if !reflect.DeepEqual(*j, passCopy[k]) {
				t.Fatalf("step %d (%s): a pass's job changed under it:\n%+v\nwas\n%+v", step, what, *j, passCopy[k])
			}
		}
		want, got := queueFromDB(t, s), queueFromMemory(t, s)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d (%s): in-memory queue\n%v\nwant (database)\n%v", step, what, got, want)
		}
		if want, got := listingFromDB(t, s), listingFromTable(t, s); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d (%s): listing\n%v\nwant (database)\n%v", step, what, got, want)
		}
		entriesMatchDB(t, s)
	}
	check(0, "empty")
	ops := []struct {
		name string
		do   func()
	}{
		{"submit", func() {
			j := newJob(1 + rng.IntN(3))
			j.User = []string{"alice", "bob"}[rng.IntN(2)]
			j.SubmitTime = now.Add(time.Duration(rng.IntN(100)) * time.Second)
			switch rng.IntN(6) {
			case 0:
				j.Spec.Hold = true
			case 1:
				b := now.Add(time.Duration(rng.IntN(200)) * time.Second)
				j.Spec.BeginTime = &b
			case 2:
				j.Spec.Dependency = fmt.Sprintf("ended(%d)", pick())
			case 3:
				j.Spec.Array = "1-5"
			case 4:
				j.Spec.Retry = &api.RetryStrategy{Attempts: 3}
			}
			id, err := s.SubmitJob(ctx, j)
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}},
		{"promote", func() {
			now = now.Add(10 * time.Second)
			s.Promote(ctx, now)
		}},
		{"hold", func() { s.SetHold(ctx, pick(), true, "alice", now) }},
		{"release", func() { s.SetHold(ctx, pick(), false, "alice", now) }},
		{"modify", func() {
			id := pick()
			j, err := s.Job(ctx, id)
			if err != nil {
				return
			}
			j.Spec.Cores = 1 + rng.IntN(4)
			j.Spec.MemoryBytes = int64(rng.IntN(1000)) << 20
			s.ModifyJob(ctx, id, j.Spec, "cores", "alice", now)
		}},
		{"move", func() { s.MoveJob(ctx, pick(), rng.IntN(2) == 0, "alice", now) }},
		{"kill", func() { s.RequestKill(ctx, pick(), "alice", now) }},
		{"cancel element", func() { s.CancelElement(ctx, pick(), int64(1+rng.IntN(5)), "alice", now) }},
		{"schedule", func() {
			pending, _, err := s.ScheduleInput(ctx)
			if err != nil {
				t.Fatal(err)
			}
			passJobs, passCopy = pending, nil
			for _, j := range pending {
				c := *j
				c.Features = slices.Clone(j.Features)
				passCopy = append(passCopy, c)
			}
			var plan sched.Plan
			for i, p := range pending {
				if i < 2 {
					plan.Starts = append(plan.Starts, sched.Allocation{Job: p.ID, Node: "n1", CPUs: []int{i}})
				} else {
					plan.Waiting = append(plan.Waiting, sched.JobReason{Job: p.ID, Reason: fmt.Sprintf("waiting %d", rng.IntN(3))})
				}
			}
			if _, err := s.ApplyPlan(ctx, plan, now); err != nil {
				t.Fatal(err)
			}
		}},
		{"finish", func() {
			j, err := s.Job(ctx, pick())
			if err != nil || j.Node == "" {
				return
			}
			s.FinishJob(ctx, j.Node, api.JobResult{JobID: j.ID, ExitCode: rng.IntN(2), EndedAt: now})
		}},
		{"node lost", func() {
			s.MarkSilentNodesDown(ctx, now.Add(time.Hour), now)
			s.RegisterNode(ctx, api.RegisterRequest{Name: "n1", CPUs: []int{0, 1, 2, 3}, MemoryBytes: 1 << 30}, now)
		}},
		{"write outside a transaction", func() {
			// Published by the next transaction on the writing connection
			// (the eligibility pass runs one before every scheduling pass).
			s.db.Exec(`UPDATE jobs SET order_ns = order_ns + 1 WHERE id = ?`, pick())
			s.Promote(ctx, now)
		}},
	}
	for step := 1; step <= 1500; step++ {
		op := ops[rng.IntN(len(ops))]
		if step < 20 {
			op = ops[0]
		}
		op.do()
		check(step, op.name)
	}
	want := queueFromDB(t, s)
	if len(want) == 0 {
		t.Fatal("nothing runnable at the end: the test exercises too little")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := queueFromMemory(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("after reopening: %v\nwant %v", got, want)
	}
}

// TestRunnableQueueUnderConcurrentWrites submits and cancels from several
// goroutines while passes read the queue and every job they are handed,
// and listings bring the store up to date meanwhile, then checks it
// against the database (run it with -race).
func TestRunnableQueueUnderConcurrentWrites(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	stop := make(chan struct{})
	var passes sync.WaitGroup
	// until runs body until stop is closed or body fails.
	until := func(body func() error) {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := body(); err != nil {
				t.Error(err)
				return
			}
		}
	}
	passes.Go(func() {
		until(func() error {
			pending, _, err := s.ScheduleInput(ctx)
			for _, j := range pending {
				_ = fmt.Sprint(*j) // every field, while the store syncs
			}
			return err
		})
	})
	passes.Go(func() {
		until(func() error {
			_, err := s.JobTable(ctx, JobFilter{})
			return err
		})
	})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 100 {
				j := newJob(1 + i%3)
				j.Spec.Hold = i%5 == 0
				j.Spec.Name = fmt.Sprintf("w%d", w)
				id, err := s.SubmitJob(ctx, j)
				if err != nil {
					t.Error(err)
					return
				}
				if (i+w)%3 == 0 {
					s.RequestKill(ctx, id, "alice", time.Now())
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	passes.Wait()
	if want, got := queueFromDB(t, s), queueFromMemory(t, s); !reflect.DeepEqual(got, want) {
		t.Fatalf("in-memory queue %d jobs, database %d", len(got), len(want))
	}
	entriesMatchDB(t, s)
}

// TestEntrySize keeps an entry within the allocator's 256-byte size
// class on 64-bit machines: the store holds one for every unfinished job,
// a million for a long queue (docs/performance.md, "Memory at 1M").
func TestEntrySize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are for 64-bit machines")
	}
	if n := unsafe.Sizeof(cachedJob{}); n > 256 {
		t.Errorf("cachedJob is %d bytes, over 256: the next size class, 288, costs 32 MB more at a million jobs", n)
	}
}
