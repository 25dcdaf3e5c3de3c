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
	"github.com/gantry-hpc/gantry/sched"
)

// A gang is a job placed on several nodes. Its jobs row holds the first
// part (rank 0) as a single-node job's allocation, so everything that
// looks at one node per job keeps working for rank 0; job_parts holds
// every part of the current try, rank 0 included, with its own readiness,
// start and result. The gang column is the number of parts of the current
// try (0 for a single-node job).
//
// Life of a gang's try:
//   - placed (STARTING): ApplyPlan writes every part; each node prepares
//     its part and reports it ready (MarkPartsReady), rank 0 with the
//     rendezvous port it chose;
//   - released: once every part is ready, the assignments say so and the
//     nodes start their parts; a gang not released within the start
//     timeout is requeued (RequeueStuckGangs);
//   - RUNNING once every part has started;
//   - it ends when its first part fails (that part's outcome is the
//     job's; the other parts drop out of their nodes' assignments, which
//     kills them) or when every part has exited 0; a lost node ends it
//     (failNodeJobs).

// jobsOnNode selects the ids of the STARTING or RUNNING jobs with a part
// on a node: args are the node name (twice) then the two states.
const jobsOnNode = `SELECT id FROM jobs WHERE node = ? AND state IN (?, ?)
	UNION SELECT p.job_id FROM job_parts p JOIN jobs j ON j.id = p.job_id AND j.attempt = p.attempt
	WHERE p.node = ? AND p.rank > 0 AND j.state IN (?, ?)`

// jobsOnNodeArgs are jobsOnNode's arguments for node.
func jobsOnNodeArgs(node string) []any {
	return []any{node, api.StateStarting, api.StateRunning, node, api.StateStarting, api.StateRunning}
}

// startGang places job a[0].Job on the nodes of allocations a (one per
// node, rank order), if it is still RUNNABLE. It reports whether it did.
func startGang(ctx context.Context, tx *sql.Tx, a []sched.Allocation, now time.Time) (bool, error) {
	first := a[0]
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = '', node = ?, cpus_json = ?, gpus_json = ?, mem_bytes = ?,
		gang = ?, placed_ns = ?, released = 0 WHERE id = ? AND state = ?`,
		api.StateStarting, first.Node, mustJSON(nonNil(first.CPUs)), mustJSON(nonNil(first.GPUs)), first.MemoryBytes,
		len(a), now.UnixNano(), first.Job, api.StateRunnable)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	var attempt int
	if err := tx.QueryRowContext(ctx, `SELECT attempt FROM jobs WHERE id = ?`, first.Job).Scan(&attempt); err != nil {
		return false, err
	}
	// Parts left from an earlier try (requeued) are history now.
	if _, err := tx.ExecContext(ctx, `DELETE FROM job_parts WHERE job_id = ?`, first.Job); err != nil {
		return false, err
	}
	nodes := make([]string, len(a))
	for rank, p := range a {
		nodes[rank] = p.Node
		if _, err := tx.ExecContext(ctx, `INSERT INTO job_parts (job_id, attempt, rank, node, cpus_json, gpus_json, mem_bytes)
			VALUES (?, ?, ?, ?, ?, ?, ?)`, p.Job, attempt, rank, p.Node, mustJSON(nonNil(p.CPUs)), mustJSON(nonNil(p.GPUs)), p.MemoryBytes); err != nil {
			return false, err
		}
	}
	why := fmt.Sprintf("placed on %d nodes; waiting for every part to be ready", len(a))
	return true, recordEvent(ctx, tx, now, first.Job, api.StateStarting, why, strings.Join(nodes, ","), "scheduler")
}

// queryer is a *sql.DB or a *sql.Tx.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// partColumns are what scanPart reads of a part, with its node's
// address, from job_parts p LEFT JOIN nodes n.
const partColumns = `p.job_id, p.attempt, p.rank, p.node, COALESCE(NULLIF(n.address, ''), NULLIF(n.hostname, ''), p.node), p.port,
	p.cpus_json, p.gpus_json, p.ready, p.start_ns, p.end_ns, p.exit_code, p.signal, p.peak_mem_bytes, p.cpu_time_s`

// scanPart reads one row of partColumns.
func scanPart(rows *sql.Rows) (id int64, attempt int, p api.JobPart, err error) {
	var cpus, gpus string
	var start, end, exit sql.NullInt64
	if err := rows.Scan(&id, &attempt, &p.Rank, &p.Node, &p.Address, &p.Port, &cpus, &gpus, &p.Ready, &start, &end, &exit,
		&p.Signal, &p.PeakMemoryBytes, &p.CPUTimeSeconds); err != nil {
		return 0, 0, p, err
	}
	if err := errors.Join(json.Unmarshal([]byte(cpus), &p.CPUs), json.Unmarshal([]byte(gpus), &p.GPUs)); err != nil {
		return 0, 0, p, fmt.Errorf("job %d part %d: %w", id, p.Rank, err)
	}
	p.StartTime, p.EndTime = timeFromNS(start), timeFromNS(end)
	if exit.Valid {
		code := int(exit.Int64)
		p.ExitCode = &code
	}
	return id, attempt, p, nil
}

// jobParts returns the parts of try attempt of gang id, in rank order,
// with their nodes' addresses.
func jobParts(ctx context.Context, q queryer, id int64, attempt int) ([]api.JobPart, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+partColumns+` FROM job_parts p LEFT JOIN nodes n ON n.name = p.node
		WHERE p.job_id = ? AND p.attempt = ? ORDER BY p.rank`, id, attempt)
	if err != nil {
		return nil, fmt.Errorf("parts of job %d: %w", id, err)
	}
	defer rows.Close()
	var out []api.JobPart
	for rows.Next() {
		_, _, p, err := scanPart(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// fillParts sets the Parts of the gangs among jobs (their current tries'),
// reading them in batches.
func (s *Store) fillParts(ctx context.Context, jobs []api.Job) error {
	at := map[int64]int{} // gang id -> its index in jobs
	var ids []int64
	for i := range jobs {
		if !jobs[i].Spec.Gang() || jobs[i].Node == "" && !jobs[i].State.Terminal() {
			continue
		}
		at[jobs[i].ID] = i
		ids = append(ids, jobs[i].ID)
	}
	return inBatches(ids, func(args []any) error {
		rows, err := s.rdb.QueryContext(ctx, `SELECT `+partColumns+` FROM job_parts p LEFT JOIN nodes n ON n.name = p.node
			WHERE p.job_id IN (`+placeholders(len(args))+`) ORDER BY p.job_id, p.rank`, args...)
		if err != nil {
			return fmt.Errorf("parts of jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			id, attempt, p, err := scanPart(rows)
			if err != nil {
				return err
			}
			if j := &jobs[at[id]]; attempt == max(j.Attempt, 1) {
				j.Parts = append(j.Parts, p)
			}
		}
		return rows.Err()
	})
}

// MarkPartsReady records that node has prepared its parts of gangs
// (ready), and releases each gang whose parts are now all ready. It
// returns the released gangs. Reports for another try, or for a gang no
// longer STARTING, change nothing.
func (s *Store) MarkPartsReady(ctx context.Context, node string, ready []api.PartReady, now time.Time) ([]int64, error) {
	var released []int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		released = released[:0]
		for _, r := range ready {
			var attempt, parts int
			var state api.JobState
			var done bool
			err := tx.QueryRowContext(ctx, `SELECT attempt, gang, state, released FROM jobs WHERE id = ?`, r.JobID).Scan(&attempt, &parts, &state, &done)
			if errors.Is(err, sql.ErrNoRows) {
				continue
			}
			if err != nil {
				return err
			}
			if state != api.StateStarting || parts == 0 || done || r.Attempt != 0 && r.Attempt != attempt {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE job_parts SET ready = 1, port = CASE WHEN rank = 0 THEN ? ELSE port END
				WHERE job_id = ? AND attempt = ? AND node = ?`, r.Port, r.JobID, attempt, node); err != nil {
				return err
			}
			var waiting int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM job_parts WHERE job_id = ? AND attempt = ? AND ready = 0`,
				r.JobID, attempt).Scan(&waiting); err != nil {
				return err
			}
			if waiting > 0 {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET released = 1 WHERE id = ?`, r.JobID); err != nil {
				return err
			}
			if err := recordEvent(ctx, tx, now, r.JobID, api.StateStarting, fmt.Sprintf("all %d parts ready: released", parts), node, "scheduler"); err != nil {
				return err
			}
			released = append(released, r.JobID)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gang parts ready: %w", err)
	}
	return released, nil
}

// RequeueStuckGangs puts back in the queue, as their next try, the gangs
// placed before cutoff whose parts are still not all ready: every node
// drops its part (its assignments no longer list it). It returns them.
func (s *Store) RequeueStuckGangs(ctx context.Context, cutoff, now time.Time) ([]int64, error) {
	var ids []int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		ids = ids[:0]
		rows, err := tx.QueryContext(ctx, `SELECT id, attempt, node FROM jobs WHERE gang > 0 AND state = ? AND released = 0 AND placed_ns < ?`,
			api.StateStarting, cutoff.UnixNano())
		if err != nil {
			return err
		}
		type stuck struct {
			id      int64
			attempt int
			node    string
		}
		var all []stuck
		for rows.Next() {
			var g stuck
			if err := rows.Scan(&g.id, &g.attempt, &g.node); err != nil {
				rows.Close()
				return err
			}
			all = append(all, g)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, g := range all {
			parts, err := jobParts(ctx, tx, g.id, g.attempt)
			if err != nil {
				return err
			}
			var late []string
			for _, p := range parts {
				if !p.Ready {
					late = append(late, fmt.Sprintf("%d (%s)", p.Rank, p.Node))
				}
			}
			why := fmt.Sprintf("gang start barrier timed out after %s: ranks %s not ready; requeued",
				now.Sub(cutoff).Round(time.Second), strings.Join(late, ", "))
			if err := retry(ctx, tx, g.id, g.attempt, g.attempt+1, why, g.node, now); err != nil {
				return err
			}
			ids = append(ids, g.id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gang start barrier: %w", err)
	}
	return ids, nil
}

// markPartRunning records that node's part of gang id (try attempt, 0:
// the current) started at startedAt; the gang is RUNNING once every part
// has started, from the last start. It reports whether the gang changed
// to RUNNING.
func markPartRunning(ctx context.Context, tx *sql.Tx, node string, id int64, attempt int, startedAt time.Time) (bool, error) {
	var cur int
	var state api.JobState
	if err := tx.QueryRowContext(ctx, `SELECT attempt, state FROM jobs WHERE id = ?`, id).Scan(&cur, &state); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		return false, err
	}
	if state != api.StateStarting || attempt != 0 && attempt != cur {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE job_parts SET start_ns = COALESCE(start_ns, ?) WHERE job_id = ? AND attempt = ? AND node = ?`,
		startedAt.UnixNano(), id, cur, node); err != nil {
		return false, err
	}
	var waiting int
	var last sql.NullInt64
	if err := tx.QueryRowContext(ctx, `SELECT SUM(start_ns IS NULL), MAX(start_ns) FROM job_parts WHERE job_id = ? AND attempt = ?`,
		id, cur).Scan(&waiting, &last); err != nil {
		return false, err
	}
	if waiting > 0 || !last.Valid {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, start_ns = ? WHERE id = ?`, api.StateRunning, last.Int64, id); err != nil {
		return false, err
	}
	return true, recordEvent(ctx, tx, time.Unix(0, last.Int64), id, api.StateRunning, "every part started", node, node)
}

// partOutcome is what one part's end means for its gang.
type partOutcome struct {
	// final: the gang ends now, in state, with reason; otherwise it
	// waits for its other parts.
	final  bool
	state  api.JobState
	reason string
	// exit, signal, oom: the result the gang takes (the ending part's);
	// peak and cpu: the gang's totals so far (max and sum).
	result api.JobResult
}

// finishPart records how node's part of gang id (try attempt) ended, and
// says whether the gang ends with it: when it failed, or when it was the
// last part to exit 0.
func finishPart(ctx context.Context, tx *sql.Tx, node string, id int64, attempt int, spec api.JobSpec, r api.JobResult) (partOutcome, error) {
	end := r.EndedAt
	if end.IsZero() {
		end = time.Now()
	}
	var start any
	if !r.StartedAt.IsZero() {
		start = r.StartedAt.UnixNano()
	}
	var rank int
	err := tx.QueryRowContext(ctx, `UPDATE job_parts SET start_ns = COALESCE(start_ns, ?), end_ns = ?, exit_code = ?, signal = ?,
		peak_mem_bytes = ?, cpu_time_s = ? WHERE job_id = ? AND attempt = ? AND node = ? AND end_ns IS NULL RETURNING rank`,
		start, end.UnixNano(), r.ExitCode, r.Signal, r.PeakMemoryBytes, r.CPUTimeSeconds, id, attempt, node).Scan(&rank)
	if errors.Is(err, sql.ErrNoRows) {
		return partOutcome{}, nil // not a part of this try, or reported before
	}
	if err != nil {
		return partOutcome{}, err
	}
	out := partOutcome{result: r}
	var running int
	if err := tx.QueryRowContext(ctx, `SELECT SUM(end_ns IS NULL), MAX(peak_mem_bytes), SUM(cpu_time_s) FROM job_parts
		WHERE job_id = ? AND attempt = ?`, id, attempt).Scan(&running, &out.result.PeakMemoryBytes, &out.result.CPUTimeSeconds); err != nil {
		return partOutcome{}, err
	}
	state, reason := Outcome(spec, r)
	switch {
	case state != api.StateSucceeded:
		out.final, out.state = true, state
		out.reason = fmt.Sprintf("rank %d on %s: %s; every part stopped", rank, node, reason)
	case running == 0:
		out.final, out.state, out.reason = true, state, "every part exited 0"
	}
	return out, nil
}
