package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// AddToken stores a token by the sha256 hash of its secret (hex); the
// secret itself is never stored.
func (s *Store) AddToken(ctx context.Context, t api.Token, hash string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO tokens (id, hash, kind, user, description, created_by, created_ns, expires_ns)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		t.ID, hash, t.Kind, t.User, t.Description, t.CreatedBy, t.Created.UnixNano(), nsOf(t.Expires))
	if err != nil {
		return fmt.Errorf("add token: %w", err)
	}
	return nil
}

const tokenColumns = `id, kind, user, description, created_by, created_ns, expires_ns, revoked_ns, last_used_ns`

func scanToken(sc interface{ Scan(...any) error }) (api.Token, error) {
	var t api.Token
	var created int64
	var expires, revoked, used sql.NullInt64
	if err := sc.Scan(&t.ID, &t.Kind, &t.User, &t.Description, &t.CreatedBy, &created, &expires, &revoked, &used); err != nil {
		return t, err
	}
	t.Created = time.Unix(0, created).UTC()
	t.Expires, t.Revoked, t.LastUsed = timeFromNS(expires), timeFromNS(revoked), timeFromNS(used)
	return t, nil
}

// TokenByHash returns the token whose secret hashes to hash, or
// ErrNotFound. It does not check expiry or revocation (api.Token.Valid).
func (s *Store) TokenByHash(ctx context.Context, hash string) (api.Token, error) {
	t, err := scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

// Token returns one token by id, or ErrNotFound.
func (s *Store) Token(ctx context.Context, id string) (api.Token, error) {
	t, err := scanToken(s.rdb.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("token %s: %w", id, err)
	}
	return t, nil
}

// TouchToken records that a token was used, at most about once a minute
// (a token may authenticate many calls a second).
func (s *Store) TouchToken(ctx context.Context, id string, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE tokens SET last_used_ns = ? WHERE id = ? AND (last_used_ns IS NULL OR last_used_ns < ?)`,
		now.UnixNano(), id, now.Add(-time.Minute).UnixNano())
	return err
}

// Tokens lists tokens, oldest first: a user's (tokens made for them,
// or by them) when user is set, else all.
func (s *Store) Tokens(ctx context.Context, user string) ([]api.Token, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE ? = '' OR user = ? OR created_by = ? ORDER BY created_ns, id`, user, user, user)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []api.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes a token (idempotent), or returns ErrNotFound.
func (s *Store) RevokeToken(ctx context.Context, id string, now time.Time) error {
	res, err := s.db.ExecContext(ctx, `UPDATE tokens SET revoked_ns = COALESCE(revoked_ns, ?) WHERE id = ?`, now.UnixNano(), id)
	if err != nil {
		return fmt.Errorf("revoke token %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("token %s: %w", id, ErrNotFound)
	}
	return nil
}

func nsOf(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixNano()
}
