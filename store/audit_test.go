package store

import (
	"fmt"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

func TestAuditAppendOnly(t *testing.T) {
	s := openTestStore(t)
	ctx := t.Context()
	t0 := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	for i, u := range []string{"alice", "bob", "alice"} {
		r := api.AuditRecord{Time: t0.Add(time.Duration(i) * time.Hour), User: u, UID: 1000, Remote: "unix", Method: "POST", Path: "/v1/jobs", Object: "job 1", Status: 201}
		if err := s.AddAudit(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	recs, err := s.Audit(ctx, AuditFilter{User: "alice", Since: t0.Add(time.Minute)})
	if err != nil || len(recs) != 1 || !recs[0].Time.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("filtered audit %+v, %v", recs, err)
	}
	recs, _ = s.Audit(ctx, AuditFilter{Until: t0.Add(time.Minute)})
	if len(recs) != 1 || recs[0].User != "alice" {
		t.Fatalf("until: %+v", recs)
	}
	if _, err := s.db.Exec(`DELETE FROM audit`); err == nil {
		t.Fatal("audit records could be deleted")
	}
	if _, err := s.db.Exec(`UPDATE audit SET user = 'mallory'`); err == nil {
		t.Fatal("audit records could be changed")
	}
}

func TestTokensByHash(t *testing.T) {
	s := openTestStore(t)
	ctx := t.Context()
	now := time.Now().UTC()
	if err := s.AddToken(ctx, api.Token{ID: "abc", Kind: api.TokenUser, User: "alice", CreatedBy: "root", Created: now}, "h1"); err != nil {
		t.Fatal(err)
	}
	tok, err := s.TokenByHash(ctx, "h1")
	if err != nil || tok.User != "alice" || !tok.Valid(now) {
		t.Fatalf("token %+v, %v", tok, err)
	}
	if err := s.RevokeToken(ctx, "abc", now); err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.TokenByHash(ctx, "h1"); tok.Valid(now) {
		t.Fatal("revoked token still valid")
	}
	if err := s.RevokeToken(ctx, "nope", now); err == nil {
		t.Fatal("revoked an unknown token")
	}
}

// TestSubmitJobAudited: a submission and its audit record are committed
// together or not at all.
func TestSubmitJobAudited(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	now := time.Now().UTC()
	j := newJob(1)
	j.SubmitTime = now
	record := func(id int64) api.AuditRecord {
		return api.AuditRecord{Time: now, User: "alice", UID: 1000, Remote: "unix", Method: "POST", Path: "/v1/jobs", Object: fmt.Sprintf("job %d", id), Status: 201}
	}
	id, err := s.SubmitJobAudited(t.Context(), j, record)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Audit(t.Context(), AuditFilter{})
	if err != nil || len(recs) != 1 || recs[0].Object != fmt.Sprintf("job %d", id) || recs[0].Status != 201 {
		t.Fatalf("audit after a submission: %+v, %v", recs, err)
	}

	// A record that cannot be written fails the submission: neither is
	// kept.
	if _, err := s.db.Exec(`CREATE TEMP TRIGGER audit_refuse BEFORE INSERT ON main.audit BEGIN SELECT RAISE(ABORT, 'refused'); END`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SubmitJobAudited(t.Context(), j, record); err == nil {
		t.Fatal("submission acknowledged without its audit record")
	}
	jobs, err := s.Jobs(t.Context(), JobFilter{})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("jobs after a failed audited submission: %d, %v", len(jobs), err)
	}
	entriesMatchDB(t, s) // nor is it in memory
}
