package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

// Job arrays are one row until their elements start. A scheduling pass
// sees an array as up to maxElementsPerPass identical pending jobs with
// synthetic (negative) ids; ApplyPlan turns each started one into an
// element row of its own, in index order.

// maxElementsPerPass caps how many elements of one array a pass considers.
const maxElementsPerPass = 1024

// elementKey is the synthetic scheduler id of the k'th candidate element
// of array parent in one pass; parentOfKey inverts it.
func elementKey(parent int64, k int) int64 { return -(parent<<20 | int64(k)) }

func parentOfKey(key int64) (int64, bool) {
	if key >= 0 {
		return 0, false
	}
	return (-key) >> 20, true
}

// arrayCandidates turns runnable array e, with active elements running,
// into its candidate elements for one pass: as many as remain to start,
// within its throttle. Each asks for what e.job asks of one element (not
// its span: an element is one task).
func arrayCandidates(e *cachedJob, active int64) ([]sched.Job, error) {
	id, arr := e.job.ID, e.arrayOf()
	a, err := api.ParseArray(arr.spec)
	if err != nil {
		return nil, fmt.Errorf("job %d array: %w", id, err)
	}
	n := a.Len - arr.next
	if arr.throttle > 0 {
		n = min(n, int64(arr.throttle)-active)
	}
	n = min(n, maxElementsPerPass)
	out := make([]sched.Job, 0, max(n, 0))
	for k := range max(n, 0) {
		out = append(out, sched.Job{ID: elementKey(id, int(k)), Cores: e.job.Cores, MemoryBytes: e.job.MemoryBytes,
			GPUs: e.job.GPUs, Exclusive: e.job.Exclusive, Walltime: e.job.Walltime,
			Queue: e.job.Queue, User: e.job.User, Submit: e.job.Submit, Features: e.job.Features})
	}
	return out, nil
}

// materialize creates the next element row of array parent, placed by a,
// and returns its id; false when the array has no element left to start
// (or stopped being runnable).
func materialize(ctx context.Context, tx *sql.Tx, parent int64, a sched.Allocation, now time.Time) (int64, bool, error) {
	p, err := jobInTx(ctx, tx, parent)
	if err != nil {
		return 0, false, err
	}
	if p.State != api.StateRunnable || p.KillRequested {
		return 0, false, nil
	}
	var next int64
	if err := tx.QueryRowContext(ctx, `SELECT array_next FROM jobs WHERE id = ?`, parent).Scan(&next); err != nil {
		return 0, false, err
	}
	arr, err := api.ParseArray(p.Spec.Array)
	if err != nil {
		return 0, false, err
	}
	// Skip indices that already have a row (cancelled before they started).
	var index int64
	for {
		idx, ok := arr.Index(next)
		if !ok {
			return 0, false, nil
		}
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE array_id = ? AND array_index = ?`, parent, idx).Scan(&exists); err != nil {
			return 0, false, err
		}
		next++
		if exists == 0 {
			index = idx
			break
		}
	}
	spec := p.Spec
	spec.Array, spec.ArrayThrottle = "", 0
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (spec, state, reason, user, uid, gid, groups_json, submit_ns, name,
		node, cpus_json, gpus_json, mem_bytes, array_id, array_index) VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		mustJSON(spec), api.StateStarting, p.User, p.UID, p.GID, mustJSON(p.Groups), p.SubmitTime.UnixNano(), spec.Name,
		a.Node, mustJSON(a.CPUs), mustJSON(nonNil(a.GPUs)), a.MemoryBytes, parent, index)
	if err != nil {
		return 0, false, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, false, err
	}
	if err := recordEvent(ctx, tx, now, id, api.StateStarting, fmt.Sprintf("element %d[%d] placed", parent, index), a.Node, "scheduler"); err != nil {
		return 0, false, err
	}
	// The array itself runs once every element has been started.
	state := api.StateRunnable
	if _, more := arr.Index(next); !more {
		state = api.StateRunning
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET array_next = ?, state = ?, reason = '', start_ns = COALESCE(start_ns, ?) WHERE id = ?`,
		next, state, now.UnixNano(), parent); err != nil {
		return 0, false, err
	}
	if state == api.StateRunning {
		if err := recordEvent(ctx, tx, now, parent, state, "every element started", "", "scheduler"); err != nil {
			return 0, false, err
		}
	}
	return id, true, nil
}

// settleArray ends array parent once every element has a row and none is
// still unfinished: SUCCEEDED if all succeeded, else FAILED (or stays
// CANCELLED). It is called after an element ends.
func settleArray(ctx context.Context, tx *sql.Tx, parent int64, now time.Time) error {
	p, err := jobInTx(ctx, tx, parent)
	if err != nil {
		return err
	}
	if p.State.Terminal() {
		return nil
	}
	arr, err := api.ParseArray(p.Spec.Array)
	if err != nil {
		return err
	}
	var rows, unfinished, failed int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*),
		COALESCE(SUM(state IN (?, ?, ?, ?)), 0), COALESCE(SUM(state != ? AND state IN (?, ?, ?, ?, ?)), 0)
		FROM jobs WHERE array_id = ?`,
		api.StatePending, api.StateRunnable, api.StateStarting, api.StateRunning,
		api.StateSucceeded, api.StateSucceeded, api.StateFailed, api.StateCancelled, api.StateTimeout, api.StateNodeFail,
		parent).Scan(&rows, &unfinished, &failed); err != nil {
		return err
	}
	if unfinished > 0 || (!p.KillRequested && rows < arr.Len) {
		return nil
	}
	state, reason := api.StateSucceeded, fmt.Sprintf("all %d elements succeeded", arr.Len)
	switch {
	case p.KillRequested:
		state, reason = api.StateCancelled, p.Reason
	case failed > 0:
		state, reason = api.StateFailed, fmt.Sprintf("%d of %d elements did not succeed", failed, arr.Len)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, end_ns = ? WHERE id = ?`, state, reason, now.UnixNano(), parent); err != nil {
		return err
	}
	return recordEvent(ctx, tx, now, parent, state, reason, "", "scheduler")
}

// ArrayElements counts an array's elements by state; elements without a
// row yet count in the array's own state (PENDING or RUNNABLE), or as
// CANCELLED when the array was cancelled.
func (s *Store) ArrayElements(ctx context.Context, j api.Job) (map[api.JobState]int64, error) {
	arr, err := api.ParseArray(j.Spec.Array)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT state, COUNT(*) FROM jobs WHERE array_id = ? GROUP BY state`, j.ID)
	if err != nil {
		return nil, fmt.Errorf("array %d elements: %w", j.ID, err)
	}
	defer rows.Close()
	counts := map[api.JobState]int64{}
	var total int64
	for rows.Next() {
		var st api.JobState
		var n int64
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		counts[st] += n
		total += n
	}
	if rest := arr.Len - total; rest > 0 {
		st := j.State
		switch {
		case j.KillRequested || st.Terminal():
			st = api.StateCancelled
		case st == api.StateRunning:
			st = api.StateRunnable
		}
		counts[st] += rest
	}
	return counts, rows.Err()
}

// Element returns element index of array parent: its own row once it has
// one, else a view of the array's spec in the array's state.
func (s *Store) Element(ctx context.Context, parent, index int64) (api.Job, error) {
	j, err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE array_id = ? AND array_index = ?`, parent, index))
	if err == nil {
		return j, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return j, err
	}
	p, err := s.Job(ctx, parent)
	if err != nil {
		return p, err
	}
	arr, err := api.ParseArray(p.Spec.Array)
	if p.Spec.Array == "" || err != nil || !arr.Contains(index) {
		return api.Job{}, fmt.Errorf("job %d[%d]: %w", parent, index, ErrNotFound)
	}
	view := p
	view.ID, view.ArrayID, view.ArrayIndex = 0, parent, index
	view.Spec.Array, view.Spec.ArrayThrottle = "", 0
	if view.State == api.StateRunning {
		view.State = api.StateRunnable
	}
	if view.State.Terminal() || p.KillRequested {
		view.State = api.StateCancelled
	}
	view.StartTime, view.EndTime = nil, nil
	return view, nil
}

// CancelElement cancels element index of array parent before it starts:
// it gets a CANCELLED row, which the array skips. An element that already
// has a row is killed through RequestKill instead.
func (s *Store) CancelElement(ctx context.Context, parent, index int64, actor string, now time.Time) (api.Job, error) {
	var out api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		p, err := jobInTx(ctx, tx, parent)
		if err != nil {
			return err
		}
		arr, err := api.ParseArray(p.Spec.Array)
		if p.Spec.Array == "" || err != nil || !arr.Contains(index) {
			return fmt.Errorf("job %d[%d]: %w", parent, index, ErrNotFound)
		}
		if p.State.Terminal() || p.KillRequested {
			return fmt.Errorf("job %d has already ended or is being cancelled (%s)", parent, p.State)
		}
		spec := p.Spec
		spec.Array, spec.ArrayThrottle = "", 0
		reason := "cancelled before it started"
		res, err := tx.ExecContext(ctx, `INSERT INTO jobs (spec, state, reason, user, uid, gid, groups_json, submit_ns, end_ns, name, array_id, array_index)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, mustJSON(spec), api.StateCancelled, reason, p.User, p.UID, p.GID,
			mustJSON(p.Groups), p.SubmitTime.UnixNano(), now.UnixNano(), spec.Name, parent, index)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, now, id, api.StateCancelled, reason, "", actor); err != nil {
			return err
		}
		if err := settleArray(ctx, tx, parent, now); err != nil {
			return err
		}
		out, err = jobInTx(ctx, tx, id)
		return err
	})
	return out, err
}

// cancelArray cancels array j: no further element starts, and every
// element on a node is marked for killing. The array ends CANCELLED once
// none of its elements runs any more (at once when none does).
func cancelArray(ctx context.Context, tx *sql.Tx, j *api.Job, actor string, now time.Time) error {
	j.KillRequested, j.Reason = true, "cancelled by "+actor
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET kill_requested = 1, reason = ? WHERE id = ?`, j.Reason, j.ID); err != nil {
		return err
	}
	if err := recordEvent(ctx, tx, now, j.ID, j.State, "cancel requested", "", actor); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET kill_requested = 1 WHERE array_id = ? AND state IN (?, ?)`,
		j.ID, api.StateStarting, api.StateRunning); err != nil {
		return err
	}
	if err := settleArray(ctx, tx, j.ID, now); err != nil {
		return err
	}
	settled, err := jobInTx(ctx, tx, j.ID)
	*j = settled
	return err
}
