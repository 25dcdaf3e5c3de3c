package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// ErrNotModifiable is returned for a change to a job that has started.
var ErrNotModifiable = fmt.Errorf("job has started")

// ModifyJob replaces the spec of a job that has not started (PENDING or
// RUNNABLE; an array none of whose elements has started) with spec, which
// the caller has validated and admitted, and records what changed. A job
// with a hold, begin time or dependency goes back to PENDING so the
// eligibility pass looks at it again.
func (s *Store) ModifyJob(ctx context.Context, id int64, spec api.JobSpec, what, actor string, now time.Time) (api.Job, error) {
	var j api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = jobInTx(ctx, tx, id); err != nil {
			return err
		}
		var next int64
		if err := tx.QueryRowContext(ctx, `SELECT array_next FROM jobs WHERE id = ?`, id).Scan(&next); err != nil {
			return err
		}
		if j.State != api.StatePending && j.State != api.StateRunnable || next > 0 || j.KillRequested {
			return fmt.Errorf("job %d is %s: %w", id, j.State, ErrNotModifiable)
		}
		state := j.State
		if spec.BeginTime != nil || spec.Dependency != "" {
			state = api.StatePending
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET spec = ?, name = ?, state = ?, reason = '' WHERE id = ?`,
			mustJSON(spec), spec.Name, state, id); err != nil {
			return err
		}
		if err := recordEvent(ctx, tx, now, id, state, "modified: "+what, "", actor); err != nil {
			return err
		}
		j.Spec, j.State, j.Reason = spec, state, ""
		return nil
	})
	return j, err
}
