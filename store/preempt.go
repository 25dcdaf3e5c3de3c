package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

// preempt stops running job p.Job so that p.By can start, on all its nodes
// at once: Requeue puts it back in the queue as its next try (the nodes
// kill the old one when their assignments drop it); Suspend freezes it
// (its nodes stop it with the cgroup freezer) until ResumePreempted thaws
// it. A victim that ended or was suspended since the snapshot is left
// alone: the plan's starts then wait for the next pass's check.
func preempt(ctx context.Context, tx *sql.Tx, p sched.Preemption, now time.Time) error {
	var state api.JobState
	var attempt int
	var suspended bool
	err := tx.QueryRowContext(ctx, `SELECT state, attempt, suspend_requested OR suspended FROM jobs WHERE id = ?`, p.Job).Scan(&state, &attempt, &suspended)
	if errors.Is(err, sql.ErrNoRows) || err == nil && (state != api.StateStarting && state != api.StateRunning || suspended) {
		return nil
	}
	if err != nil {
		return err
	}
	nodes := strings.Join(p.Nodes, ",")
	if p.Action == sched.Suspend {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET suspend_requested = 1, preempted_by = ? WHERE id = ?`, p.By, p.Job); err != nil {
			return err
		}
		return recordEvent(ctx, tx, now, p.Job, state, fmt.Sprintf("preempted by job %d: suspend requested", p.By), nodes, "scheduler")
	}
	why := fmt.Sprintf("preempted by job %d after %s", p.By, p.Lost.Round(time.Second))
	return retry(ctx, tx, p.Job, attempt, attempt+1, why, nodes, now)
}

// PreemptSuspended is a running job a preemption froze.
type PreemptSuspended struct {
	Job, By int64
}

// PreemptSuspendedJobs lists the running jobs that preemptions froze and
// that are still frozen (or being frozen).
func (s *Store) PreemptSuspendedJobs(ctx context.Context) ([]PreemptSuspended, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, preempted_by FROM jobs WHERE preempted_by != 0 AND suspend_requested = 1 AND state IN (?, ?)`,
		api.StateStarting, api.StateRunning)
	if err != nil {
		return nil, fmt.Errorf("preempted jobs: %w", err)
	}
	defer rows.Close()
	var out []PreemptSuspended
	for rows.Next() {
		var p PreemptSuspended
		if err := rows.Scan(&p.Job, &p.By); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ResumePreempted thaws job id, frozen by a preemption, unless something
// else changed it meanwhile (it ended, a user suspended or continued it).
// It reports whether it did.
func (s *Store) ResumePreempted(ctx context.Context, id int64, now time.Time) (bool, error) {
	var done bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var node string
		var state api.JobState
		err := tx.QueryRowContext(ctx, `UPDATE jobs SET suspend_requested = 0, preempted_by = 0
			WHERE id = ? AND preempted_by != 0 AND suspend_requested = 1 AND state IN (?, ?) RETURNING node, state`,
			id, api.StateStarting, api.StateRunning).Scan(&node, &state)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		done = true
		return recordEvent(ctx, tx, now, id, state, "preemptor gone: continue requested", node, "scheduler")
	})
	if err != nil {
		return false, fmt.Errorf("resume job %d: %w", id, err)
	}
	return done, nil
}
