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
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
	"github.com/mattn/go-sqlite3"
)

// The unfinished jobs, in memory. A scheduling pass reads every RUNNABLE
// job (its place in the queue, its user, its request) and a listing every
// waiting or running one; reading and decoding them from the database
// each time cost more than everything else the server does. The store
// keeps what both need of every unfinished job (PENDING, RUNNABLE,
// STARTING, RUNNING) in memory. The database stays the source of truth:
// the copy is loaded whole by its first reader after Open, and each
// reader first re-reads the rows that changed since the last.
//
// Which rows changed is not left to each write path to say: SQLite
// reports every row the writing connection inserts, updates or deletes in
// the jobs table (its update hook), whatever the statement, and a
// temporary trigger on that connection reports the rows whose spec
// changed. The rows a transaction touched are marked dirty once it has
// committed (Store.tx), so a re-read sees the committed row. A row marked
// without a change (a rolled-back write) is merely read again.
//
// A submission is the one write that knows the whole row it wrote: it
// stages its job's entry (stage), so that the next sync takes it instead
// of reading the row back and decoding its spec again. The entry counts
// only if nothing touched the row after the insert (any later statement
// on the row drops it, and the row is read again) and only once its
// transaction committed (a rolled-back one drops its entries).

// Bits of a touched or dirty row.
const (
	rowChanged  = 1 << iota // some column changed: read the row again
	specChanged             // its spec changed: decode it again
)

// cachedJob is an unfinished job as the store keeps it in memory. An
// entry does not change once kept (a change of its row replaces it), but
// for gone: readers may keep it, and a scheduling pass reads its job in
// place (ScheduleInputInto), while later syncs replace it.
type cachedJob struct {
	// job is what a scheduling pass reads of the job: its id, user,
	// place in the queue (Submit: COALESCE(order_ns, submit_ns)) and its
	// request (setRequest). Of an array, each element's request. It
	// is the pass's input itself, not a copy: a million waiting jobs
	// are held once.
	job    sched.Job
	uid    uint32
	kill   bool
	gone   bool // replaced or removed; views drop it when they settle
	state  api.JobState
	submit int64 // submit_ns
	node   string
	name   string
	reason string
	// arr holds what an array's row, or an element's, has of that; nil
	// for most jobs, which are neither (arrayOf). Kept apart, the entry
	// is 256 bytes instead of 320.
	arr *arrayPart
}

// arrayPart is what an entry keeps of an array or of an element of one.
type arrayPart struct {
	id, index int64 // of an element: its array (array_id) and index there
	next      int64 // of an array: array_next, the elements materialized so far
	// spec and throttle are an array's range and throttle (its spec's
	// Array and ArrayThrottle); "" for a job that is not an array.
	spec     string
	throttle int
}

func (e *cachedJob) runnable() bool { return e.state == api.StateRunnable && !e.kill }

// arrayOf is e's array part, the zero arrayPart for a job that is
// neither an array nor an element.
func (e *cachedJob) arrayOf() arrayPart {
	if e.arr == nil {
		return arrayPart{}
	}
	return *e.arr
}

// setArray sets e's array range and throttle, keeping the rest of its
// array part. It never changes an arrayPart in place (entries may share
// none, but it costs nothing to be sure).
func (e *cachedJob) setArray(spec string, throttle int) {
	a := e.arrayOf()
	a.spec, a.throttle = spec, throttle
	e.setArrayPart(a)
}

// setArrayPart makes a e's array part (none if a is the zero arrayPart).
func (e *cachedJob) setArrayPart(a arrayPart) {
	e.arr = nil
	if a != (arrayPart{}) {
		e.arr = &a
	}
}

// setRequest sets what e keeps of spec: its job's request, queue and
// features (the other fields of job come from the row's columns), and an
// array's range and throttle.
func (e *cachedJob) setRequest(spec api.JobSpec) {
	id, user, order := e.job.ID, e.job.User, e.job.Submit
	e.job = sched.Job{ID: id, User: user, Submit: order, Queue: spec.Queue, Cores: sched.Count32(max(spec.Cores, 1)),
		MemoryBytes: spec.MemoryBytes, GPUs: sched.Count32(spec.NumGPUs), Exclusive: spec.Exclusive,
		Walltime: time.Duration(spec.WalltimeSeconds) * time.Second,
		Features: features(spec.Labels, HostsFeature(spec.Hosts), spec.Reservation)}
	if spec.Nodes > 1 {
		// A gang: one scheduler task per node, each with the per-node
		// request.
		e.job.Tasks, e.job.Nodes = sched.Count32(spec.Nodes), sched.Count32(spec.Nodes)
	}
	e.setArray(spec.Array, spec.ArrayThrottle)
}

// sameRequest gives e the request old has (its spec did not change).
func (e *cachedJob) sameRequest(old *cachedJob) {
	id, user, order := e.job.ID, e.job.User, e.job.Submit
	e.job = old.job
	e.job.ID, e.job.User, e.job.Submit = id, user, order
	a := old.arrayOf()
	e.setArray(a.spec, a.throttle)
}

// features are the scheduler features a job needs: its labels, its
// host list's feature (hosts, "" none) and its advance reservation's
// (reservation, 0 none).
func features(labels []string, hosts string, reservation int64) []string {
	f := slices.Clip(labels)
	if hosts != "" {
		f = append(f, hosts)
	}
	if reservation != 0 {
		f = append(f, ReservationFeature(reservation))
	}
	return f
}

// runq holds the unfinished jobs and the bookkeeping of changed rows.
type runq struct {
	// mu guards touched, dirty and loaded: the hooks and transactions
	// write them, readers take them.
	mu sync.Mutex
	// touched: rows the writing connection changed in the transaction
	// now running there (and in any statement run outside one).
	touched map[int64]uint8
	// dirty: rows changed by committed transactions since the last sync.
	dirty map[int64]uint8
	// staged: entries of rows inserted by the transaction now running,
	// untouched since; known: those of committed transactions, taken
	// by the next sync instead of reading their rows.
	staged, known map[int64]*cachedJob
	// loaded is set once the jobs have been read whole; until then
	// nothing is marked dirty (the first load reads everything).
	loaded bool

	// syncMu serializes syncs and reads; what follows belongs to its
	// holder.
	syncMu sync.Mutex
	jobs   map[int64]*cachedJob
	queue  view // the runnable jobs by (order, id)
	byID   view // all of them by id
	// strs interns repeated strings (users, states, queues, nodes,
	// names, reasons): a million jobs share a few of each.
	strs map[string]string
}

func newRunq() *runq {
	return &runq{touched: map[int64]uint8{}, dirty: map[int64]uint8{}, staged: map[int64]*cachedJob{}, known: map[int64]*cachedJob{}}
}

// hook is the writing connection's update hook.
func (q *runq) hook(op int, db, table string, rowid int64) {
	if table == "jobs" && db == "main" {
		q.touch(rowid, rowChanged)
	}
}

func (q *runq) touch(id int64, bits uint8) {
	q.mu.Lock()
	q.touched[id] |= bits
	delete(q.staged, id) // changed since it was staged: read it again
	q.mu.Unlock()
}

// stage records the entry of a job row the running transaction has just
// inserted (see the top of this file).
func (q *runq) stage(e *cachedJob) {
	q.mu.Lock()
	q.staged[e.job.ID] = e
	q.mu.Unlock()
}

// takeTouched returns the rows touched on the writing connection so far,
// and the entries staged, and forgets them. The caller must hold the
// writing connection (be inside its transaction), so no other write adds
// to them meanwhile.
func (q *runq) takeTouched() (map[int64]uint8, map[int64]*cachedJob) {
	q.mu.Lock()
	defer q.mu.Unlock()
	t, st := q.touched, q.staged
	if len(t) == 0 {
		t = nil
	} else {
		q.touched = map[int64]uint8{}
	}
	if len(st) == 0 {
		st = nil
	} else {
		q.staged = map[int64]*cachedJob{}
	}
	return t, st
}

// markDirty records rows whose change has been committed (or failed to
// be: a row read again without a change costs only the read), and the
// entries staged by a committed transaction (nil otherwise).
func (q *runq) markDirty(ids map[int64]uint8, staged map[int64]*cachedJob) {
	if len(ids) == 0 {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.loaded {
		return // the first load reads every row anyway
	}
	for id, bits := range ids {
		q.dirty[id] |= bits
		delete(q.known, id) // changed again: read it
	}
	for id, e := range staged {
		q.known[id] = e // its row was touched, so it is dirty too
	}
}

// hookedConnector opens connections to dsn that report the jobs rows
// they change, whatever connection database/sql opens.
type hookedConnector struct {
	dsn string
	drv *sqlite3.SQLiteDriver
}

func newHookedConnector(dsn string, q *runq) hookedConnector {
	return hookedConnector{dsn: dsn, drv: &sqlite3.SQLiteDriver{ConnectHook: func(c *sqlite3.SQLiteConn) error {
		c.RegisterUpdateHook(q.hook)
		if err := c.RegisterFunc("gantry_spec_changed", func(id int64) int64 {
			q.touch(id, specChanged)
			return 0
		}, false); err != nil {
			return err
		}
		// The checkpointer (checkpoint.go) copies the log into the
		// database, not the commits.
		if _, err := c.Exec(`PRAGMA wal_autocheckpoint = 0`, nil); err != nil {
			return err
		}
		// A new database has no jobs table yet: Open adds the trigger
		// once the migrations have run.
		rows, err := c.Query(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'`, nil)
		if err != nil {
			return err
		}
		exists := rows.Next([]driver.Value{nil}) == nil
		rows.Close()
		if !exists {
			return nil
		}
		_, err = c.Exec(specTrigger, nil)
		return err
	}}}
}

// specTrigger reports the jobs whose spec changes (see hookedConnector).
const specTrigger = `CREATE TEMP TRIGGER IF NOT EXISTS jobs_spec_changed AFTER UPDATE OF spec ON main.jobs
BEGIN SELECT gantry_spec_changed(NEW.id); END`

func (c hookedConnector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c hookedConnector) Driver() driver.Driver                        { return c.drv }

// cachedColumns are what the store keeps of an unfinished job, but its
// spec.
const cachedColumns = `id, state, kill_requested, array_next, COALESCE(order_ns, submit_ns), user, uid,
	array_id, array_index, node, name, submit_ns, reason`

// unfinished is the SQL list of the unfinished states.
var unfinished = []any{api.StatePending, api.StateRunnable, api.StateStarting, api.StateRunning}

// sync brings the jobs in memory up to date with every committed write.
// The caller holds q.syncMu.
func (s *Store) sync(ctx context.Context) error {
	q := s.runq
	q.mu.Lock()
	loaded := q.loaded
	dirty, known := q.dirty, q.known
	q.dirty, q.known = map[int64]uint8{}, map[int64]*cachedJob{}
	q.loaded = true // from here on, commits mark their rows dirty
	q.mu.Unlock()
	var err error
	if !loaded {
		err = s.loadCached(ctx)
	} else {
		err = s.refreshCached(ctx, dirty, known)
	}
	if err != nil {
		q.mu.Lock()
		q.loaded = loaded // load again next time
		q.mu.Unlock()
		q.markDirty(dirty, nil) // read them again next time
		return fmt.Errorf("unfinished jobs: %w", err)
	}
	q.queue.settle(func(a, b *cachedJob) int {
		return cmp.Or(cmp.Compare(a.job.Submit, b.job.Submit), cmp.Compare(a.job.ID, b.job.ID))
	})
	q.byID.settle(func(a, b *cachedJob) int { return cmp.Compare(a.job.ID, b.job.ID) })
	return nil
}

// loadCached reads every unfinished job.
func (s *Store) loadCached(ctx context.Context) error {
	q := s.runq
	var n int // to size what holds them: growing it would leave its old copies as garbage
	if err := s.rdb.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE state IN (?, ?, ?, ?)`, unfinished...).Scan(&n); err != nil {
		return err
	}
	q.jobs, q.strs = make(map[int64]*cachedJob, n), map[string]string{}
	q.queue, q.byID = view{added: make([]*cachedJob, 0, n)}, view{added: make([]*cachedJob, 0, n)}
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+cachedColumns+`, json_remove(spec, '$.env') FROM jobs
		WHERE state IN (?, ?, ?, ?)`, unfinished...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var e cachedJob
		var raw string
		if err := e.scan(rows, &raw); err != nil {
			return err
		}
		if err := e.decode(raw); err != nil {
			return err
		}
		q.put(&e)
	}
	return rows.Err()
}

// refreshCached re-reads the dirty rows: the columns of each, and the
// spec of those new to memory or whose spec changed. The rows known
// (inserted by a submission and untouched since) are taken as they are.
func (s *Store) refreshCached(ctx context.Context, dirty map[int64]uint8, known map[int64]*cachedJob) error {
	q := s.runq
	ids := make([]int64, 0, len(dirty))
	for id := range dirty {
		if e, ok := known[id]; ok {
			q.put(e)
			continue
		}
		ids = append(ids, id)
	}
	var fresh []*cachedJob // read, still unfinished, spec to decode
	err := inBatches(ids, func(args []any) error {
		seen := make(map[int64]bool, len(args))
		rows, err := s.rdb.QueryContext(ctx, `SELECT `+cachedColumns+` FROM jobs WHERE id IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			e := &cachedJob{}
			if err := e.scan(rows); err != nil {
				return err
			}
			id := e.job.ID
			seen[id] = true
			old := q.jobs[id]
			switch {
			case e.state.Terminal():
				q.remove(id)
			case old != nil && dirty[id]&specChanged == 0:
				e.sameRequest(old)
				q.put(e)
			default:
				q.remove(id) // back once its spec is decoded
				fresh = append(fresh, e)
			}
		}
		for _, id := range args {
			if !seen[id.(int64)] {
				q.remove(id.(int64)) // deleted
			}
		}
		return rows.Err()
	})
	if err != nil {
		return err
	}
	byID := make(map[int64]*cachedJob, len(fresh))
	ids = ids[:0]
	for _, e := range fresh {
		byID[e.job.ID] = e
		ids = append(ids, e.job.ID)
	}
	return inBatches(ids, func(args []any) error {
		rows, err := s.rdb.QueryContext(ctx, `SELECT id, json_remove(spec, '$.env') FROM jobs WHERE id IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var raw string
			if err := rows.Scan(&id, &raw); err != nil {
				return err
			}
			e := byID[id]
			if err := e.decode(raw); err != nil {
				return err
			}
			q.put(e)
		}
		return rows.Err()
	})
}

// inBatches calls fn with ids in batches of at most 500, as query
// arguments.
func inBatches(ids []int64, fn func(args []any) error) error {
	const batch = 500
	for len(ids) > 0 {
		n := min(len(ids), batch)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if err := fn(args); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

// scan reads a row of cachedColumns into e, and what follows them into
// extra.
func (e *cachedJob) scan(rows *sql.Rows, extra ...any) error {
	var a arrayPart
	if err := rows.Scan(append([]any{&e.job.ID, &e.state, &e.kill, &a.next, &e.job.Submit, &e.job.User, &e.uid,
		&a.id, &a.index, &e.node, &e.name, &e.submit, &e.reason}, extra...)...); err != nil {
		return err
	}
	e.setArrayPart(a)
	return nil
}

// decode sets e's request from its spec (without the environment).
func (e *cachedJob) decode(raw string) error {
	var spec api.JobSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return fmt.Errorf("job %d spec: %w", e.job.ID, err)
	}
	e.setRequest(spec)
	return nil
}

// put keeps e, replacing the job's previous entry.
func (q *runq) put(e *cachedJob) {
	id := e.job.ID
	q.remove(id)
	e.state = api.JobState(q.intern(string(e.state)))
	e.job.User, e.node, e.name, e.reason = q.intern(e.job.User), q.intern(e.node), q.intern(e.name), q.intern(e.reason)
	e.job.Queue = q.intern(e.job.Queue)
	q.jobs[id] = e
	q.byID.add(e)
	if e.runnable() {
		q.queue.add(e)
	}
}

func (q *runq) remove(id int64) {
	if e, ok := q.jobs[id]; ok {
		e.gone = true
		delete(q.jobs, id)
	}
}

// maxInterned bounds the interned strings; past it they start afresh
// (reasons can be many and varied).
const maxInterned = 10000

func (q *runq) intern(s string) string {
	if v, ok := q.strs[s]; ok {
		return v
	}
	if len(q.strs) >= maxInterned {
		clear(q.strs)
	}
	q.strs[s] = s
	return s
}

// view is the jobs in an order, kept by merging in the jobs added since
// it last settled and dropping the gone ones.
type view struct {
	items, added []*cachedJob
}

func (v *view) add(e *cachedJob) { v.added = append(v.added, e) }

func (v *view) settle(less func(a, b *cachedJob) int) {
	added := slices.DeleteFunc(v.added, func(e *cachedJob) bool { return e.gone })
	if len(added) == 0 && !slices.ContainsFunc(v.items, func(e *cachedJob) bool { return e.gone }) {
		v.added = added[:0]
		return
	}
	slices.SortFunc(added, less)
	out := make([]*cachedJob, 0, len(v.items)+len(added))
	i := 0
	for _, e := range v.items {
		if e.gone {
			continue
		}
		for i < len(added) && less(added[i], e) < 0 {
			out = append(out, added[i])
			i++
		}
		out = append(out, e)
	}
	v.items, v.added = append(out, added[i:]...), nil
}

// eachRunnable brings the jobs in memory up to date with every committed
// write and calls visit on each runnable one, in queue order
// (COALESCE(order_ns, submit_ns), id). visit must not change e; it may
// keep it (an entry does not change once kept).
func (s *Store) eachRunnable(ctx context.Context, visit func(e *cachedJob) error) error {
	q := s.runq
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	if err := s.sync(ctx); err != nil {
		return err
	}
	for _, e := range q.queue.items {
		if err := visit(e); err != nil {
			return err
		}
	}
	return nil
}

// fillRequests sets each running allocation's queue and walltime from
// its job's entry (every unfinished job has one, as of the last sync),
// and returns the positions of those whose job has none yet.
func (q *runq) fillRequests(running []sched.Allocation) (missing []int) {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	for k := range running {
		if e, ok := q.jobs[running[k].Job]; ok {
			running[k].Walltime, running[k].Queue = e.job.Walltime, e.job.Queue
		} else {
			missing = append(missing, k)
		}
	}
	return missing
}

// newReasons says which reasons of waiting (each of a job, or of an
// array's candidate element: then the array's, see reasonOwner) a pass
// writes: those its job does not have already, as of the last sync (after
// a restart, none of those it gives again). write[k] is waiting[k]'s;
// flags, not a copy of the entries, which after a restart are a million.
// An array's reason is its first candidate's (the first in queue order).
// A reason changed since the sync is written by the next pass that gives
// another.
func (q *runq) newReasons(waiting []sched.JobReason) (write []bool) {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	write = make([]bool, len(waiting))
	var arrays map[int64]bool // those seen
	for k, w := range waiting {
		id, array := reasonOwner(w.Job)
		if array {
			if arrays[id] {
				continue
			}
			if arrays == nil {
				arrays = map[int64]bool{}
			}
			arrays[id] = true
		}
		e, ok := q.jobs[id]
		write[k] = !ok || e.reason != w.Reason
	}
	return write
}

// reasonOwner is the job whose reason a waiting entry of key gives: the
// job itself, or its array for a candidate element (array true).
func reasonOwner(key int64) (id int64, array bool) {
	if parent, ok := parentOfKey(key); ok {
		return parent, true
	}
	return key, false
}

// size is about the number of runnable jobs (for preallocation).
func (q *runq) size() int {
	q.syncMu.Lock()
	defer q.syncMu.Unlock()
	return len(q.queue.items)
}
