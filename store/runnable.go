package store

import (
	"cmp"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/gantry-hpc/gantry/api"
	"github.com/mattn/go-sqlite3"
)

// The runnable queue: an in-memory copy of what a scheduling pass reads
// of every RUNNABLE job (its place in the queue, its user, its request),
// so that a pass does not read and decode every waiting job again. The
// database stays the source of truth: the queue is loaded from it by the
// first pass after Open, and kept current by re-reading the rows that
// changed since the last pass.
//
// Which rows changed is not left to each write path to say: SQLite
// reports every row the writing connection inserts, updates or deletes
// in the jobs table (its update hook), whatever the statement. The rows
// a transaction touched are marked dirty once it has committed (see
// Store.tx), so a pass that re-reads a dirty row sees the committed row.
// A row marked dirty without a change (a rolled-back write) is merely
// read again.

// queued is a runnable job as the queue keeps it.
type queued struct {
	id    int64
	order int64 // COALESCE(order_ns, submit_ns): its place in the queue
	next  int64 // array_next: elements of an array materialized so far
	user  string
	req   request
	gone  bool // replaced or removed; dropped from runq.order at the next sort
}

// runq is the runnable queue and the bookkeeping of changed rows.
type runq struct {
	// mu guards touched, dirty and loaded: the update hook and
	// transactions write them, the pass reads them.
	mu sync.Mutex
	// touched: rows the writing connection changed in the transaction
	// now running there (and in any statement run outside one).
	touched map[int64]struct{}
	// dirty: rows changed by committed transactions since the last sync.
	dirty map[int64]struct{}
	// loaded is set once the queue has been read whole; until then
	// nothing is marked dirty (the first load reads everything).
	loaded bool

	// syncMu serializes syncs; jobs and order belong to the holder.
	syncMu sync.Mutex
	jobs   map[int64]*queued
	order  []*queued // by (order, id); may hold gone entries until sorted
	added  []*queued // entries not yet merged into order
	// strs interns user and queue names: a million jobs of a few users
	// keep a few strings.
	strs map[string]string
}

func newRunq() *runq {
	return &runq{touched: map[int64]struct{}{}, dirty: map[int64]struct{}{}}
}

// rowChanged is the writing connection's update hook.
func (q *runq) rowChanged(op int, db, table string, rowid int64) {
	if table != "jobs" || db != "main" {
		return
	}
	q.mu.Lock()
	q.touched[rowid] = struct{}{}
	q.mu.Unlock()
}

// takeTouched returns the rows touched on the writing connection so far
// and forgets them. The caller must hold the writing connection (be
// inside its transaction), so no other write adds to them meanwhile.
func (q *runq) takeTouched() map[int64]struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.touched) == 0 {
		return nil
	}
	t := q.touched
	q.touched = map[int64]struct{}{}
	return t
}

// restoreTouched makes t the rows touched so far, forgetting those
// touched since takeTouched returned t: for writes to columns the queue
// does not read. The caller must hold the writing connection.
func (q *runq) restoreTouched(t map[int64]struct{}) {
	if t == nil {
		t = map[int64]struct{}{}
	}
	q.mu.Lock()
	q.touched = t
	q.mu.Unlock()
}

// size is about the number of jobs in the queue (for preallocation).
func (q *runq) size() int {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	return len(q.jobs)
}

// markDirty records rows whose change has been committed (or failed to
// be: a row read again without a change costs only the read).
func (q *runq) markDirty(ids map[int64]struct{}) {
	if len(ids) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.loaded {
		return // the first load reads every row anyway
	}
	for id := range ids {
		q.dirty[id] = struct{}{}
	}
}

// hookedConnector opens connections to dsn with the runnable queue's
// update hook installed, whatever connection database/sql opens.
type hookedConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newHookedConnector(dsn string, q *runq) hookedConnector {
	return hookedConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterUpdateHook(q.rowChanged)
		// The checkpointer (checkpoint.go) copies the log into the
		// database, not the commits.
		_, err := c.Exec("PRAGMA wal_autocheckpoint = 0", nil)
		return err
	}}}
}

func (c hookedConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c hookedConnector) Driver() driver.Driver                        { return c.drv }

// runnableColumns are what the queue reads of a job; the spec without its
// environment (the bulk of it, which scheduling does not need).
const runnableColumns = `id, state, kill_requested, array_next, COALESCE(order_ns, submit_ns), user, json_remove(spec, '$.env')`

// eachRunnable brings the runnable queue up to date with every committed
// write and calls visit on each job in it, in queue order
// (COALESCE(order_ns, submit_ns), id). visit must not keep or change e.
func (s *Store) eachRunnable(ctx context.Context, visit func(e *queued) error) error {
	q := s.runq
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	q.mu.Lock()
	loaded := q.loaded
	dirty := q.dirty
	q.dirty = map[int64]struct{}{}
	q.loaded = true // from here on, commits mark their rows dirty
	q.mu.Unlock()
	if !loaded {
		if err := s.loadRunnable(ctx); err != nil {
			q.mu.Lock()
			q.loaded = false // load again next time
			q.mu.Unlock()
			return err
		}
	} else if err := s.refreshRunnable(ctx, dirty); err != nil {
		q.markDirty(dirty) // read them again next time
		return err
	}
	q.merge()
	for _, e := range q.order {
		if err := visit(e); err != nil {
			return err
		}
	}
	return nil
}

// loadRunnable reads the whole queue.
func (s *Store) loadRunnable(ctx context.Context) error {
	q := s.runq
	q.jobs, q.order, q.added, q.strs = map[int64]*queued{}, nil, nil, map[string]string{}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+runnableColumns+` FROM jobs WHERE state = ? AND kill_requested = 0`, api.StateRunnable)
	if err != nil {
		return fmt.Errorf("runnable jobs: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := q.scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// refreshRunnable re-reads the dirty rows and updates the queue.
func (s *Store) refreshRunnable(ctx context.Context, dirty map[int64]struct{}) error {
	q := s.runq
	ids := make([]any, 0, len(dirty))
	for id := range dirty {
		ids = append(ids, id)
		q.remove(id) // a row that is still runnable is read back below
	}
	const batch = 500
	for len(ids) > 0 {
		n := min(len(ids), batch)
		rows, err := s.rdb.QueryContext(ctx, `SELECT `+runnableColumns+` FROM jobs WHERE id IN (`+placeholders(n)+`)`, ids[:n]...)
		if err != nil {
			return fmt.Errorf("runnable jobs: %w", err)
		}
		for rows.Next() {
			if err := q.scan(rows); err != nil {
				rows.Close()
				return err
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// scan reads one row of runnableColumns and queues the job if it is
// runnable.
func (q *runq) scan(rows *sql.Rows) error {
	var (
		e     queued
		state api.JobState
		kill  bool
		raw   string
		spec  api.JobSpec
	)
	if err := rows.Scan(&e.id, &state, &kill, &e.next, &e.order, &e.user, &raw); err != nil {
		return err
	}
	if state != api.StateRunnable || kill {
		return nil
	}
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("job %d spec: %w", e.id, err)
	}
	e.req = requestOf(spec)
	e.user, e.req.queue = q.intern(e.user), q.intern(e.req.queue)
	q.remove(e.id)
	q.jobs[e.id] = &e
	q.added = append(q.added, &e)
	return nil
}

func (q *runq) remove(id int64) {
	if e, ok := q.jobs[id]; ok {
		e.gone = true
		delete(q.jobs, id)
	}
}

func (q *runq) intern(s string) string {
	if v, ok := q.strs[s]; ok {
		return v
	}
	q.strs[s] = s
	return s
}

// merge drops gone entries from order and merges the added ones in.
func (q *runq) merge() {
	if len(q.added) == 0 && len(q.order) == len(q.jobs) {
		return
	}
	less := func(a, b *queued) int {
		return cmp.Or(cmp.Compare(a.order, b.order), cmp.Compare(a.id, b.id))
	}
	added := slices.DeleteFunc(q.added, func(e *queued) bool { return e.gone })
	slices.SortFunc(added, less)
	out := make([]*queued, 0, len(q.jobs))
	i := 0
	for _, e := range q.order {
		if e.gone {
			continue
		}
		for i < len(added) && less(added[i], e) < 0 {
			out = append(out, added[i])
			i++
		}
		out = append(out, e)
	}
	out = append(out, added[i:]...)
	q.order, q.added = out, nil
}
