package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

const jobColumns = `id, spec, state, reason, user, uid, gid, groups_json, submit_ns, start_ns, end_ns,
	node, cpus_json, mem_bytes, kill_requested, exit_code, signal, oom_killed, peak_mem_bytes, cpu_time_s, held,
	array_id, array_index, attempt, gpus_json, suspend_requested, suspended`

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (api.Job, error) {
	var (
		j                        api.Job
		spec, groups, cpus, gpus string
		submit                   int64
		start, end, exit         sql.NullInt64
		memBytes                 int64
		kill, oom, held          bool
	)
	err := row.Scan(&j.ID, &spec, &j.State, &j.Reason, &j.User, &j.UID, &j.GID, &groups, &submit, &start, &end,
		&j.Node, &cpus, &memBytes, &kill, &exit, &j.Signal, &oom, &j.PeakMemoryBytes, &j.CPUTimeSeconds, &held,
		&j.ArrayID, &j.ArrayIndex, &j.Attempt, &gpus, &j.SuspendRequested, &j.Suspended)
	if err != nil {
		return j, err
	}
	if err := json.Unmarshal([]byte(spec), &j.Spec); err != nil {
		return j, fmt.Errorf("job %d spec: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(groups), &j.Groups); err != nil {
		return j, fmt.Errorf("job %d groups: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(cpus), &j.CPUs); err != nil {
		return j, fmt.Errorf("job %d cpus: %w", j.ID, err)
	}
	if err := json.Unmarshal([]byte(gpus), &j.GPUs); err != nil {
		return j, fmt.Errorf("job %d gpus: %w", j.ID, err)
	}
	j.SubmitTime = time.Unix(0, submit).UTC()
	j.StartTime, j.EndTime = timeFromNS(start), timeFromNS(end)
	j.KillRequested, j.OOMKilled, j.Held = kill, oom, held
	if exit.Valid {
		code := int(exit.Int64)
		j.ExitCode = &code
	}
	return j, nil
}

// SubmitJob stores a new job and returns its id. The id is never reused,
// even after a crash. A job with nothing to wait for (no hold, begin time
// or dependency) is RUNNABLE at once; the others are PENDING until
// Promote finds them eligible.
func (s *Store) SubmitJob(ctx context.Context, j api.Job) (int64, error) {
	return s.SubmitJobAudited(ctx, j, nil)
}

// SubmitJobAudited is SubmitJob that also appends the call's record to
// the audit log, in the same transaction: the job and its record are
// committed (and durable) together, or neither is. audit, when not nil,
// returns the record given the job's id.
func (s *Store) SubmitJobAudited(ctx context.Context, j api.Job, audit func(id int64) api.AuditRecord) (int64, error) {
	// Everything that does not need the transaction is done here, in
	// the caller's goroutine: the group commit runs its writes one
	// after the other, so what runs inside it bounds the rate.
	p := prepareJob(j, j.User)
	var id int64
	err := s.inBatch(ctx, func(tx *sql.Tx) error {
		var err error
		var e *cachedJob
		id, e, err = p.insert(context.Background(), tx, "submitted")
		if err != nil {
			return err
		}
		if audit != nil {
			if err := insertAudit(tx, audit(id)); err != nil {
				return err
			}
		}
		if e != nil {
			s.runq.stage(e) // after every statement on its row
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("submit job: %w", err)
	}
	return id, nil
}

// insertJob inserts a new job in tx, with its first event saying who
// submitted it (actor) and how (why). It returns the job's id and, when
// it inserted a row, the store's in-memory entry for that row as
// inserted (see runq.stage).
func insertJob(ctx context.Context, tx *sql.Tx, j api.Job, actor, why string) (int64, *cachedJob, error) {
	return prepareJob(j, actor).insert(ctx, tx, why)
}

// preparedJob is a new job's row, encoded, ready to insert: what
// insertJob computes before it touches the database.
type preparedJob struct {
	job          api.Job
	actor        string
	spec, groups string
	state        api.JobState
	reason       string
	submit       int64
}

// prepareJob encodes job j, submitted by actor, for insert.
func prepareJob(j api.Job, actor string) *preparedJob {
	state := api.StatePending
	if !j.Spec.Hold && j.Spec.BeginTime == nil && j.Spec.Dependency == "" {
		state = api.StateRunnable
	}
	return &preparedJob{job: j, actor: actor, spec: mustJSON(j.Spec), groups: mustJSON(j.Groups), state: state,
		reason: heldReason(j.Spec.Hold, actor), submit: j.SubmitTime.UnixNano()}
}

// insert inserts the job in tx, with its first event (why); see insertJob.
// A job whose submit token its user has used before is not inserted
// again: insert returns the first one's id (and no entry). It may run
// more than once (a group commit retried), each time in a fresh
// transaction.
func (p *preparedJob) insert(ctx context.Context, tx *sql.Tx, why string) (int64, *cachedJob, error) {
	j := &p.job
	// The unique index on (uid, submit_token) finds a resubmission: the
	// insert then does nothing, and the first job's id is looked up.
	// ("submit_token != ''" names the partial index.)
	res, err := tx.ExecContext(ctx, `INSERT INTO jobs (spec, state, reason, user, uid, gid, groups_json, submit_ns, order_ns, held, name, submit_token)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (uid, submit_token) WHERE submit_token != '' DO NOTHING`,
		p.spec, p.state, p.reason, j.User, j.UID, j.GID, p.groups, p.submit, p.submit,
		j.Spec.Hold, j.Spec.Name, j.Spec.SubmitToken)
	if err != nil {
		return 0, nil, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, nil, err
	} else if n == 0 {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT id FROM jobs WHERE uid = ? AND submit_token = ? AND submit_token != ''`, j.UID, j.Spec.SubmitToken).Scan(&id)
		return id, nil, err // submitted before: the same job
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, nil, err
	}
	// The row as loadCached would read it back (the defaults of the
	// columns not set here: no node, no kill, no array).
	e := &cachedJob{job: sched.Job{ID: id, User: j.User, Submit: sched.Stamp(p.submit)}, uid: j.UID, submit: p.submit, state: p.state,
		name: j.Spec.Name, reason: p.reason}
	e.setRequest(j.Spec)
	return id, e, recordEvent(ctx, tx, j.SubmitTime, id, p.state, why, "", p.actor)
}

// Job returns one job, or ErrNotFound.
func (s *Store) Job(ctx context.Context, id int64) (api.Job, error) {
	j, err := scanJob(s.rdb.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return j, err
	}
	one := []api.Job{j}
	err = s.fillParts(ctx, one)
	return one[0], err
}

// JobFilter selects jobs for Jobs. Zero fields select everything.
type JobFilter struct {
	// UID, when non-nil, keeps only that user's jobs.
	UID *uint32
	// States keeps only jobs in these states.
	States []api.JobState
	// Limit caps the number of jobs returned (the newest are kept); 0
	// means a million.
	Limit int
}

// Jobs lists jobs in id order.
func (s *Store) Jobs(ctx context.Context, f JobFilter) ([]api.Job, error) {
	// A listing leaves the environment (the bulk of a spec) in the
	// database: SQLite drops it before Go decodes anything.
	q := `SELECT ` + strings.Replace(jobColumns, "spec,", "json_remove(spec, '$.env'),", 1) + ` FROM jobs WHERE 1=1`
	var args []any
	if f.UID != nil {
		q += ` AND uid = ?`
		args = append(args, *f.UID)
	}
	if len(f.States) > 0 {
		q += ` AND state IN (` + placeholders(len(f.States)) + `)`
		for _, st := range f.States {
			args = append(args, st)
		}
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000000
	}
	q = `SELECT * FROM (` + q + ` ORDER BY id DESC LIMIT ?) ORDER BY id`
	args = append(args, limit)
	rows, err := s.rdb.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var out []api.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	// Multi-node jobs list their parts (bjobs shows every host).
	return out, s.fillParts(ctx, out)
}

// ScheduleInput returns what a scheduling pass needs from the jobs table:
// the pending jobs in priority order (submission order here) with their
// walltimes, and the allocations of the jobs that hold resources with
// their start times (zero while STARTING) and walltimes, from which the
// scheduler expects their ends.
func (s *Store) ScheduleInput(ctx context.Context) (pending []*sched.Job, running []sched.Allocation, err error) {
	return s.ScheduleInputInto(ctx, nil)
}

// ScheduleInputInto is ScheduleInput that puts the pending jobs in buf
// (from its start, growing it as needed): a server reuses the slice of
// its previous pass.
//
// The pending jobs are the store's own (but for arrays' elements, made
// for the pass): they do not change (a write to a job replaces what the
// store holds of it), so the pass may read them while the store goes on,
// and must not change them.
func (s *Store) ScheduleInputInto(ctx context.Context, buf []*sched.Job) (pending []*sched.Job, running []sched.Allocation, err error) {
	// Running elements per array, for the arrays' throttles.
	active := map[int64]int64{}
	rows, err := s.rdb.QueryContext(ctx, `SELECT array_id, COUNT(*) FROM jobs WHERE array_id != 0 AND state IN (?, ?) GROUP BY array_id`,
		api.StateStarting, api.StateRunning)
	if err != nil {
		return nil, nil, fmt.Errorf("array elements: %w", err)
	}
	for rows.Next() {
		var id, n int64
		if err := rows.Scan(&id, &n); err != nil {
			rows.Close()
			return nil, nil, err
		}
		active[id] = n
	}
	rows.Close()

	// The runnable jobs come from memory (runnable.go), in queue order.
	pending = buf[:0]
	if n := s.runq.size(); cap(pending) < n {
		pending = make([]*sched.Job, 0, n)
	}
	err = s.eachRunnable(ctx, func(r *cachedJob) error {
		if r.arr == nil || r.arr.spec == "" {
			pending = append(pending, &r.job)
			return nil
		}
		elems, err := arrayCandidates(r, active[r.job.ID])
		if err != nil {
			return err
		}
		for k := range elems {
			pending = append(pending, &elems[k])
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("pending jobs: %w", err)
	}
	// What the previous pass had beyond these: not kept alive.
	clear(pending[len(pending):cap(pending)])

	// Every part of a gang holds its node's share (rank 0 is the job's
	// own row).
	rows, err = s.rdb.QueryContext(ctx, `SELECT id, node, cpus_json, gpus_json, mem_bytes, start_ns, user, suspended OR suspend_requested FROM jobs WHERE state IN (?, ?)
		UNION ALL SELECT j.id, p.node, p.cpus_json, p.gpus_json, p.mem_bytes, j.start_ns, j.user, j.suspended OR j.suspend_requested FROM job_parts p
		JOIN jobs j ON j.id = p.job_id AND j.attempt = p.attempt WHERE p.rank > 0 AND j.state IN (?, ?)`,
		api.StateStarting, api.StateRunning, api.StateStarting, api.StateRunning)
	if err != nil {
		return nil, nil, fmt.Errorf("running jobs: %w", err)
	}
	for rows.Next() {
		var a sched.Allocation
		var cpus, gpus string
		var start sql.NullInt64
		if err := rows.Scan(&a.Job, &a.Node, &cpus, &gpus, &a.MemoryBytes, &start, &a.User, &a.Suspended); err != nil {
			rows.Close()
			return nil, nil, err
		}
		if err := errors.Join(json.Unmarshal([]byte(cpus), &a.CPUs), json.Unmarshal([]byte(gpus), &a.GPUs)); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("job %d allocation: %w", a.Job, err)
		}
		// A STARTING job has no start time yet: the zero Start counts as
		// starting now. Its walltime gives its expected end.
		if start.Valid {
			a.Start = time.Unix(0, start.Int64)
		}
		running = append(running, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	if missing := s.runq.fillRequests(running); len(missing) > 0 {
		if err := s.readRequests(ctx, running, missing); err != nil {
			return nil, nil, err
		}
	}
	return pending, running, nil
}

// ApplyPlan commits a scheduling decision in one transaction: the
// preempted jobs are requeued or suspended (see preempt), each started
// job moves from PENDING to STARTING on its node, and each waiting job
// gets its reason. A job that stopped being PENDING since the snapshot
// (cancelled meanwhile) is skipped. It returns the ids that were started.
func (s *Store) ApplyPlan(ctx context.Context, plan sched.Plan, now time.Time) ([]int64, error) {
	var started []int64
	write := s.runq.newReasons(plan.Waiting)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Victims first: requeued, or frozen, on all their nodes.
		for _, p := range plan.Preemptions {
			if err := preempt(ctx, tx, p, now); err != nil {
				return fmt.Errorf("preempt job %d: %w", p.Job, err)
			}
		}
		for i := 0; i < len(plan.Starts); i++ {
			a := plan.Starts[i]
			// A gang's allocations are consecutive, one per node.
			n := 1
			for i+n < len(plan.Starts) && plan.Starts[i+n].Job == a.Job {
				n++
			}
			if n > 1 {
				ok, err := startGang(ctx, tx, plan.Starts[i:i+n], now)
				if err != nil {
					return fmt.Errorf("gang %d: %w", a.Job, err)
				}
				if ok {
					started = append(started, a.Job)
				}
				i += n - 1
				continue
			}
			if parent, ok := parentOfKey(a.Job); ok {
				id, ok, err := materialize(ctx, tx, parent, a, now)
				if err != nil {
					return fmt.Errorf("array %d: %w", parent, err)
				}
				if ok {
					started = append(started, id)
				}
				continue
			}
			res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = '', node = ?, cpus_json = ?, gpus_json = ?, mem_bytes = ?
				WHERE id = ? AND state = ?`, api.StateStarting, a.Node, mustJSON(a.CPUs), mustJSON(nonNil(a.GPUs)), a.MemoryBytes, a.Job, api.StateRunnable)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 1 {
				started = append(started, a.Job)
				if err := recordEvent(ctx, tx, now, a.Job, api.StateStarting, "placed", a.Node, "scheduler"); err != nil {
					return err
				}
			}
		}
		for k, w := range plan.Waiting {
			if !write[k] {
				continue
			}
			id, _ := reasonOwner(w.Job)
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET reason = ? WHERE id = ? AND state = ? AND reason != ?`,
				w.Reason, id, api.StateRunnable, w.Reason); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("apply plan: %w", err)
	}
	return started, nil
}

// Assignments returns the jobs placed on node (STARTING or RUNNING), in id
// order: the node's desired state.
func (s *Store) Assignments(ctx context.Context, node string) ([]api.Job, error) {
	jobs, _, err := s.NodeAssignments(ctx, node)
	return jobs, err
}

// NodeAssignments is Assignments with, in the same read, the last signal
// asked for each of the jobs that was sent one (bkill -s).
func (s *Store) NodeAssignments(ctx context.Context, node string) ([]api.Job, []api.SignalRequest, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+jobColumns+`, signal_seq, signal_req FROM jobs WHERE id IN (`+jobsOnNode+`) ORDER BY id`,
		jobsOnNodeArgs(node)...)
	if err != nil {
		return nil, nil, fmt.Errorf("assignments of %s: %w", node, err)
	}
	defer rows.Close()
	var out []api.Job
	var signals []api.SignalRequest
	for rows.Next() {
		var sig api.SignalRequest
		j, err := scanJob(withExtra{rows, []any{&sig.Seq, &sig.Signal}})
		if err != nil {
			return nil, nil, err
		}
		out = append(out, j)
		if sig.Signal != "" {
			sig.JobID = j.ID
			signals = append(signals, sig)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return out, signals, s.fillParts(ctx, out)
}

// withExtra scans a row of jobColumns followed by the extra columns.
type withExtra struct {
	row   scanner
	extra []any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra...)...) }

// MarkRunning records that node runs try attempt (0: any) of job id since
// startedAt. Only a STARTING job placed on that node, in that try,
// changes; it reports whether one did.
func (s *Store) MarkRunning(ctx context.Context, node string, id int64, attempt int, startedAt time.Time) (bool, error) {
	var changed bool
	err := s.tx(ctx, func(tx *sql.Tx) (err error) {
		changed, err = markRunning(ctx, tx, node, id, attempt, startedAt)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("mark job %d running: %w", id, err)
	}
	return changed, nil
}

func markRunning(ctx context.Context, tx *sql.Tx, node string, id int64, attempt int, startedAt time.Time) (bool, error) {
	var gang int
	if err := tx.QueryRowContext(ctx, `SELECT gang FROM jobs WHERE id = ?`, id).Scan(&gang); err == nil && gang > 0 {
		return markPartRunning(ctx, tx, node, id, attempt, startedAt)
	}
	res, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, start_ns = ? WHERE id = ? AND node = ? AND state = ? AND (? = 0 OR attempt = ?)`,
		api.StateRunning, startedAt.UnixNano(), id, node, api.StateStarting, attempt, attempt)
	if err != nil {
		return false, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	return true, recordEvent(ctx, tx, startedAt, id, api.StateRunning, "started", node, node)
}

// FinishJob records how job id ended on node. It is idempotent: a result
// for a job that is already terminal, or that is not on that node, changes
// nothing. It returns the job's final state when it changed one.
func (s *Store) FinishJob(ctx context.Context, node string, r api.JobResult) (api.JobState, bool, error) {
	var changed bool
	var final api.JobState
	err := s.tx(ctx, func(tx *sql.Tx) error {
		outcome := Outcome
		var spec, onNode string
		var state api.JobState
		var attempt, gang int
		err := tx.QueryRowContext(ctx, `SELECT spec, state, attempt, gang, node FROM jobs WHERE id = ?`, r.JobID).Scan(&spec, &state, &attempt, &gang, &onNode)
		if errors.Is(err, sql.ErrNoRows) || err == nil && (gang == 0 && onNode != node || r.Attempt != 0 && r.Attempt != attempt) {
			return nil // unknown, not on that node, or a stale try's result
		}
		if err != nil {
			return err
		}
		if state.Terminal() && gang == 0 {
			return nil // already final
		}
		var js api.JobSpec
		if err := json.Unmarshal([]byte(spec), &js); err != nil {
			return fmt.Errorf("job %d spec: %w", r.JobID, err)
		}
		if gang > 0 {
			// One part's end: recorded even after the gang ended (the
			// parts stopped with it report too).
			out, err := finishPart(ctx, tx, node, r.JobID, attempt, js, r)
			if err != nil || !out.final || state.Terminal() {
				return err
			}
			r = out.result
			outcome = func(api.JobSpec, api.JobResult) (api.JobState, string) { return out.state, out.reason }
		}
		// A job that ended before its node reported it running still ran:
		// its history says when it started.
		if state == api.StateStarting && !r.StartedAt.IsZero() && r.Error == "" {
			if err := recordEvent(ctx, tx, r.StartedAt, r.JobID, api.StateRunning, "started", node, node); err != nil {
				return err
			}
		}
		var reason string
		final, reason = outcome(js, r)
		if js.Retry.Retries(final, r) && attempt < js.Retry.Attempts {
			end := r.EndedAt
			if end.IsZero() {
				end = time.Now()
			}
			final = api.StateRunnable
			changed = true
			return retry(ctx, tx, r.JobID, attempt, js.Retry.Attempts, reason, node, end)
		}
		var start any
		if !r.StartedAt.IsZero() {
			start = r.StartedAt.UnixNano()
		}
		end := r.EndedAt
		if end.IsZero() {
			end = time.Now()
		}
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, start_ns = COALESCE(start_ns, ?), end_ns = ?,
			exit_code = ?, signal = ?, oom_killed = ?, peak_mem_bytes = ?, cpu_time_s = ? WHERE id = ?`,
			final, reason, start, end.UnixNano(), r.ExitCode, r.Signal, r.OOMKilled, r.PeakMemoryBytes, r.CPUTimeSeconds, r.JobID)
		if err != nil {
			return err
		}
		changed = true
		if err := recordEvent(ctx, tx, end, r.JobID, final, reason, node, node); err != nil {
			return err
		}
		var arrayID int64
		if err := tx.QueryRowContext(ctx, `SELECT array_id FROM jobs WHERE id = ?`, r.JobID).Scan(&arrayID); err != nil {
			return err
		}
		if arrayID != 0 {
			return settleArray(ctx, tx, arrayID, end)
		}
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("finish job %d: %w", r.JobID, err)
	}
	return final, changed, nil
}

// Outcome maps how a job ended on its node to its final state and reason.
func Outcome(spec api.JobSpec, r api.JobResult) (api.JobState, string) {
	switch {
	case r.Error != "":
		return api.StateFailed, "could not start: " + r.Error
	case r.Killed:
		return api.StateCancelled, "killed on request"
	case r.TimedOut:
		return api.StateTimeout, fmt.Sprintf("walltime %s reached", time.Duration(spec.WalltimeSeconds)*time.Second)
	case r.OOMKilled && r.ExitCode != 0:
		return api.StateFailed, fmt.Sprintf("memory limit %s exceeded (OOM kill)", api.FormatMemory(spec.MemoryBytes))
	case r.OOMKilled:
		return api.StateSucceeded, fmt.Sprintf("exited 0, but a process hit the memory limit %s (OOM kill)", api.FormatMemory(spec.MemoryBytes))
	case r.ExitCode == 0:
		return api.StateSucceeded, ""
	case r.Signal != "":
		return api.StateFailed, "killed by signal " + r.Signal
	default:
		return api.StateFailed, fmt.Sprintf("exited with code %d", r.ExitCode)
	}
}

// jobInTx reads job id inside tx, or returns ErrNotFound.
func jobInTx(ctx context.Context, tx *sql.Tx, id int64) (api.Job, error) {
	j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("job %d: %w", id, ErrNotFound)
	}
	return j, err
}

// RequestKill cancels job id: a PENDING job becomes CANCELLED at once; a
// job on a node is marked for killing (the node kills it and reports). It
// returns the job as it now is. Killing a finished job is an error.
func (s *Store) RequestKill(ctx context.Context, id int64, actor string, now time.Time) (api.Job, error) {
	var j api.Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = jobInTx(ctx, tx, id); err != nil {
			return err
		}
		switch {
		case j.State.Terminal():
			return fmt.Errorf("job %d has already ended (%s)", id, j.State)
		case j.Spec.Array != "":
			return cancelArray(ctx, tx, &j, actor, now)
		case j.State == api.StatePending || j.State == api.StateRunnable:
			j.State, j.Reason = api.StateCancelled, "cancelled before it started"
			end := now.UTC()
			j.EndTime = &end
			if _, err = tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, end_ns = ? WHERE id = ?`,
				j.State, j.Reason, now.UnixNano(), id); err != nil {
				return err
			}
			return recordEvent(ctx, tx, now, id, j.State, j.Reason, "", actor)
		default:
			j.KillRequested = true
			if _, err = tx.ExecContext(ctx, `UPDATE jobs SET kill_requested = 1 WHERE id = ?`, id); err != nil {
				return err
			}
			return recordEvent(ctx, tx, now, id, j.State, "kill requested", j.Node, actor)
		}
	})
	return j, err
}

// retry puts job id back in the queue for its next try after try attempt
// ended (why). The failed try stays in the event log.
func retry(ctx context.Context, tx *sql.Tx, id int64, attempt, attempts int, why, node string, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, attempt = ?, node = '', cpus_json = '[]', mem_bytes = 0,
		kill_requested = 0, gang = 0, released = 0, placed_ns = NULL, suspend_requested = 0, suspended = 0, preempted_by = 0, signal_req = '', gpus_json = '[]', start_ns = NULL, exit_code = NULL, signal = '', oom_killed = 0, peak_mem_bytes = 0, cpu_time_s = 0,
		reason = ? WHERE id = ?`, api.StateRunnable, attempt+1, fmt.Sprintf("retrying after: %s", why), id); err != nil {
		return err
	}
	return recordEvent(ctx, tx, now, id, api.StateRunnable,
		fmt.Sprintf("attempt %d of %d: %s; retrying", attempt, attempts, why), node, "scheduler")
}

// readRequests sets the queue and walltime of running[k], for each k of
// missing, from its job's spec: for jobs the store does not hold in
// memory yet (started since its last sync).
func (s *Store) readRequests(ctx context.Context, running []sched.Allocation, missing []int) error {
	at := map[int64][]int{} // a gang's parts share their job
	ids := make([]int64, 0, len(missing))
	for _, k := range missing {
		id := running[k].Job
		if _, seen := at[id]; !seen {
			ids = append(ids, id)
		}
		at[id] = append(at[id], k)
	}
	return inBatches(ids, func(args []any) error {
		rows, err := s.rdb.QueryContext(ctx, `SELECT id, json_remove(spec, '$.env') FROM jobs WHERE id IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return fmt.Errorf("job specs: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var raw string
			var spec api.JobSpec
			if err := rows.Scan(&id, &raw); err != nil {
				return err
			}
			if err := json.Unmarshal([]byte(raw), &spec); err != nil {
				return fmt.Errorf("job %d spec: %w", id, err)
			}
			for _, k := range at[id] {
				running[k].Queue, running[k].Walltime = spec.Queue, time.Duration(spec.WalltimeSeconds)*time.Second
			}
		}
		return rows.Err()
	})
}

// nonNil makes a nil slice an empty one, so it is stored as [].
func nonNil(v []int) []int {
	if v == nil {
		return []int{}
	}
	return v
}

// heldReason is the reason of a job submitted held, or "".
func heldReason(held bool, by string) string {
	if !held {
		return ""
	}
	return "held by " + by + " at submission"
}

// HostsFeaturePrefix starts the scheduler feature of a host list: a job
// limited to hosts (api.JobSpec.Hosts) needs the feature
// "hosts:NAME1,NAME2,..." (sorted), and the pass gives that feature to
// exactly the nodes named, so that any one of them will do.
const HostsFeaturePrefix = "hosts:"

// HostsFeature is the feature of host list hosts, "" for none.
func HostsFeature(hosts []string) string {
	if len(hosts) == 0 {
		return ""
	}
	sorted := slices.Clone(hosts)
	slices.Sort(sorted)
	return HostsFeaturePrefix + strings.Join(slices.Compact(sorted), ",")
}

// ReservationFeaturePrefix starts the scheduler feature of a job in an
// advance reservation, "rsv:ID": the server plans such jobs in a pass of
// their own, on the reservation's nodes, which have that feature there.
const ReservationFeaturePrefix = "rsv:"

// ReservationFeature is the feature of reservation id.
func ReservationFeature(id int64) string { return ReservationFeaturePrefix + strconv.FormatInt(id, 10) }
