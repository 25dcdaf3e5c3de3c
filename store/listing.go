package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// JobTable lists jobs as JobTable columns, in id order: the unfinished
// ones from memory (runnable.go), the finished ones from the database.
func (s *Store) JobTable(ctx context.Context, f JobFilter) (api.JobTable, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 1000000
	}
	wanted := func(st api.JobState) bool { return len(f.States) == 0 || slices.Contains(f.States, st) }
	// Memory first, then the database: a job that ends in between is
	// then found finished in the database (and is taken from there),
	// never missed.
	q := s.runq
	q.syncMu.Lock()
	if err := s.sync(ctx); err != nil {
		q.syncMu.Unlock()
		return api.JobTable{}, fmt.Errorf("list jobs: %w", err)
	}
	// Entries do not change once kept (a change replaces them), so they
	// can be read once the lock is released.
	var mem []*cachedJob
	for _, e := range q.byID.items {
		if (f.UID == nil || e.uid == *f.UID) && wanted(e.state) {
			mem = append(mem, e)
		}
	}
	q.syncMu.Unlock()
	if len(mem) > limit {
		mem = mem[len(mem)-limit:]
	}

	var ended []api.Job
	var states []any
	for _, st := range []api.JobState{api.StateSucceeded, api.StateFailed, api.StateCancelled, api.StateTimeout, api.StateNodeFail} {
		if wanted(st) {
			states = append(states, st)
		}
	}
	if len(states) > 0 {
		query := `SELECT id, array_id, array_index, user, state, node, name, submit_ns, reason,
			COALESCE(json_extract(spec, '$.queue'), ''), COALESCE(json_extract(spec, '$.cores'), 0), COALESCE(json_extract(spec, '$.array'), '')
			FROM jobs WHERE state IN (` + placeholders(len(states)) + `)`
		args := states
		if f.UID != nil {
			query += ` AND uid = ?`
			args = append(args, *f.UID)
		}
		rows, err := s.rdb.QueryContext(ctx, query+` ORDER BY id DESC LIMIT ?`, append(args, limit)...)
		if err != nil {
			return api.JobTable{}, fmt.Errorf("list jobs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var j api.Job
			var submit int64
			if err := rows.Scan(&j.ID, &j.ArrayID, &j.ArrayIndex, &j.User, &j.State, &j.Node, &j.Spec.Name, &submit, &j.Reason,
				&j.Spec.Queue, &j.Spec.Cores, &j.Spec.Array); err != nil {
				return api.JobTable{}, fmt.Errorf("list jobs: %w", err)
			}
			j.SubmitTime = time.Unix(0, submit)
			ended = append(ended, j)
		}
		if err := rows.Err(); err != nil {
			return api.JobTable{}, fmt.Errorf("list jobs: %w", err)
		}
		slices.Reverse(ended)
	}

	// Merge by id, the newest limit of them.
	skip := max(len(mem)+len(ended)-limit, 0)
	var b api.TableBuilder
	var j api.Job
	i, k := 0, 0
	for i < len(mem) || k < len(ended) {
		switch {
		case k < len(ended) && (i == len(mem) || ended[k].ID <= mem[i].job.ID):
			if i < len(mem) && ended[k].ID == mem[i].job.ID {
				i++ // ended since memory was read
			}
			j = ended[k]
			k++
		default:
			mem[i].listed(&j)
			i++
		}
		if skip > 0 {
			skip--
			continue
		}
		b.Add(&j)
	}
	return b.Table(), nil
}

// listed sets what a JobTable shows of e in j.
func (e *cachedJob) listed(j *api.Job) {
	a := e.arrayOf()
	*j = api.Job{ID: e.job.ID, ArrayID: a.id, ArrayIndex: a.index, User: e.job.User, State: e.state, Node: e.node,
		Reason: e.reason, SubmitTime: time.Unix(0, e.submit),
		Spec: api.JobSpec{Queue: e.job.Queue, Cores: int(e.job.Cores), Name: e.name, Array: a.spec}}
}
