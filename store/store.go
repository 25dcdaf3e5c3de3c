package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// ErrNotFound is returned for an unknown job or node.
var ErrNotFound = errors.New("not found")

// Store is the server's durable state. It is safe for concurrent use.
type Store struct {
	// db is the one writing connection; rdb the readers' pool.
	db  *sql.DB
	rdb *sql.DB
	// writes feeds the group-commit batcher (batch.go).
	writes      chan batchedWrite
	batcherDone chan struct{}
	// queueCache holds queue definitions for admission (name ->
	// api.Queue); PutQueue and DeleteQueue invalidate it.
	queueCache sync.Map
	// runq holds the unfinished jobs in memory, for scheduling passes
	// and listings (runnable.go).
	runq *runq
	// stopCheckpointer stops the checkpoints (checkpoint.go).
	stopCheckpointer func()
}

// migrations bring the database from one schema version (PRAGMA
// user_version) to the next; migrations[i] makes version i+1. They run in
// one transaction at Open. Append only: never edit a released migration.
var migrations = []string{
	// 1: jobs and nodes.
	`CREATE TABLE jobs (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	spec            TEXT    NOT NULL,
	state           TEXT    NOT NULL,
	reason          TEXT    NOT NULL DEFAULT '',
	user            TEXT    NOT NULL,
	uid             INTEGER NOT NULL,
	gid             INTEGER NOT NULL,
	groups_json     TEXT    NOT NULL DEFAULT '[]',
	submit_ns       INTEGER NOT NULL,
	start_ns        INTEGER,
	end_ns          INTEGER,
	node            TEXT    NOT NULL DEFAULT '',
	cpus_json       TEXT    NOT NULL DEFAULT '[]',
	mem_bytes       INTEGER NOT NULL DEFAULT 0,
	kill_requested  INTEGER NOT NULL DEFAULT 0,
	exit_code       INTEGER,
	signal          TEXT    NOT NULL DEFAULT '',
	oom_killed      INTEGER NOT NULL DEFAULT 0,
	peak_mem_bytes  INTEGER NOT NULL DEFAULT 0,
	cpu_time_s      REAL    NOT NULL DEFAULT 0
);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX jobs_by_node ON jobs(node, state);
CREATE TABLE nodes (
	name          TEXT PRIMARY KEY,
	hostname      TEXT    NOT NULL DEFAULT '',
	cpus_json     TEXT    NOT NULL,
	mem_bytes     INTEGER NOT NULL,
	state         TEXT    NOT NULL,
	heartbeat_ns  INTEGER NOT NULL,
	version       TEXT    NOT NULL DEFAULT ''
);`,
	// 2: node labels and topology; the event log (every job transition,
	// in commit order: GET /v1/events and gantry hist read it).
	`ALTER TABLE nodes ADD COLUMN labels_json TEXT NOT NULL DEFAULT '{}';
ALTER TABLE nodes ADD COLUMN topology_json TEXT NOT NULL DEFAULT '';
CREATE TABLE events (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns   INTEGER NOT NULL,
	job_id    INTEGER NOT NULL,
	state     TEXT    NOT NULL,
	reason    TEXT    NOT NULL DEFAULT '',
	node      TEXT    NOT NULL DEFAULT '',
	actor     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX events_by_job ON events(job_id, id);`,
	// 3: holds, and job names for dependencies by name.
	`ALTER TABLE jobs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN name TEXT NOT NULL DEFAULT '';
CREATE INDEX jobs_by_user_name ON jobs(uid, name);`,
	// 4: queues, with the built-in default queue.
	`CREATE TABLE queues (
	name      TEXT PRIMARY KEY,
	spec_json TEXT NOT NULL
);
INSERT INTO queues (name, spec_json) VALUES ('normal', '{"name":"normal","description":"the default queue","priority":0,"open":true,"active":true,"source":"builtin"}');
CREATE INDEX jobs_by_queue ON jobs(json_extract(spec, '$.queue'), state);`,
	// 5: recurring jobs.
	`CREATE TABLE crons (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	spec_json    TEXT    NOT NULL,
	user         TEXT    NOT NULL,
	uid          INTEGER NOT NULL,
	gid          INTEGER NOT NULL,
	groups_json  TEXT    NOT NULL,
	paused       INTEGER NOT NULL DEFAULT 0,
	next_ns      INTEGER,
	last_ns      INTEGER,
	last_slot    TEXT    NOT NULL DEFAULT '',
	last_job     INTEGER NOT NULL DEFAULT 0,
	fired        INTEGER NOT NULL DEFAULT 0,
	skipped      INTEGER NOT NULL DEFAULT 0,
	created_ns   INTEGER NOT NULL
);`,
	// 6: job arrays. An array is one row; its elements get rows of their
	// own (array_id, array_index) only when they start or are cancelled.
	// array_next counts the elements materialized in index order.
	`ALTER TABLE jobs ADD COLUMN array_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN array_index INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN array_next INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX jobs_array_elements ON jobs(array_id, array_index) WHERE array_id != 0;`,
	// 7: node drains.
	`ALTER TABLE nodes ADD COLUMN drain_json TEXT NOT NULL DEFAULT '';`,
	// 8: tries of a job (retries, requeues after a node failure).
	`ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;`,
	// 9: the audit log (append-only: triggers refuse updates and
	// deletes) and API tokens (user and node-join tokens, kept as sha256
	// hashes; see audit.go and tokens.go).
	`CREATE TABLE audit (
	id        INTEGER PRIMARY KEY AUTOINCREMENT,
	time_ns   INTEGER NOT NULL,
	user      TEXT    NOT NULL,
	uid       INTEGER NOT NULL,
	admin     INTEGER NOT NULL,
	remote    TEXT    NOT NULL,
	method    TEXT    NOT NULL,
	path      TEXT    NOT NULL,
	object    TEXT    NOT NULL DEFAULT '',
	status    INTEGER NOT NULL,
	error     TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX audit_by_time ON audit(time_ns);
CREATE INDEX audit_by_user ON audit(user, time_ns);
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TABLE tokens (
	id           TEXT    PRIMARY KEY,
	hash         TEXT    NOT NULL UNIQUE,
	kind         TEXT    NOT NULL,
	user         TEXT    NOT NULL DEFAULT '',
	description  TEXT    NOT NULL DEFAULT '',
	created_by   TEXT    NOT NULL,
	created_ns   INTEGER NOT NULL,
	expires_ns   INTEGER,
	revoked_ns   INTEGER,
	last_used_ns INTEGER
);`,
	// 10: the GPUs of an allocation (node-local indices).
	`ALTER TABLE jobs ADD COLUMN gpus_json TEXT NOT NULL DEFAULT '[]';`,
	// 11: idempotent submissions (JobSpec.SubmitToken).
	`ALTER TABLE jobs ADD COLUMN submit_token TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX jobs_by_submit_token ON jobs(uid, submit_token) WHERE submit_token != '';`,
	// 12: maintenance reservations.
	`CREATE TABLE reservations (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	nodes_json TEXT    NOT NULL,
	start_ns   INTEGER NOT NULL,
	end_ns     INTEGER NOT NULL,
	reason     TEXT    NOT NULL,
	by_user    TEXT    NOT NULL
);`,
	// 13: suspending running jobs (the cgroup freezer on their node).
	`ALTER TABLE jobs ADD COLUMN suspend_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN suspended INTEGER NOT NULL DEFAULT 0;`,
	// 14: a waiting job's place in its user's queue (gantry top/bot):
	// the time its age counts from, the submission time until moved.
	`ALTER TABLE jobs ADD COLUMN order_ns INTEGER;
UPDATE jobs SET order_ns = submit_ns;`,
	// 15: finished jobs by end time (accounting, fair-share usage).
	`CREATE INDEX jobs_by_end ON jobs(end_ns) WHERE end_ns IS NOT NULL;`,
	// 16: gangs (jobs over several nodes): one row per node of the
	// current try, rank 0 repeating the job's own allocation; the
	// gang's start barrier; and the nodes' addresses for the parts'
	// rendezvous.
	`CREATE TABLE job_parts (
	job_id         INTEGER NOT NULL,
	attempt        INTEGER NOT NULL,
	rank           INTEGER NOT NULL,
	node           TEXT    NOT NULL,
	cpus_json      TEXT    NOT NULL,
	gpus_json      TEXT    NOT NULL,
	mem_bytes      INTEGER NOT NULL,
	ready          INTEGER NOT NULL DEFAULT 0,
	port           INTEGER NOT NULL DEFAULT 0,
	start_ns       INTEGER,
	end_ns         INTEGER,
	exit_code      INTEGER,
	signal         TEXT    NOT NULL DEFAULT '',
	peak_mem_bytes INTEGER NOT NULL DEFAULT 0,
	cpu_time_s     REAL    NOT NULL DEFAULT 0,
	PRIMARY KEY (job_id, attempt, rank)
);
CREATE INDEX job_parts_by_node ON job_parts(node);
ALTER TABLE jobs ADD COLUMN gang INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN placed_ns INTEGER;
ALTER TABLE jobs ADD COLUMN released INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN address TEXT NOT NULL DEFAULT '';`,
	// 17: jobs suspended by a preemption, resumed by the scheduler.
	`ALTER TABLE jobs ADD COLUMN preempted_by INTEGER NOT NULL DEFAULT 0;`,
	// 18: signals sent to running jobs (bkill -s): the last one asked
	// for, and a count the nodes deliver each request once by.
	`ALTER TABLE jobs ADD COLUMN signal_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN signal_req TEXT NOT NULL DEFAULT '';`,
	// 19: advance reservations: the users whose jobs run in them.
	`ALTER TABLE reservations ADD COLUMN users_json TEXT NOT NULL DEFAULT '[]';`,
}

// migrate applies the migrations the database has not seen yet.
func migrate(db *sql.DB) error {
	var version int
	if err := db.QueryRow(`PRAGMA user_version`).Scan(&version); err != nil {
		return err
	}
	if version > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this gantry (%d): upgrade gantry", version, len(migrations))
	}
	if version == len(migrations) {
		return nil
	}
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for v := version; v < len(migrations); v++ {
		if _, err := tx.Exec(migrations[v]); err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	if _, err := tx.Exec(fmt.Sprintf(`PRAGMA user_version = %d`, len(migrations))); err != nil {
		return err
	}
	return tx.Commit()
}

// Open opens (creating if needed) the database gantry.db in dir. The
// pragmas make it durable against a crash of the process: WAL with
// synchronous=NORMAL loses nothing a committed transaction wrote unless the
// machine itself loses power.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open store %s: %w", dir, err)
	}
	path := filepath.Join(dir, "gantry.db")
	// Each connection keeps its prepared statements (_stmt_cache_size):
	// preparing them again cost a tenth of a submission.
	dsn := "file:" + path + "?_journal_mode=WAL&_synchronous=NORMAL&_busy_timeout=10000&_foreign_keys=1&_txlock=immediate&_stmt_cache_size=64"
	st := &Store{runq: newRunq()}
	db := sql.OpenDB(newHookedConnector(dsn, st.runq))
	// One writer at a time is SQLite's model: all writes go through one
	// connection, so our own goroutines queue in Go instead of colliding
	// in SQLite's busy handler (which sleeps in steps of milliseconds).
	// Reads use a pool of their own: with WAL a reader sees the last
	// commit and neither waits for the writer nor holds it up.
	db.SetMaxOpenConns(1)
	if err := migrate(db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if _, err := db.Exec(specTrigger); err != nil { // on the one connection
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	rdb, err := sql.Open("sqlite3", "file:"+path+"?_busy_timeout=10000&_query_only=1&_stmt_cache_size=64")
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	rdb.SetMaxOpenConns(4)
	st.db, st.rdb = db, rdb
	if st.stopCheckpointer, err = startCheckpointer("file:" + path + "?_busy_timeout=10000"); err != nil {
		rdb.Close()
		db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	st.startBatcher()
	return st, nil
}

// Close closes the database.
func (s *Store) Close() error {
	close(s.writes)
	<-s.batcherDone
	s.stopCheckpointer()
	return errors.Join(s.rdb.Close(), s.db.Close())
}

// tx runs fn in one transaction, committing if it returns nil. Every
// write to the jobs table goes through here: the rows it changed are
// marked for the runnable queue once committed (runnable.go).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	// Not BeginTx(ctx): a cancelled ctx would roll the transaction back
	// from another goroutine and hand the connection to the next
	// transaction while fn still runs, mixing their changed rows. fn's
	// statements still see ctx, so it ends early all the same.
	tx, err := s.db.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return err
	}
	err = fn(tx)
	// Still holding the connection: the touched rows are this
	// transaction's (and those of statements run outside one before it,
	// committed by now).
	touched, staged := s.runq.takeTouched()
	if err != nil {
		tx.Rollback()
		s.runq.markDirty(touched, nil) // only the earlier statements' matter; harmless
		return err
	}
	if err = tx.Commit(); err != nil {
		staged = nil
	}
	s.runq.markDirty(touched, staged)
	return err
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("store: marshal %T: %v", v, err)) // plain data; cannot fail
	}
	return string(b)
}

func timeFromNS(ns sql.NullInt64) *time.Time {
	if !ns.Valid {
		return nil
	}
	t := time.Unix(0, ns.Int64).UTC()
	return &t
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}
