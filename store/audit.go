package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// AddAudit appends one record to the audit log. The table refuses
// updates and deletes (migration 9).
func (s *Store) AddAudit(ctx context.Context, r api.AuditRecord) error {
	err := s.inBatch(ctx, func(tx *sql.Tx) error { return insertAudit(tx, r) })
	if err != nil {
		return fmt.Errorf("audit %s %s: %w", r.Method, r.Path, err)
	}
	return nil
}

// insertAudit appends r to the audit log in tx.
func insertAudit(tx *sql.Tx, r api.AuditRecord) error {
	_, err := tx.Exec(`INSERT INTO audit (time_ns, user, uid, admin, remote, method, path, object, status, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Time.UnixNano(), r.User, r.UID, r.Admin, r.Remote, r.Method, r.Path, r.Object, r.Status, r.Error)
	return err
}

// AuditFilter selects audit records. Zero fields select everything.
type AuditFilter struct {
	User string
	// Since and Until bound the call's time: Since <= t < Until.
	Since, Until time.Time
	Method       string
	// Limit caps the number of records (the newest are kept); 0 means
	// 1000.
	Limit int
}

// Audit returns the audit records f selects, oldest first.
func (s *Store) Audit(ctx context.Context, f AuditFilter) ([]api.AuditRecord, error) {
	q := `SELECT id, time_ns, user, uid, admin, remote, method, path, object, status, error FROM audit WHERE 1=1`
	var args []any
	if f.User != "" {
		q += ` AND user = ?`
		args = append(args, f.User)
	}
	if !f.Since.IsZero() {
		q += ` AND time_ns >= ?`
		args = append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		q += ` AND time_ns < ?`
		args = append(args, f.Until.UnixNano())
	}
	if f.Method != "" {
		q += ` AND method = ?`
		args = append(args, f.Method)
	}
	if f.Limit <= 0 {
		f.Limit = 1000
	}
	q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
	args = append(args, f.Limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []api.AuditRecord
	for rows.Next() {
		var r api.AuditRecord
		var ns int64
		if err := rows.Scan(&r.ID, &ns, &r.User, &r.UID, &r.Admin, &r.Remote, &r.Method, &r.Path, &r.Object, &r.Status, &r.Error); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		r.Time = time.Unix(0, ns).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
