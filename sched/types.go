package sched

import (
	"fmt"
	"strings"
	"time"
)

// Policy selects how a pass treats jobs that cannot start at once.
type Policy int

const (
	// EASY starts jobs in queue order until one does not fit, reserves
	// the earliest fit for that one (the head), and backfills later jobs
	// that fit now without delaying the head's reservation. It is the
	// zero value, and the live server's default.
	EASY Policy = iota
	// FCFS starts jobs in queue order and stops at the first that does not
	// fit: no job overtakes another.
	FCFS
	// Conservative gives every waiting job a reservation at its earliest
	// fit, in queue order; a job starts now only if its reservation is now.
	// No job can delay any job ahead of it.
	Conservative
)

var policyNames = [...]string{EASY: "easy", FCFS: "fcfs", Conservative: "conservative"}

func (p Policy) String() string {
	if p >= 0 && int(p) < len(policyNames) {
		return policyNames[p]
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// ParsePolicy reads a policy name: fcfs, easy or conservative.
func ParsePolicy(s string) (Policy, error) {
	for p, name := range policyNames {
		if strings.EqualFold(s, name) {
			return Policy(p), nil
		}
	}
	return 0, fmt.Errorf("unknown policy %q (want fcfs, easy or conservative)", s)
}

// Node is a node that can take jobs. Nodes that are down or drained are
// left out of the Snapshot by the caller.
type Node struct {
	Name string
	// CPUs are the allocatable CPU ids. A job started on the node gets the
	// lowest free ids.
	CPUs []int
	// Cores counts anonymous processors, used only when CPUs is empty: the
	// trace replayer's pool of identical processors has no ids.
	Cores int
	// MemoryBytes is the allocatable memory.
	MemoryBytes int64
}

// Job is a pending job's request.
type Job struct {
	ID int64
	// Cores is the number of CPUs the job needs on one node; 0 means 1.
	Cores       int
	MemoryBytes int64
	// Walltime is the job's run-time estimate (its limit). Zero means
	// unknown: for reservations the job then holds what it takes forever,
	// so it can only backfill onto resources no reservation ever needs.
	Walltime time.Duration
}

// Allocation is a job's hold on one node: exact CPU ids (on a node that has
// ids; Cores otherwise) and memory. In a Snapshot it describes a running
// job; in a Plan, a job to start now.
type Allocation struct {
	Job  int64
	Node string
	CPUs []int
	// Cores is the number of anonymous processors held; ignored when CPUs
	// is set (len(CPUs) counts then).
	Cores       int
	MemoryBytes int64
	// Start is when the job started. The zero time means "not yet" (a
	// job placed but still starting): it counts as starting now.
	Start time.Time
	// Walltime is the job's limit; its expected end is Start+Walltime.
	// Zero means no limit: the job is never expected to end, so nothing
	// is reserved on what it holds. A job past its expected end (it
	// over-runs its estimate) is expected to end OverrunGrace after now.
	Walltime time.Duration
}

// OverrunGrace is how soon a running job that is past its expected end is
// expected to end: any moment now, but not at now itself, since it still
// holds its resources.
const OverrunGrace = time.Second

// Reservation holds resources on one node for a pending job from Start to
// End (the zero End: open-ended, the job has no walltime).
type Reservation struct {
	Job         int64
	Node        string
	Start, End  time.Time
	Cores       int
	MemoryBytes int64
}

// Snapshot is an immutable view of the cluster at Now. Nodes are in a
// stable order (by name); Pending is in priority order. Schedule only reads
// it.
type Snapshot struct {
	Now     time.Time
	Policy  Policy
	Nodes   []Node
	Running []Allocation
	Pending []Job
	// Reservations are held over from the previous pass's Plan
	// (Conservative only; the other policies recompute their one
	// reservation every pass and ignore these). A held reservation that is
	// still valid (not in the past, on a node that is there, not in
	// conflict with running jobs or earlier reservations) is kept where it
	// is; jobs without one are placed around the kept ones, in queue
	// order. The live server holds nothing over, so every pass places
	// every job afresh; the trace replayer carries them, which gives the
	// literature's conservative backfill.
	Reservations []Reservation
	// Compress asks Conservative to move every kept reservation once, in
	// queue order, to its earliest fit, before placing the jobs that have
	// none: the replayer sets it when a job ended before its estimate.
	Compress bool
	// Quiet leaves out the per-job explanations (Plan.Waiting and
	// Plan.Waits); the replayer needs only starts and reservations.
	Quiet bool
}

// Reason says why a pending job did not start.
type Reason int

const (
	// ReasonResources: the resources it needs are held by running jobs
	// (or reserved for jobs ahead of it). Its Wait carries the predicted
	// start when the policy reserved one.
	ReasonResources Reason = iota + 1
	// ReasonPriority: it would fit now, or soon, but starting it would
	// delay a reservation of a job ahead of it (or FCFS keeps it behind
	// a blocked job).
	ReasonPriority
	// ReasonTooLarge: no node is large enough, even empty.
	ReasonTooLarge
	// ReasonNoNodes: no node is up.
	ReasonNoNodes
)

// Wait is one pending job's outcome when it does not start.
type Wait struct {
	Job    int64
	Reason Reason
	// Start is the predicted start, the zero time when unknown (EASY and
	// FCFS predict only the head job's; Conservative predicts every
	// job's). Node is where it is reserved.
	Start time.Time
	Node  string
}

// Plan is Schedule's whole output. The caller commits Starts in one
// transaction, or drops the Plan and schedules again from a fresh Snapshot.
type Plan struct {
	// Starts are the jobs to start now, in queue order.
	Starts []Allocation
	// Reservations are held for jobs that wait, in queue order: the head
	// job's for EASY and FCFS, every placeable job's for Conservative.
	Reservations []Reservation
	// Waits says, for each pending job not started, why, and when it is
	// expected to start, in queue order. Empty when Snapshot.Quiet.
	Waits []Wait
	// Waiting is the text of each waiting job's reason, as the store
	// records it. Empty when Snapshot.Quiet.
	Waiting map[int64]string
}

// explain renders a wait's reason for a human.
func explain(r Reason, cores int, mem int64) string {
	switch r {
	case ReasonNoNodes:
		return "no node is up"
	case ReasonTooLarge:
		return fmt.Sprintf("no node is large enough: %d cores, %s memory requested", cores, memString(mem))
	case ReasonPriority:
		return fmt.Sprintf("waiting for resources: %d cores, %s memory (behind higher-priority jobs)", cores, memString(mem))
	default:
		return fmt.Sprintf("waiting for resources: %d cores, %s memory", cores, memString(mem))
	}
}

func memString(b int64) string {
	if b == 0 {
		return "no"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}
