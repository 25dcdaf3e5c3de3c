package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/recur"
)

const cronColumns = `id, spec_json, user, uid, paused, next_ns, last_ns, last_job, fired, skipped, created_ns`

func scanCron(row scanner) (api.Cron, error) {
	var c api.Cron
	var raw string
	var next, last sql.NullInt64
	var created int64
	if err := row.Scan(&c.ID, &raw, &c.User, &c.UID, &c.Paused, &next, &last, &c.LastJob, &c.Fired, &c.Skipped, &created); err != nil {
		return c, err
	}
	if err := json.Unmarshal([]byte(raw), &c.CronSpec); err != nil {
		return c, fmt.Errorf("cron %d spec: %w", c.ID, err)
	}
	c.NextFire, c.LastFire = timeFromNS(next), timeFromNS(last)
	c.Created = time.Unix(0, created).UTC()
	return c, nil
}

// AddCron stores a recurring job owned by owner (whose identity its jobs
// run with) and returns its id. The first slot is the first after now.
func (s *Store) AddCron(ctx context.Context, spec api.CronSpec, owner api.Job, now time.Time) (int64, error) {
	sc, err := recur.Parse(spec.Schedule, spec.TZ)
	if err != nil {
		return 0, err
	}
	next, _ := sc.Next(now, "")
	var nextNS any
	if !next.IsZero() {
		nextNS = next.UnixNano()
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO crons (spec_json, user, uid, gid, groups_json, next_ns, created_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, mustJSON(spec), owner.User, owner.UID, owner.GID, mustJSON(owner.Groups), nextNS, now.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("add cron: %w", err)
	}
	return res.LastInsertId()
}

// Crons lists recurring jobs by id, only uid's when uid is non-nil.
func (s *Store) Crons(ctx context.Context, uid *uint32) ([]api.Cron, error) {
	q, args := `SELECT `+cronColumns+` FROM crons`, []any{}
	if uid != nil {
		q += ` WHERE uid = ?`
		args = append(args, *uid)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, fmt.Errorf("list crons: %w", err)
	}
	defer rows.Close()
	var out []api.Cron
	for rows.Next() {
		c, err := scanCron(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Cron returns one recurring job, or ErrNotFound.
func (s *Store) Cron(ctx context.Context, id int64) (api.Cron, error) {
	c, err := scanCron(s.rdb.QueryRowContext(ctx, `SELECT `+cronColumns+` FROM crons WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("cron %d: %w", id, ErrNotFound)
	}
	return c, err
}

// DeleteCron removes a recurring job; jobs it submitted are not touched.
func (s *Store) DeleteCron(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM crons WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete cron %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("cron %d: %w", id, ErrNotFound)
	}
	return nil
}

// SetCronPaused pauses or resumes a recurring job. A paused one fires
// nothing; resumed, it continues with the first slot after now (the slots
// of the pause are not made up).
func (s *Store) SetCronPaused(ctx context.Context, id int64, paused bool, now time.Time) (api.Cron, error) {
	var c api.Cron
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = scanCron(tx.QueryRowContext(ctx, `SELECT `+cronColumns+` FROM crons WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("cron %d: %w", id, ErrNotFound)
		}
		if err != nil {
			return err
		}
		var lastSlot string
		if err := tx.QueryRowContext(ctx, `SELECT last_slot FROM crons WHERE id = ?`, id).Scan(&lastSlot); err != nil {
			return err
		}
		var next any
		c.Paused, c.NextFire = paused, nil
		if !paused {
			sc, err := recur.Parse(c.Schedule, c.TZ)
			if err != nil {
				return err
			}
			if n, _ := sc.Next(now, lastSlot); !n.IsZero() {
				next, c.NextFire = n.UnixNano(), &n
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE crons SET paused = ?, next_ns = ? WHERE id = ?`, paused, next, id)
		return err
	})
	return c, err
}

// FireResult is what one FireDue call did.
type FireResult struct {
	// Submitted are the jobs the due slots submitted.
	Submitted []int64
	// Next is the earliest next slot of any active recurring job; zero
	// when none will fire.
	Next time.Time
}

// FireDue fires every recurring job whose slot has come, in one
// transaction, so that a slot is fired exactly once even across a crash
// (the job and the cron's next slot commit together).
//
// Missed slots: when the server was down over several slots of a job, it
// fires once, at once, for the most recent missed slot, and counts the
// older ones as skipped (the policy of anacron and of Kubernetes CronJobs
// without a deadline: catch up once, never in a burst).
//
// Overlap: a slot whose previous job is unfinished is skipped ("skip"),
// submitted depending on ended(previous) ("queue"), or submitted ("allow").
// A slot whose queue is closed or gone is skipped.
func (s *Store) FireDue(ctx context.Context, now time.Time) (FireResult, error) {
	var res FireResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res = FireResult{}
		type due struct {
			c      api.Cron
			gid    uint32
			groups []uint32
		}
		// Read every due row first: the cursor must be closed before the
		// transaction writes.
		rows, err := tx.QueryContext(ctx, `SELECT `+cronColumns+`, gid, groups_json FROM crons
			WHERE paused = 0 AND next_ns IS NOT NULL AND next_ns <= ? ORDER BY id`, now.UnixNano())
		if err != nil {
			return err
		}
		var dues []due
		for rows.Next() {
			var d due
			var raw, groups string
			var next, last sql.NullInt64
			var created int64
			if err := rows.Scan(&d.c.ID, &raw, &d.c.User, &d.c.UID, &d.c.Paused, &next, &last, &d.c.LastJob, &d.c.Fired, &d.c.Skipped, &created,
				&d.gid, &groups); err != nil {
				rows.Close()
				return err
			}
			if err := errors.Join(json.Unmarshal([]byte(raw), &d.c.CronSpec), json.Unmarshal([]byte(groups), &d.groups)); err != nil {
				rows.Close()
				return fmt.Errorf("cron %d: %w", d.c.ID, err)
			}
			d.c.NextFire = timeFromNS(next)
			dues = append(dues, d)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, d := range dues {
			id, err := s.fireOne(ctx, tx, d.c, d.gid, d.groups, now)
			if err != nil {
				return fmt.Errorf("cron %d: %w", d.c.ID, err)
			}
			if id != 0 {
				res.Submitted = append(res.Submitted, id)
			}
		}
		var next sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MIN(next_ns) FROM crons WHERE paused = 0 AND next_ns IS NOT NULL`).Scan(&next); err != nil {
			return err
		}
		if next.Valid {
			res.Next = time.Unix(0, next.Int64)
		}
		return nil
	})
	if err != nil {
		return FireResult{}, fmt.Errorf("fire recurring jobs: %w", err)
	}
	return res, nil
}

// fireOne fires one due recurring job and moves it to its next slot. It
// returns the submitted job's id, or 0 when the slot was skipped.
func (s *Store) fireOne(ctx context.Context, tx *sql.Tx, c api.Cron, gid uint32, groups []uint32, now time.Time) (int64, error) {
	sc, err := recur.Parse(c.Schedule, c.TZ)
	if err != nil {
		return 0, err
	}
	// The most recent slot at or before now, and how many were missed.
	slotTime, slot := *c.NextFire, sc.Slot(*c.NextFire)
	missed := 0
	for {
		n, sl := sc.Next(slotTime, slot)
		if n.IsZero() || n.After(now) {
			break
		}
		slotTime, slot = n, sl
		missed++
	}
	skipped := int64(missed)
	why := fmt.Sprintf("submitted by cron %d for slot %s %s", c.ID, slot, sc.Location())
	if missed > 0 {
		why += fmt.Sprintf(" (%d earlier slots missed while the server was down)", missed)
	}

	job := c.Job
	submit := true
	var prevState api.JobState
	if c.LastJob != 0 {
		if err := tx.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, c.LastJob).Scan(&prevState); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return 0, err
		}
	}
	if prevState != "" && !prevState.Terminal() {
		switch c.Overlap {
		case "allow":
		case "queue":
			job.Dependency = fmt.Sprintf("ended(%d)", c.LastJob)
		default: // skip
			submit = false
		}
	}
	var open bool
	if err := tx.QueryRowContext(ctx, `SELECT json_extract(spec_json, '$.open') FROM queues WHERE name = ?`, job.Queue).Scan(&open); err != nil || !open {
		submit = false
	}

	var id int64
	if submit {
		id, _, err = insertJob(ctx, tx, api.Job{Spec: job, User: c.User, UID: c.UID, GID: gid, Groups: groups, SubmitTime: now}, fmt.Sprintf("cron %d", c.ID), why)
		if err != nil {
			return 0, err
		}
	} else {
		skipped++
	}
	next, _ := sc.Next(now, slot)
	var nextNS any
	if !next.IsZero() {
		nextNS = next.UnixNano()
	}
	fired := 0
	lastJob := c.LastJob
	if submit {
		fired, lastJob = 1, id
	}
	_, err = tx.ExecContext(ctx, `UPDATE crons SET next_ns = ?, last_ns = ?, last_slot = ?, last_job = ?,
		fired = fired + ?, skipped = skipped + ? WHERE id = ?`, nextNS, now.UnixNano(), slot, lastJob, fired, skipped, c.ID)
	return id, err
}
