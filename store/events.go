package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// execer is what both *sql.DB and *sql.Tx offer.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// recordEvent appends one event to the log, in the caller's transaction.
func recordEvent(ctx context.Context, tx execer, now time.Time, job int64, state api.JobState, reason, node, actor string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO events (time_ns, job_id, state, reason, node, actor) VALUES (?, ?, ?, ?, ?, ?)`,
		now.UnixNano(), job, state, reason, node, actor)
	if err != nil {
		return fmt.Errorf("record event of job %d: %w", job, err)
	}
	return nil
}

// EventFilter selects events for Events.
type EventFilter struct {
	// After keeps events with a larger id (0: from the start).
	After int64
	// Jobs, if not empty, keeps only these jobs' events, and with
	// Elements also the events of their elements, for arrays.
	Jobs     []int64
	Elements bool
	// UID, when non-nil, keeps only that user's jobs' events.
	UID *uint32
	// Limit caps the number returned (default 1000).
	Limit int
}

// Events returns events in id order.
func (s *Store) Events(ctx context.Context, f EventFilter) ([]api.Event, error) {
	q := `SELECT e.id, e.time_ns, e.job_id, e.state, e.reason, e.node, e.actor, j.array_id
		FROM events e JOIN jobs j ON j.id = e.job_id WHERE e.id > ?`
	args := []any{f.After}
	if f.UID != nil {
		q += ` AND j.uid = ?`
		args = append(args, *f.UID)
	}
	if len(f.Jobs) > 0 && !f.Elements {
		q += ` AND e.job_id IN (` + placeholders(len(f.Jobs)) + `)`
		for _, id := range f.Jobs {
			args = append(args, id)
		}
	}
	if len(f.Jobs) > 0 && f.Elements {
		ph := placeholders(len(f.Jobs))
		q += ` AND (e.job_id IN (` + ph + `) OR (j.array_id != 0 AND j.array_id IN (` + ph + `)))`
		for range 2 {
			for _, id := range f.Jobs {
				args = append(args, id)
			}
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q += ` ORDER BY e.id LIMIT ?`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []api.Event
	for rows.Next() {
		var e api.Event
		var ns int64
		if err := rows.Scan(&e.ID, &ns, &e.JobID, &e.State, &e.Reason, &e.Node, &e.Actor, &e.ArrayID); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Time = time.Unix(0, ns).UTC()
		out = append(out, e)
	}
	return out, rows.Err()
}
