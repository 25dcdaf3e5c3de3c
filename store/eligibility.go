package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/depend"
)

// PromoteResult is what one eligibility pass did.
type PromoteResult struct {
	// Runnable are the jobs that became RUNNABLE.
	Runnable []int64
	// Cancelled are the jobs cancelled because their dependency can never
	// be satisfied (and they asked for that).
	Cancelled []int64
	// NextBegin is the earliest future begin time of a job still PENDING
	// for that reason; zero when none. The caller wakes then.
	NextBegin time.Time
}

// Promote is the eligibility pass, run before each scheduling pass: every
// PENDING job that is not held, whose begin time has come and whose
// dependency holds becomes RUNNABLE; the others get a reason saying what
// they wait for. A dependency that can never be satisfied says so, and
// cancels the job if it asked for that. One transaction.
func (s *Store) Promote(ctx context.Context, now time.Time) (PromoteResult, error) {
	var res PromoteResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res = PromoteResult{}
		type pendingJob struct {
			id     int64
			uid    uint32
			held   bool
			reason string
			spec   api.JobSpec
		}
		// Held jobs are skipped: nothing but a release changes them, and
		// they keep the reason the hold gave them.
		rows, err := tx.QueryContext(ctx, `SELECT id, uid, held, reason, spec FROM jobs WHERE state = ? AND held = 0 ORDER BY id`, api.StatePending)
		if err != nil {
			return err
		}
		var jobs []pendingJob
		for rows.Next() {
			var j pendingJob
			var raw string
			if err := rows.Scan(&j.id, &j.uid, &j.held, &j.reason, &raw); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal([]byte(raw), &j.spec); err != nil {
				rows.Close()
				return fmt.Errorf("job %d spec: %w", j.id, err)
			}
			jobs = append(jobs, j)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, j := range jobs {
			why, runnable, never := "", false, false
			switch {
			case j.held:
				why = j.reason // set by Hold; kept as it is
			case j.spec.BeginTime != nil && now.Before(*j.spec.BeginTime):
				why = "begin time " + j.spec.BeginTime.Local().Format(time.DateTime)
				if res.NextBegin.IsZero() || j.spec.BeginTime.Before(res.NextBegin) {
					res.NextBegin = *j.spec.BeginTime
				}
			case j.spec.Dependency != "":
				expr, err := depend.Parse(j.spec.Dependency)
				if err != nil { // validated at submit; a stored bad one never runs
					why, never = "dependency: "+err.Error(), true
					break
				}
				v := depend.Evaluate(expr, &txLookup{ctx: ctx, tx: tx, uid: j.uid})
				switch {
				case v.Now:
					runnable = true
				case v.Never():
					why, never = "dependency can never be satisfied: "+expr.String(), true
				default:
					why = "waiting for dependency: " + expr.String()
				}
			default:
				runnable = true
			}
			switch {
			case runnable:
				if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = '' WHERE id = ?`, api.StateRunnable, j.id); err != nil {
					return err
				}
				if err := recordEvent(ctx, tx, now, j.id, api.StateRunnable, "eligible", "", "scheduler"); err != nil {
					return err
				}
				res.Runnable = append(res.Runnable, j.id)
			case never && j.spec.CancelOnUnsatisfiable:
				if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, end_ns = ? WHERE id = ?`,
					api.StateCancelled, why, now.UnixNano(), j.id); err != nil {
					return err
				}
				if err := recordEvent(ctx, tx, now, j.id, api.StateCancelled, why, "", "scheduler"); err != nil {
					return err
				}
				res.Cancelled = append(res.Cancelled, j.id)
			case why != j.reason:
				if _, err := tx.ExecContext(ctx, `UPDATE jobs SET reason = ? WHERE id = ?`, why, j.id); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return PromoteResult{}, fmt.Errorf("eligibility pass: %w", err)
	}
	return res, nil
}

// txLookup finds the jobs a dependency names, inside a transaction.
// Errors read as "no such job", which makes a condition unsatisfiable:
// they can only come from a broken database, and the transaction fails
// anyway on the next statement.
type txLookup struct {
	ctx context.Context
	tx  *sql.Tx
	uid uint32
}

func (l *txLookup) ByID(id int64) (depend.JobState, bool) {
	var js depend.JobState
	var start, exit sql.NullInt64
	err := l.tx.QueryRowContext(l.ctx, `SELECT state, start_ns, exit_code FROM jobs WHERE id = ?`, id).Scan(&js.State, &start, &exit)
	if err != nil {
		return js, false
	}
	fill(&js, start, exit)
	return js, true
}

func (l *txLookup) ByName(pattern string) []depend.JobState {
	rows, err := l.tx.QueryContext(l.ctx, `SELECT state, start_ns, exit_code FROM jobs WHERE uid = ? AND name GLOB ?`, l.uid, globOf(pattern))
	if err != nil {
		return nil
	}
	defer rows.Close()
	var out []depend.JobState
	for rows.Next() {
		var js depend.JobState
		var start, exit sql.NullInt64
		if rows.Scan(&js.State, &start, &exit) == nil {
			fill(&js, start, exit)
			out = append(out, js)
		}
	}
	return out
}

func fill(js *depend.JobState, start, exit sql.NullInt64) {
	js.Started = start.Valid || js.State == api.StateRunning
	if exit.Valid {
		c := int(exit.Int64)
		js.ExitCode = &c
	}
}

// globOf turns a name pattern where only * is special into an SQLite GLOB
// pattern, escaping GLOB's other metacharacters.
func globOf(pattern string) string {
	var b strings.Builder
	for _, r := range pattern {
		switch r {
		case '?', '[':
			b.WriteString("[" + string(r) + "]")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// ErrNotHoldable is returned for a hold or release of a job that is not
// waiting to run.
var ErrNotHoldable = errors.New("job is not waiting to run")

// SetHold holds (hold true) or releases a job that has not started: a held
// job stays PENDING until released. It returns the job as it now is.
func (s *Store) SetHold(ctx context.Context, id int64, hold bool, actor string, now time.Time) (api.Job, error) {
	var j api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = jobInTx(ctx, tx, id); err != nil {
			return err
		}
		if j.State != api.StatePending && j.State != api.StateRunnable {
			return fmt.Errorf("job %d is %s: %w", id, j.State, ErrNotHoldable)
		}
		if j.Held == hold {
			return nil
		}
		j.Held = hold
		if hold {
			j.State, j.Reason = api.StatePending, "held by "+actor
		} else {
			j.Reason = "released by " + actor
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET held = ?, state = ?, reason = ? WHERE id = ?`, hold, j.State, j.Reason, id); err != nil {
			return err
		}
		return recordEvent(ctx, tx, now, id, j.State, j.Reason, "", actor)
	})
	return j, err
}
