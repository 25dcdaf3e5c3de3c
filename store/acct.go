package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// AcctFilter selects accounting records. Zero fields select everything.
type AcctFilter struct {
	UID   *uint32
	Queue string
	// Since and Until bound the end time.
	Since, Until time.Time
	State        api.JobState
	// Limit caps the number of records (newest kept); 0 means 100000.
	Limit int
}

// Accounting returns one record per finished job (arrays are accounted
// by their elements), in end-time order.
func (s *Store) Accounting(ctx context.Context, f AcctFilter) ([]api.AcctRecord, error) {
	q := `SELECT ` + jobColumns + ` FROM jobs WHERE end_ns IS NOT NULL AND json_extract(spec, '$.array') IS NULL`
	var args []any
	if f.UID != nil {
		q += ` AND uid = ?`
		args = append(args, *f.UID)
	}
	if f.Queue != "" {
		q += ` AND json_extract(spec, '$.queue') = ?`
		args = append(args, f.Queue)
	}
	if !f.Since.IsZero() {
		q += ` AND end_ns >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		q += ` AND end_ns < ?`
		args = append(args, f.Until.UnixNano())
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, f.State)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100000
	}
	q = `SELECT * FROM (` + q + ` ORDER BY end_ns DESC, id DESC LIMIT ?) ORDER BY end_ns, id`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("accounting: %w", err)
	}
	defer rows.Close()
	var out []api.AcctRecord
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("accounting: %w", err)
		}
		out = append(out, acctRecord(j))
	}
	return out, rows.Err()
}

// acctRecord summarizes a finished job.
func acctRecord(j api.Job) api.AcctRecord {
	r := api.AcctRecord{
		JobID: j.ID, ArrayID: j.ArrayID, ArrayIndex: j.ArrayIndex, Name: j.Spec.Name, User: j.User, UID: j.UID,
		Queue: j.Spec.Queue, Node: j.Node, Cores: max(j.Spec.Cores, 1), MemoryRequestedBytes: j.Spec.MemoryBytes,
		PeakMemoryBytes: j.PeakMemoryBytes, CPUTimeSeconds: j.CPUTimeSeconds, State: j.State, ExitCode: j.ExitCode,
		Reason: j.Reason, Attempts: max(j.Attempt, 1), Submit: j.SubmitTime, Start: j.StartTime, End: *j.EndTime,
	}
	switch {
	case j.StartTime != nil:
		r.WaitSeconds = j.StartTime.Sub(j.SubmitTime).Seconds()
		r.RunSeconds = j.EndTime.Sub(*j.StartTime).Seconds()
	default:
		r.WaitSeconds = j.EndTime.Sub(j.SubmitTime).Seconds()
	}
	r.WaitSeconds, r.RunSeconds = max(r.WaitSeconds, 0), max(r.RunSeconds, 0)
	r.GPUHours = float64(r.GPUs) * r.RunSeconds / 3600
	return r
}

// DailyUsage sums the core-seconds of the jobs that ended since, per user
// and day (the day's start): the usage fair share decays.
func (s *Store) DailyUsage(ctx context.Context, since time.Time) ([]DayUsage, error) {
	const day = int64(24 * time.Hour)
	rows, err := s.rdb.QueryContext(ctx, `SELECT user, end_ns / ? AS d,
		SUM(MAX(COALESCE(json_extract(spec, '$.cores'), 1), 1) * MAX((end_ns - start_ns) / 1e9, 0))
		FROM jobs WHERE end_ns >= ? AND end_ns IS NOT NULL AND start_ns IS NOT NULL AND array_id >= 0 AND json_extract(spec, '$.array') IS NULL
		GROUP BY user, d`, day, since.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("usage: %w", err)
	}
	defer rows.Close()
	var out []DayUsage
	for rows.Next() {
		var u DayUsage
		var d int64
		if err := rows.Scan(&u.User, &d, &u.CoreSeconds); err != nil {
			return nil, err
		}
		u.Day = time.Unix(0, d*day).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

// DayUsage is one user's core-seconds over one day.
type DayUsage struct {
	User        string
	Day         time.Time
	CoreSeconds float64
}
