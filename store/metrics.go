package store

import (
	"context"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// JobCount is the number of jobs in one state of one queue.
type JobCount struct {
	State api.JobState
	// Queue is "" for jobs submitted without a queue name.
	Queue string
	Count int64
}

// JobCounts counts jobs by state and queue (one GROUP BY, for the
// metrics scrape). Arrays count as one job plus their materialized
// elements.
func (s *Store) JobCounts(ctx context.Context) ([]JobCount, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT state, COALESCE(json_extract(spec, '$.queue'), ''), COUNT(*) FROM jobs GROUP BY 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	var out []JobCount
	for rows.Next() {
		var c JobCount
		if err := rows.Scan(&c.State, &c.Queue, &c.Count); err != nil {
			return nil, fmt.Errorf("count jobs: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// NodeGPUs returns the number of GPUs each node reported in its
// topology, by node name.
func (s *Store) NodeGPUs(ctx context.Context) (map[string]int, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, COALESCE(json_array_length(topology_json, '$.gpus'), 0) FROM nodes WHERE json_valid(topology_json)`)
	if err != nil {
		return nil, fmt.Errorf("node gpus: %w", err)
	}
	defer rows.Close()
	out := make(map[string]int)
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, fmt.Errorf("node gpus: %w", err)
		}
		out[name] = n
	}
	return out, rows.Err()
}

// Placement is a job placed on a node (its STARTING event).
type Placement struct {
	EventID int64
	JobID   int64
	Queue   string
	// Wait is from submission to placement.
	Wait time.Duration
}

// PlacementsSince returns the placements recorded after event id after,
// in order, and the id to pass next time (the newest event looked at).
// It looks at no more than 100,000 events a call.
func (s *Store) PlacementsSince(ctx context.Context, after int64) ([]Placement, int64, error) {
	last, err := s.LastEventID(ctx)
	if err != nil {
		return nil, after, fmt.Errorf("placements: %w", err)
	}
	last = min(last, after+100000)
	if last <= after {
		return nil, after, nil
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT e.id, e.job_id, COALESCE(json_extract(j.spec, '$.queue'), ''), e.time_ns - j.submit_ns
		FROM events e JOIN jobs j ON j.id = e.job_id
		WHERE e.id > ? AND e.id <= ? AND e.state = ? AND e.reason = 'placed' ORDER BY e.id`, after, last, api.StateStarting)
	if err != nil {
		return nil, after, fmt.Errorf("placements: %w", err)
	}
	defer rows.Close()
	var out []Placement
	for rows.Next() {
		var p Placement
		var ns int64
		if err := rows.Scan(&p.EventID, &p.JobID, &p.Queue, &ns); err != nil {
			return nil, after, fmt.Errorf("placements: %w", err)
		}
		p.Wait = time.Duration(max(ns, 0))
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, after, fmt.Errorf("placements: %w", err)
	}
	return out, last, nil
}

// LastEventID is the id of the newest event (0 when there is none).
func (s *Store) LastEventID(ctx context.Context) (int64, error) {
	var id int64
	err := s.rdb.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM events`).Scan(&id)
	return id, err
}
