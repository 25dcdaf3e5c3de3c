package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// MoveJob moves a waiting job to the top (top true) or the bottom of its
// user's waiting jobs, as LSF's btop and bbot do: its age for priority
// then counts from just before the oldest (or just after the newest) of
// them. The other priority factors (queue, fair share, size) still apply.
func (s *Store) MoveJob(ctx context.Context, id int64, top bool, actor string, now time.Time) (api.Job, error) {
	var j api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = jobInTx(ctx, tx, id); err != nil {
			return err
		}
		if j.State != api.StatePending && j.State != api.StateRunnable {
			return fmt.Errorf("job %d is %s: %w", id, j.State, ErrNotModifiable)
		}
		agg := "MAX"
		if top {
			agg = "MIN"
		}
		var edge sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT `+agg+`(COALESCE(order_ns, submit_ns)) FROM jobs
			WHERE uid = ? AND id != ? AND state IN (?, ?)`, j.UID, id, api.StatePending, api.StateRunnable).Scan(&edge); err != nil {
			return err
		}
		if !edge.Valid {
			return nil // its user has no other waiting job
		}
		at := edge.Int64 + 1
		if top {
			at = edge.Int64 - 1
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET order_ns = ? WHERE id = ?`, at, id); err != nil {
			return err
		}
		where := map[bool]string{true: "moved to the top of its user's queue", false: "moved to the bottom of its user's queue"}[top]
		return recordEvent(ctx, tx, now, id, j.State, where, "", actor)
	})
	return j, err
}
