package sched

import (
	"fmt"
	"math"
	"slices"
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

// NodeState is a node's administrative and health state. Only an up node
// takes new work; the others keep their running jobs (a draining node) or
// have none (drained, down).
type NodeState int

const (
	// NodeUp takes jobs. It is the zero value.
	NodeUp NodeState = iota
	// NodeDraining runs what it has and takes nothing new.
	NodeDraining
	// NodeDrained is idle and takes nothing new.
	NodeDrained
	// NodeDown is unreachable.
	NodeDown
)

var nodeStateNames = [...]string{NodeUp: "up", NodeDraining: "draining", NodeDrained: "drained", NodeDown: "down"}

func (s NodeState) String() string {
	if s >= 0 && int(s) < len(nodeStateNames) {
		return nodeStateNames[s]
	}
	return fmt.Sprintf("NodeState(%d)", int(s))
}

// Node is a node of the cluster. Nodes that are not up (State) still hold
// their running jobs but take no new work; the caller may also leave
// them out.
type Node struct {
	Name string
	// CPUs are the allocatable CPU ids. A job started on the node gets
	// free ids, those on its GPUs' NUMA nodes first (see NUMA).
	CPUs []int
	// Cores counts anonymous processors, used only when CPUs is empty: the
	// trace replayer's pool of identical processors has no ids.
	Cores int
	// MemoryBytes is the allocatable memory.
	MemoryBytes int64
	// GPUs are the node's GPUs, with their topology. A job gets specific
	// GPUs (by Index), chosen for NVLink connectivity and NUMA locality.
	GPUs []GPU
	// NUMA maps CPU ids to NUMA nodes (and sockets). CPUs it does not
	// list are on no known NUMA node. Empty: no topology is known.
	NUMA []NUMANode
	// Features are labels a job may require (Job.Features): "ib",
	// "avx512", "rack=r12".
	Features []string
	// Weight is the node's cost: among nodes that fit, the cheapest
	// (lowest weight) are used first, as AWS Batch's best fit takes the
	// cheapest instance type. Equal weights keep snapshot order.
	Weight int
	// Switch and Rack are optional topology labels: a multi-node job is
	// placed within as few switches (else racks) as possible.
	Switch, Rack string
	// State: only NodeUp takes new jobs.
	State NodeState
}

// GPU is one GPU of a node, as package gpu discovers it (gpu.Device): the
// server copies Index, Model, MemoryMiB, NUMANode and the NVLink counts of
// Links. sched does not import package gpu, so that it builds without cgo.
type GPU struct {
	// Index is the node-local index a job is given (Allocation.GPUs).
	Index     int
	Model     string
	MemoryMiB int64
	// NUMANode is the host NUMA node closest to the GPU; -1 unknown.
	NUMANode int
	// Links are this GPU's NVLink connections: peers not listed are
	// reached over PCIe only.
	Links []GPULink
}

// GPULink is an NVLink connection to a peer GPU of the same node (direct
// or through NVSwitches).
type GPULink struct {
	Peer    int // the peer's Index
	NVLinks int // active links; more is better
}

// NUMANode is one NUMA node of a host: its CPU ids and its socket.
type NUMANode struct {
	ID     int
	Socket int
	CPUs   []int
}

// Job is a pending job's request. A job is Tasks tasks, each needing
// Cores CPUs, MemoryBytes of memory and GPUs GPUs on one node; its span
// says how tasks go onto nodes:
//
//   - neither TasksPerNode nor Nodes: all tasks on one node;
//   - TasksPerNode P: P tasks per node (the last node takes the rest),
//     on ceil(Tasks/P) nodes;
//   - Nodes K: exactly K nodes, tasks spread as evenly as possible;
//   - both: exactly K nodes of P tasks (Tasks, if set, must be K×P).
//
// A job on several nodes is a gang: it starts on all of them at once or
// not at all, and its reservation holds all of them over the same window.
//
// A server holds a Job for every waiting job (a million of them, for a
// long queue), so it is kept small: counts are 32 bits, times are Stamps
// (8 bytes, not a time.Time's 24), and the flags sit together.
type Job struct {
	ID int64
	// Cores is the number of CPUs each task needs; 0 means 1.
	Cores int32
	// GPUs is the number of GPUs each task needs, of model GPUModel (a
	// case-insensitive substring of GPU.Model, "" any) with at least
	// GPUMemoryMiB each.
	GPUs int32
	// Tasks (0 means 1), TasksPerNode and Nodes: the span, see above.
	Tasks        int32
	TasksPerNode int32
	Nodes        int32
	// Exclusive takes whole nodes: all their CPUs, memory and GPUs.
	Exclusive bool
	// Eligibility. A held job, one whose dependency is not satisfied, or
	// one whose Begin is after now does not start; it keeps its reason.
	// (The server may also leave such jobs out of the Snapshot.)
	Held       bool
	Dependency bool
	Begin      Stamp
	// MemoryBytes is the memory each task needs.
	MemoryBytes int64
	// GPUMemoryMiB and GPUModel narrow the GPUs: see GPUs.
	GPUMemoryMiB int64
	GPUModel     string
	// Features must all be among a node's Features.
	Features []string
	// Walltime is the job's run-time estimate (its limit). Zero means
	// unknown: for reservations the job then holds what it takes forever,
	// so it can only backfill onto resources no reservation ever needs.
	Walltime time.Duration
	// Queue, User and Group: for priority (Snapshot.Priority), limits and
	// preemption (Snapshot.Queues).
	Queue, User, Group string
	// Submit is when the job was submitted: its age for priority (the
	// zero Stamp: no age).
	Submit Stamp
	// Boost is an administrator's priority boost, added as is.
	Boost int64
}

// Count32 is n as one of a Job's counts (Cores, GPUs, Tasks,
// TasksPerNode, Nodes): beyond the int32 range it saturates, so that an
// absurd request stays too large instead of wrapping around.
func Count32(n int) int32 {
	return int32(min(max(n, math.MinInt32), math.MaxInt32))
}

// Stamp is an instant as nanoseconds since the Unix epoch
// (time.Time.UnixNano): the compact form of a Job's times. The zero Stamp
// means "none", as the zero time.Time does; StampOf and Time convert
// between the two, each zero to the other.
type Stamp int64

// StampOf returns t as a Stamp; the zero time.Time gives the zero Stamp.
// Instants outside the years 1678 to 2262 saturate.
func StampOf(t time.Time) Stamp {
	if t.IsZero() {
		return 0
	}
	switch {
	case t.Before(minStamp):
		return math.MinInt64
	case t.After(maxStamp):
		return math.MaxInt64
	}
	return Stamp(t.UnixNano())
}

var minStamp, maxStamp = time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)

// Time returns s as a time.Time; the zero Stamp gives the zero time.Time.
func (s Stamp) Time() time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(s))
}

// Allocation is a job's hold on one node: exact CPU ids (on a node that has
// ids; Cores otherwise), memory and GPU indices. A job on several nodes has
// one Allocation per node. In a Snapshot it describes a running job; in a
// Plan, a job to start now.
type Allocation struct {
	Job  int64
	Node string
	CPUs []int
	// Cores is the number of anonymous processors held; ignored when CPUs
	// is set (len(CPUs) counts then).
	Cores       int
	MemoryBytes int64
	// GPUs are the node-local GPU indices held.
	GPUs []int
	// Tasks is how many of the job's tasks run on this node (Plan only).
	Tasks int
	// Start is when the job started. The zero time means "not yet" (a
	// job placed but still starting): it counts as starting now.
	Start time.Time
	// Walltime is the job's limit; its expected end is Start+Walltime.
	// Zero means no limit: the job is never expected to end, so nothing
	// is reserved on what it holds. A job past its expected end (it
	// over-runs its estimate) is expected to end OverrunGrace after now.
	Walltime time.Duration
	// Queue and User, for preemption and per-user limits.
	Queue, User string
	// Suspended: the job is frozen (preempted with suspend). It holds its
	// memory, not its CPUs or GPUs, until it is resumed, so it never
	// gives the memory back in the plan's view.
	Suspended bool
}

// OverrunGrace is how soon a running job that is past its expected end is
// expected to end: any moment now, but not at now itself, since it still
// holds its resources.
const OverrunGrace = time.Second

// Reservation holds resources on one node for a pending job from Start to
// End (the zero End: open-ended, the job has no walltime). A gang has one
// per node, all over the same window.
type Reservation struct {
	Job         int64
	Node        string
	Start, End  time.Time
	Cores       int
	MemoryBytes int64
	GPUs        int
}

// Window takes nodes out of service from Start to End (the zero End: for
// ever): a maintenance window, or a drain deadline (Start the deadline,
// End zero). No job is started or reserved on those nodes if its
// walltime would cross Start; a job without a walltime never starts on
// a node with a window ahead. Running jobs are not touched.
type Window struct {
	Name string
	// Nodes are the node names; empty means every node.
	Nodes      []string
	Start, End time.Time
}

// Queue is what the engine needs of a queue: its priority, per-user
// limits on what runs at once, and whom it may preempt.
type Queue struct {
	Name     string
	Priority int
	// Per-user limits in this queue (0: none), over running and
	// started jobs.
	MaxRunningPerUser, MaxCoresPerUser, MaxGPUsPerUser int
	// Preempts names the queues whose running jobs this queue's jobs may
	// preempt when they cannot start otherwise; PreemptMode is what
	// happens to a victim.
	Preempts    []string
	PreemptMode PreemptAction
	// Features are the queue's node selector: its jobs run only on nodes
	// that have these as well as their own Job.Features.
	Features []string
}

// PreemptAction is what happens to a preempted job.
type PreemptAction int

const (
	// Requeue kills the victim and puts it back in the queue.
	Requeue PreemptAction = iota
	// Suspend freezes the victim: it keeps its memory.
	Suspend
)

func (a PreemptAction) String() string {
	if a == Suspend {
		return "suspend"
	}
	return "requeue"
}

// Preemption is a running job the plan stops so that By can start: on all
// its nodes at once.
type Preemption struct {
	Job    int64
	Nodes  []string
	Action PreemptAction
	By     int64
	// Lost is the victim's elapsed run time, the work lost if requeued.
	Lost time.Duration
}

// Snapshot is an immutable view of the cluster at Now. Nodes are in a
// stable order (by name); Pending is in priority order (unless Priority is
// set, which orders it). Schedule only reads it, and the jobs Pending
// points to.
type Snapshot struct {
	Now     time.Time
	Policy  Policy
	Nodes   []Node
	Running []Allocation
	// Pending are the waiting jobs, by pointer: a server hands the pass
	// the Jobs it holds anyway instead of a copy of each (a million jobs
	// are hundreds of megabytes). They must not change while Schedule
	// runs, and a pass never changes them. A nil entry is not allowed.
	Pending []*Job
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
	// NoWaits leaves out Plan.Waits but keeps Plan.Waiting: a server
	// records the text only (about 90 bytes a waiting job less).
	NoWaits bool
	// Windows are maintenance windows and drain deadlines.
	Windows []Window
	// Queues by name: priorities, limits, preemption. A job whose queue
	// is not listed has priority 0, no limits, and preempts nothing.
	Queues []Queue
	// Priority, when set, orders Pending by the multifactor priority
	// (see Prioritize) instead of taking it as given.
	Priority *PriorityConfig
}

// Reason says why a pending job did not start.
type Reason int

const (
	// ReasonResources: the resources it needs are held by running jobs
	// (or reserved for jobs ahead of it). Its Wait carries the predicted
	// start when the policy reserved one.
	ReasonResources Reason = iota + 1
	// ReasonPriority: it would fit now, or soon, but starting it would
	// delay a reservation of a job ahead of it (Wait.BlockedBy, when
	// known), or FCFS keeps it behind a blocked job.
	ReasonPriority
	// ReasonTooLarge: no node is large enough, even empty (or has the
	// GPUs or features it asks for, or enough such nodes for its span).
	ReasonTooLarge
	// ReasonNoNodes: no node is up.
	ReasonNoNodes
	// ReasonHeld: the job is held.
	ReasonHeld
	// ReasonDependency: its dependency is not satisfied yet.
	ReasonDependency
	// ReasonBeginTime: its begin time has not come (Wait.Start).
	ReasonBeginTime
	// ReasonLimit: a per-user limit of its queue.
	ReasonLimit
	// ReasonDrained: only nodes that are not up (draining, drained,
	// down) could ever hold it.
	ReasonDrained
	// ReasonMaintenance: it would fit now, but its walltime crosses a
	// maintenance window or drain deadline on the nodes that fit.
	ReasonMaintenance
	// ReasonInvalid: its span is inconsistent (Tasks, TasksPerNode and
	// Nodes disagree).
	ReasonInvalid
)

var reasonNames = [...]string{ReasonResources: "resources", ReasonPriority: "priority", ReasonTooLarge: "too-large",
	ReasonNoNodes: "no-nodes", ReasonHeld: "held", ReasonDependency: "dependency", ReasonBeginTime: "begin-time",
	ReasonLimit: "limit", ReasonDrained: "nodes-drained", ReasonMaintenance: "maintenance", ReasonInvalid: "invalid"}

func (r Reason) String() string {
	if r > 0 && int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("Reason(%d)", int(r))
}

// Wait is one pending job's outcome when it does not start.
type Wait struct {
	Job    int64
	Reason Reason
	// Start is the predicted start, the zero time when unknown (EASY and
	// FCFS predict only the head job's; Conservative predicts every
	// job's). Node is where it is reserved (the first node of a gang,
	// whose nodes are all in Nodes).
	Start time.Time
	Node  string
	Nodes []string
	// BlockedBy is the job whose reservation keeps this one from
	// starting now (ReasonPriority), 0 if none or unknown.
	BlockedBy int64
}

// Plan is Schedule's whole output. The caller commits Starts in one
// transaction, or drops the Plan and schedules again from a fresh Snapshot.
type Plan struct {
	// Starts are the jobs to start now, in queue order; a job on several
	// nodes has one Allocation per node, consecutive.
	Starts []Allocation
	// Reservations are held for jobs that wait, in queue order: the head
	// job's for EASY and FCFS, every placeable job's for Conservative.
	// A gang has one per node, consecutive.
	Reservations []Reservation
	// Waits says, for each pending job not started, why, and when it is
	// expected to start, in queue order. Empty when Snapshot.Quiet.
	Waits []Wait
	// Waiting is the text of each waiting job's reason, as the store
	// records it, in queue order. Empty when Snapshot.Quiet. (A slice,
	// not a map by job: at a million waiting jobs a map took 49 MB, this
	// takes 24.)
	Waiting []JobReason
	// Preemptions are the running jobs to stop (requeue or suspend)
	// before Starts can run, in the order decided.
	Preemptions []Preemption
	// Priorities are each pending job's priority and its factors, in the
	// order used, when Snapshot.Priority is set.
	Priorities []JobPriority
}

// JobReason is why a job waits, in words.
type JobReason struct {
	Job    int64
	Reason string
}

// explain renders a wait's reason for a human. g is the job's shape.
func explain(w *Wait, g *gang) string {
	what := resourceText(&g.total, g.n)
	switch w.Reason {
	case ReasonNoNodes:
		return "no node is up"
	case ReasonTooLarge:
		if g.unmatched {
			return fmt.Sprintf("no node has what it selects (%s): %s requested", featureText(append(slices.Clip(g.job.Features), g.sel...)), what)
		}
		return fmt.Sprintf("no node is large enough: %s requested", what)
	case ReasonPriority:
		if w.BlockedBy != 0 {
			return fmt.Sprintf("waiting for resources: %s (reservation held for job %d)", what, w.BlockedBy)
		}
		return fmt.Sprintf("waiting for resources: %s (behind higher-priority jobs)", what)
	case ReasonHeld:
		return "held"
	case ReasonDependency:
		return "waiting for a dependency"
	case ReasonBeginTime:
		return "waiting for its begin time " + w.Start.UTC().Format(time.RFC3339)
	case ReasonLimit:
		return "waiting for a queue or user limit: " + g.limit
	case ReasonDrained:
		return fmt.Sprintf("the nodes that could hold it are drained or down: %s requested", what)
	case ReasonMaintenance:
		return fmt.Sprintf("waiting for a maintenance window to pass: %s requested", what)
	case ReasonInvalid:
		return "invalid request: " + g.invalid
	default:
		return fmt.Sprintf("waiting for resources: %s", what)
	}
}

// resourceText renders what a job asks for, in all, for its reason:
// "1 core", "8 cores, 64 GiB memory, 2 GPUs on 4 nodes". Memory is left
// out when the job sets no limit.
func resourceText(total *vec, nodes int) string {
	plural := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	what := plural(total[resCores], "core")
	switch m := total[resMemory]; {
	case m <= 0:
	case m%(1<<30) == 0:
		what += fmt.Sprintf(", %d GiB memory", m>>30)
	default:
		what += fmt.Sprintf(", %d MiB memory", (m+1<<20-1)>>20)
	}
	if total[resGPUs] > 0 {
		what += ", " + plural(total[resGPUs], "GPU")
	}
	if nodes > 1 {
		what += fmt.Sprintf(" on %d nodes", nodes)
	}
	return what
}

// featureText renders a job's required features for its reason: node
// labels as they are ("kind=gpu", "ib"), a host list as "one of HOSTS".
func featureText(fs []string) string {
	out := make([]string, len(fs))
	for i, f := range fs {
		if hosts, ok := strings.CutPrefix(f, "hosts:"); ok {
			f = "one of " + hosts
		}
		out[i] = f
	}
	return strings.Join(out, ", ")
}
