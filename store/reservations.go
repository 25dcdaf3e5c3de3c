package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// AddReservation stores a maintenance reservation and returns its id.
func (s *Store) AddReservation(ctx context.Context, r api.Reservation) (int64, error) {
	users := r.Users
	if users == nil {
		users = []string{}
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO reservations (nodes_json, start_ns, end_ns, reason, by_user, users_json) VALUES (?, ?, ?, ?, ?, ?)`,
		mustJSON(r.Nodes), r.Start.UnixNano(), r.End.UnixNano(), r.Reason, r.By, mustJSON(users))
	if err != nil {
		return 0, fmt.Errorf("add reservation: %w", err)
	}
	return res.LastInsertId()
}

// Reservations lists the reservations that have not ended by now (all,
// with a zero now), by start.
func (s *Store) Reservations(ctx context.Context, now time.Time) ([]api.Reservation, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT id, nodes_json, start_ns, end_ns, reason, by_user, users_json FROM reservations
		WHERE end_ns > ? ORDER BY start_ns, id`, now.UnixNano())
	if err != nil {
		return nil, fmt.Errorf("list reservations: %w", err)
	}
	defer rows.Close()
	var out []api.Reservation
	for rows.Next() {
		var r api.Reservation
		var nodes, users string
		var start, end int64
		if err := rows.Scan(&r.ID, &nodes, &start, &end, &r.Reason, &r.By, &users); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(nodes), &r.Nodes); err != nil {
			return nil, fmt.Errorf("reservation %d nodes: %w", r.ID, err)
		}
		if err := json.Unmarshal([]byte(users), &r.Users); err != nil {
			return nil, fmt.Errorf("reservation %d users: %w", r.ID, err)
		}
		r.Start, r.End = time.Unix(0, start).UTC(), time.Unix(0, end).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteReservation removes a reservation, or returns ErrNotFound.
func (s *Store) DeleteReservation(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM reservations WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete reservation %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("reservation %d: %w", id, ErrNotFound)
	}
	return nil
}
