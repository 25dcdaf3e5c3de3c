package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gantry-hpc/gantry/api"
)

// Queues lists the queues by name, with their job counts.
func (s *Store) Queues(ctx context.Context) ([]api.Queue, error) {
	return s.queues(ctx, "")
}

// Queue returns one queue, or ErrNotFound.
func (s *Store) Queue(ctx context.Context, name string) (api.Queue, error) {
	qs, err := s.queues(ctx, name)
	if err != nil {
		return api.Queue{}, err
	}
	if len(qs) == 0 {
		return api.Queue{}, fmt.Errorf("queue %q: %w", name, ErrNotFound)
	}
	return qs[0], nil
}

// QueueSpec returns a queue's definition without counting its jobs (for
// admission, on every submission), or ErrNotFound.
func (s *Store) QueueSpec(ctx context.Context, name string) (api.Queue, error) {
	if q, ok := s.queueCache.Load(name); ok {
		return q.(api.Queue), nil
	}
	var raw string
	err := s.rdb.QueryRowContext(ctx, `SELECT spec_json FROM queues WHERE name = ?`, name).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) {
		return api.Queue{}, fmt.Errorf("queue %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return api.Queue{}, fmt.Errorf("queue %q: %w", name, err)
	}
	var q api.Queue
	if err := json.Unmarshal([]byte(raw), &q); err != nil {
		return q, fmt.Errorf("queue %q spec: %w", name, err)
	}
	s.queueCache.Store(name, q)
	return q, nil
}

func (s *Store) queues(ctx context.Context, name string) ([]api.Queue, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT q.spec_json,
		(SELECT COUNT(*) FROM jobs j WHERE json_extract(j.spec, '$.queue') = q.name AND j.state = ?),
		(SELECT COUNT(*) FROM jobs j WHERE json_extract(j.spec, '$.queue') = q.name AND j.state = ?),
		(SELECT COUNT(*) FROM jobs j WHERE json_extract(j.spec, '$.queue') = q.name AND j.state IN (?, ?))
		FROM queues q WHERE ? = '' OR q.name = ? ORDER BY q.name`,
		api.StatePending, api.StateRunnable, api.StateStarting, api.StateRunning, name, name)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	defer rows.Close()
	var out []api.Queue
	for rows.Next() {
		var raw string
		var q api.Queue
		var pending, runnable, running int
		if err := rows.Scan(&raw, &pending, &runnable, &running); err != nil {
			return nil, fmt.Errorf("list queues: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &q); err != nil {
			return nil, fmt.Errorf("queue spec: %w", err)
		}
		q.Pending, q.Runnable, q.Running = pending, runnable, running
		out = append(out, q)
	}
	return out, rows.Err()
}

// PutQueue creates or replaces a queue definition.
func (s *Store) PutQueue(ctx context.Context, q api.Queue) error {
	q.Pending, q.Runnable, q.Running = 0, 0, 0
	_, err := s.db.ExecContext(ctx, `INSERT INTO queues (name, spec_json) VALUES (?, ?)
		ON CONFLICT(name) DO UPDATE SET spec_json = excluded.spec_json`, q.Name, mustJSON(q))
	s.queueCache.Delete(q.Name)
	if err != nil {
		return fmt.Errorf("put queue %s: %w", q.Name, err)
	}
	return nil
}

// ErrQueueInUse is returned when deleting a queue that still has jobs
// waiting or running.
var ErrQueueInUse = errors.New("queue has unfinished jobs")

// DeleteQueue removes a queue that has no unfinished jobs.
func (s *Store) DeleteQueue(ctx context.Context, name string) error {
	defer s.queueCache.Delete(name)
	return s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE json_extract(spec, '$.queue') = ? AND state IN (?, ?, ?, ?)`,
			name, api.StatePending, api.StateRunnable, api.StateStarting, api.StateRunning).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("queue %s: %d jobs: %w", name, n, ErrQueueInUse)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM queues WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k == 0 {
			return fmt.Errorf("queue %q: %w", name, ErrNotFound)
		}
		return nil
	})
}

// QueueSpecs lists the queue definitions by name, without counting their
// jobs (for a scheduling pass).
func (s *Store) QueueSpecs(ctx context.Context) ([]api.Queue, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT spec_json FROM queues ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	defer rows.Close()
	var out []api.Queue
	for rows.Next() {
		var raw string
		var q api.Queue
		if err := rows.Scan(&raw); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &q); err != nil {
			return nil, fmt.Errorf("queue spec: %w", err)
		}
		out = append(out, q)
	}
	return out, rows.Err()
}
