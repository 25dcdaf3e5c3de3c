package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// ErrNotRunning is returned when suspending or continuing a job that is
// not running.
var ErrNotRunning = errors.New("job is not running")

// SetSuspend asks the node of running job id to freeze it (on) or thaw
// it, and returns the job as it now is.
func (s *Store) SetSuspend(ctx context.Context, id int64, on bool, actor string, now time.Time) (api.Job, error) {
	var j api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = jobInTx(ctx, tx, id); err != nil {
			return err
		}
		if j.State != api.StateRunning || j.KillRequested {
			return fmt.Errorf("job %d is %s: %w", id, j.State, ErrNotRunning)
		}
		if j.SuspendRequested == on {
			return nil
		}
		j.SuspendRequested = on
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET suspend_requested = ? WHERE id = ?`, on, id); err != nil {
			return err
		}
		what := map[bool]string{true: "suspend requested", false: "continue requested"}[on]
		return recordEvent(ctx, tx, now, id, j.State, what, j.Node, actor)
	})
	return j, err
}

// recordSuspended records which of node's running jobs its report says
// are frozen, with an event for each change. It reports whether any
// changed.
func recordSuspended(ctx context.Context, tx *sql.Tx, node string, frozen []int64, now time.Time) (bool, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, suspended FROM jobs WHERE node = ? AND state = ?`, node, api.StateRunning)
	if err != nil {
		return false, err
	}
	type flip struct {
		id  int64
		now bool
	}
	var flips []flip
	for rows.Next() {
		var id int64
		var was bool
		if err := rows.Scan(&id, &was); err != nil {
			rows.Close()
			return false, err
		}
		if is := slices.Contains(frozen, id); is != was {
			flips = append(flips, flip{id, is})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return false, err
	}
	for _, f := range flips {
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET suspended = ? WHERE id = ?`, f.now, f.id); err != nil {
			return false, err
		}
		what := map[bool]string{true: "suspended", false: "continued"}[f.now]
		if err := recordEvent(ctx, tx, now, f.id, api.StateRunning, what, node, node); err != nil {
			return false, err
		}
	}
	return len(flips) > 0, nil
}

// SignalJob asks the nodes of running job id to send signal sig (a name
// such as SIGUSR1) to every process of the job, and returns the job. A job
// that is not STARTING or RUNNING, or is being killed, gets ErrNotRunning.
func (s *Store) SignalJob(ctx context.Context, id int64, sig, actor string, now time.Time) (api.Job, error) {
	var j api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = jobInTx(ctx, tx, id); err != nil {
			return err
		}
		if j.State != api.StateRunning && j.State != api.StateStarting || j.KillRequested {
			return fmt.Errorf("job %d is %s: %w", id, j.State, ErrNotRunning)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET signal_seq = signal_seq + 1, signal_req = ? WHERE id = ?`, sig, id); err != nil {
			return err
		}
		return recordEvent(ctx, tx, now, id, j.State, "signal "+sig+" sent", j.Node, actor)
	})
	return j, err
}
