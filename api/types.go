package api

import (
	"encoding/json"
	"slices"
	"time"
)

// JobState is where a job is in its life. The terminal states are
// SUCCEEDED, FAILED, CANCELLED, TIMEOUT and NODE_FAIL.
type JobState string

// Job states, as AWS Batch names them (LSF's PEND/RUN/DONE/EXIT are shown by
// the LSF-compatible commands).
const (
	// StatePending: accepted, but not yet eligible to run: held, before
	// its begin time, or waiting on a dependency (Reason says which).
	StatePending JobState = "PENDING"
	// StateRunnable: eligible, waiting for resources.
	StateRunnable JobState = "RUNNABLE"
	// StateStarting: placed on a node; the node daemon has not yet
	// confirmed it runs.
	StateStarting JobState = "STARTING"
	// StateRunning: the node daemon reported the job's container running.
	StateRunning JobState = "RUNNING"
	// StateSucceeded: exited with code 0.
	StateSucceeded JobState = "SUCCEEDED"
	// StateFailed: exited non-zero, was killed by a signal, by its memory
	// limit, or could not start.
	StateFailed JobState = "FAILED"
	// StateCancelled: killed or withdrawn on request.
	StateCancelled JobState = "CANCELLED"
	// StateTimeout: killed at its walltime.
	StateTimeout JobState = "TIMEOUT"
	// StateNodeFail: its node was lost while it ran.
	StateNodeFail JobState = "NODE_FAIL"
)

// Terminal reports whether s is a final state.
func (s JobState) Terminal() bool {
	switch s {
	case StateSucceeded, StateFailed, StateCancelled, StateTimeout, StateNodeFail:
		return true
	}
	return false
}

// Valid reports whether s is one of the states above.
func (s JobState) Valid() bool {
	switch s {
	case StatePending, StateRunnable, StateStarting, StateRunning:
		return true
	}
	return s.Terminal()
}

// JobSpec is what a user asks for: the body of POST /v1/jobs.
type JobSpec struct {
	// Name is a free label (bsub -J); empty means the command's base name.
	Name string `json:"name,omitempty"`
	// Queue is the queue to submit to; empty means the default queue.
	Queue string `json:"queue,omitempty"`
	// Command is the argv to run; it must not be empty.
	Command []string `json:"command"`
	// Env is the job's environment (KEY=VALUE), normally the submitter's.
	Env []string `json:"env,omitempty"`
	// Cwd is the absolute submit directory; the job starts there.
	Cwd string `json:"cwd"`
	// Stdout and Stderr are output paths, absolute or relative to Cwd,
	// where %J stands for the job id. Empty Stdout means
	// "gantry-%J.out"; empty Stderr means the same file as Stdout.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	// AppendStdout and AppendStderr append to the output files (bsub -o,
	// -e) instead of overwriting them (bsub -oo, -eo; gantry sub -o).
	AppendStdout bool `json:"append_stdout,omitempty"`
	AppendStderr bool `json:"append_stderr,omitempty"`
	// Cores is the number of CPU cores (bsub -n); 0 means 1.
	Cores int `json:"cores,omitempty"`
	// NumGPUs is the number of GPUs, on the same node (gantry sub --gpus,
	// bsub -gpu num=N).
	NumGPUs int `json:"num_gpus,omitempty"`
	// SubmitToken, when set, makes the submission idempotent: a second
	// submission by the same user with the same token returns the first
	// one's id instead of a new job. Clients set a fresh token per job
	// (unique to the user; one that grows with time is indexed more
	// cheaply) and reuse it when they retry, so a submission whose answer
	// was lost (a server crash) is never made twice.
	SubmitToken string `json:"submit_token,omitempty"`
	// MemoryBytes is the memory limit (bsub -M); 0 means no limit.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// WalltimeSeconds is the run-time limit (bsub -W); 0 means none.
	WalltimeSeconds int64 `json:"walltime_seconds,omitempty"`
	// Hold submits the job held (bsub -H): it stays PENDING until
	// released.
	Hold bool `json:"hold,omitempty"`
	// BeginTime, when set, is the earliest time the job may start
	// (bsub -b).
	BeginTime *time.Time `json:"begin_time,omitempty"`
	// Dependency is an LSF dependency expression (bsub -w), e.g.
	// "done(42) && ended(prep*)"; see package depend.
	Dependency string `json:"dependency,omitempty"`
	// CancelOnUnsatisfiable cancels the job as soon as its dependency can
	// never be satisfied; otherwise it stays PENDING with that reason.
	CancelOnUnsatisfiable bool `json:"cancel_on_unsatisfiable,omitempty"`
	// Array, when set, makes this a job array: an index list such as
	// "1-1000:2,2000" (bsub -J "name[1-1000:2,2000]"; see ParseArray).
	// Each index becomes an element run with the same spec; %I in output
	// paths is its index.
	Array string `json:"array,omitempty"`
	// ArrayThrottle caps how many elements run at once (bsub's %N); 0
	// means no cap.
	ArrayThrottle int `json:"array_throttle,omitempty"`
	// SubmitHost is the host the job was submitted from (LSB_SUB_HOST,
	// bjobs' FROM_HOST), as the submitting client reports it.
	SubmitHost string `json:"submit_host,omitempty"`
	// Resources is the canonical LSF resource requirement (bsub -R) and
	// GPUs the canonical GPU requirement (bsub -gpu). The scheduler
	// records and shows them; what it enforces of them is mapped onto the
	// fields above (cores, memory) by the client.
	Resources string `json:"resources,omitempty"`
	GPUs      string `json:"gpus,omitempty"`
	// Retry, when set, runs the job again after a failure, as AWS Batch's
	// retry strategy does.
	Retry *RetryStrategy `json:"retry,omitempty"`

	// Reservation, when set, runs the job in that advance reservation
	// (bsub -U ID): on its nodes, within its window, which its walltime
	// must fit. Its user must be among the reservation's.
	Reservation int64 `json:"reservation,omitempty"`

	// Labels are node labels the job needs, each "KEY=VALUE" or "KEY"
	// (the label with any value): from bsub -R "select[...]", sbatch
	// --constraint, gantry sub --label.
	Labels []string `json:"labels,omitempty"`

	// Hosts, when set, are the only nodes the job may run on, by name
	// (bsub -m, gantry sub -m); any one of them will do.
	Hosts []string `json:"hosts,omitempty"`

	// Image, when set, is the OCI image the job runs in instead of the
	// node's root filesystem (gantry sub --image, sbatch
	// --container-image): a registry reference (python:3.12,
	// registry.example.org/ml/torch:2.4), oci:PATH[:TAG] (an OCI layout)
	// or oci-archive:PATH[:TAG]. Each node pulls and unpacks it once per
	// digest.
	Image string `json:"image,omitempty"`

	// Exclusive gives the job whole nodes (bsub -x, sbatch --exclusive):
	// all their CPUs, memory and GPUs, whatever it asks for, and no other
	// job beside it.
	Exclusive bool `json:"exclusive,omitempty"`

	// TTY, when set, makes the job interactive (bsub -I: "line"; -Is,
	// -Ip: "raw"): its stdin, stdout and stderr are a terminal on its
	// node, which the submitting client attaches to (GET
	// /v1/jobs/{id}/tty). Its output also goes to Stdout.
	TTY string `json:"tty,omitempty"`

	// Nodes, when more than 1, makes the job a gang over exactly that
	// many nodes (gantry sub --nodes, bsub -n with span[ptile=N], sbatch
	// -N). Its command runs on every node, all parts start together once
	// every node has prepared its part, each part knows its peers (see
	// docs/jobs.md for the environment), and the parts end together: one
	// that fails, or whose node is lost, ends all of them. For a gang,
	// Cores, NumGPUs and MemoryBytes are per node.
	Nodes int `json:"nodes,omitempty"`
	// TasksPerNode is how many tasks (processes) run on each node, as the
	// environment tells the job (NPROC_PER_NODE, LOCAL_WORLD_SIZE,
	// SLURM_NTASKS_PER_NODE); 0 means 1, or one per GPU with TasksPerGPU.
	TasksPerNode int `json:"tasks_per_node,omitempty"`
	// Tasks is the whole job's task count (WORLD_SIZE); 0 means Nodes ×
	// TasksPerNode. It may be less: the last node then runs fewer (bsub
	// -n 10 with span[ptile=4] runs 4, 4 and 2 tasks).
	Tasks int `json:"tasks,omitempty"`
	// TasksPerGPU, when 1, starts the command once per GPU of each node
	// instead of once per node, each process with its RANK and LOCAL_RANK
	// (as srun or torchrun would); a process that fails ends the others.
	TasksPerGPU int `json:"tasks_per_gpu,omitempty"`
}

// Gang reports whether the job spans several nodes.
func (s *JobSpec) Gang() bool { return s.Nodes > 1 }

// Distributed reports whether the job's processes are told their ranks
// and rendezvous (MASTER_ADDR, WORLD_SIZE, RANK, ...): a gang, or a
// one-node job that asked for nodes or tasks (--nodes 1, --task-per-gpu,
// --tasks-per-node).
func (s *JobSpec) Distributed() bool {
	return s.Nodes > 0 || s.TasksPerGPU > 0 || s.TasksPerNode > 0
}

// NodeTasks returns how many tasks run on each node.
func (s *JobSpec) NodeTasks() int {
	switch {
	case s.TasksPerNode > 0:
		return s.TasksPerNode
	case s.TasksPerGPU > 0 && s.NumGPUs > 0:
		return s.NumGPUs
	}
	return 1
}

// TotalTasks returns the job's task count over all its nodes.
func (s *JobSpec) TotalTasks() int {
	if s.Tasks > 0 {
		return s.Tasks
	}
	return max(s.Nodes, 1) * s.NodeTasks()
}

// TasksOnRank returns how many tasks the part of rank r runs: NodeTasks,
// less on the last node when Tasks leaves it fewer.
func (s *JobSpec) TasksOnRank(r int) int {
	per := s.NodeTasks()
	return max(min(per, s.TotalTasks()-r*per), 0)
}

// MaxAttempts bounds RetryStrategy.Attempts.
const MaxAttempts = 10

// RetryStrategy says how often a job is tried and after which failures it
// is tried again. With no condition, any failure is retried (a non-zero
// exit, a signal, an OOM kill, a lost node), but not a cancellation or a
// walltime. With conditions, only the failures they name are retried.
type RetryStrategy struct {
	// Attempts is the total number of tries, 1 to MaxAttempts.
	Attempts int `json:"attempts"`
	// ExitCodes retries on these exit codes.
	ExitCodes []int `json:"exit_codes,omitempty"`
	// Signals retries when the job was killed by one of these signals
	// ("SIGKILL").
	Signals []string `json:"signals,omitempty"`
	// NodeFailure retries when the job's node was lost.
	NodeFailure bool `json:"node_failure,omitempty"`
}

// Retries reports whether a try that ended in state with result r should
// be tried again (attempts permitting).
func (rs *RetryStrategy) Retries(state JobState, r JobResult) bool {
	if rs == nil || (state != StateFailed && state != StateNodeFail) {
		return false
	}
	if len(rs.ExitCodes) == 0 && len(rs.Signals) == 0 && !rs.NodeFailure {
		return true
	}
	if state == StateNodeFail {
		return rs.NodeFailure
	}
	if r.Signal != "" {
		return slices.Contains(rs.Signals, r.Signal)
	}
	return slices.Contains(rs.ExitCodes, r.ExitCode)
}

// JobPart is one node's part of a gang (a job over several nodes), in its
// current try.
type JobPart struct {
	Rank int    `json:"rank"`
	Node string `json:"node"`
	// Address is where the part's peers reach it: its node's address,
	// else its host name.
	Address string `json:"address,omitempty"`
	// Port is the rendezvous port the first part's node chose
	// (MASTER_PORT); rank 0 only.
	Port int   `json:"port,omitempty"`
	CPUs []int `json:"cpus,omitempty"`
	GPUs []int `json:"gpus,omitempty"`
	// Ready: the node has prepared the part and waits for the others.
	Ready bool `json:"ready,omitempty"`
	// StartTime and EndTime bracket the part's run; ExitCode and Signal
	// say how it ended.
	StartTime *time.Time `json:"start_time,omitempty"`
	EndTime   *time.Time `json:"end_time,omitempty"`
	ExitCode  *int       `json:"exit_code,omitempty"`
	Signal    string     `json:"signal,omitempty"`
	// PeakMemoryBytes and CPUTimeSeconds are the part's own.
	PeakMemoryBytes int64   `json:"peak_memory_bytes,omitempty"`
	CPUTimeSeconds  float64 `json:"cpu_time_seconds,omitempty"`
}

// Job is a job as the server knows it: GET /v1/jobs/{id}.
type Job struct {
	ID    int64    `json:"id"`
	Spec  JobSpec  `json:"spec"`
	State JobState `json:"state"`
	// Reason says why the job waits (PENDING) or how it ended, e.g.
	// "memory limit 64.0MiB exceeded (OOM kill)".
	Reason string `json:"reason,omitempty"`

	// User, UID, GID and Groups identify the submitter; the job runs as
	// this identity.
	User   string   `json:"user"`
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`

	SubmitTime time.Time  `json:"submit_time"`
	StartTime  *time.Time `json:"start_time,omitempty"`
	EndTime    *time.Time `json:"end_time,omitempty"`

	// Node, CPUs and GPUs are the allocation, set once the job is
	// placed; GPUs are node-local indices. For a gang they are its first
	// part's (rank 0), and Parts lists every part.
	Node  string    `json:"node,omitempty"`
	CPUs  []int     `json:"cpus,omitempty"`
	GPUs  []int     `json:"gpus,omitempty"`
	Parts []JobPart `json:"parts,omitempty"`

	// KillRequested is set by a kill while the job is on a node.
	KillRequested bool `json:"kill_requested,omitempty"`
	// Held is set while the job is held (gantry hold, bsub -H).
	Held bool `json:"held,omitempty"`
	// SuspendRequested is set by gantry suspend (bstop) on a running job
	// and cleared by gantry continue (bresume); Suspended says whether its
	// node reports it frozen. A suspended job keeps its allocation and its
	// walltime clock stops.
	SuspendRequested bool `json:"suspend_requested,omitempty"`
	Suspended        bool `json:"suspended,omitempty"`

	// Attempt is the current try, from 1 (see JobSpec.Retry).
	Attempt int `json:"attempt,omitempty"`

	// Priority is a waiting job's priority at the last scheduling pass,
	// with its factors (each from 0 to 1 before weighting).
	Priority *JobPriority `json:"priority,omitempty"`

	// ArrayID and ArrayIndex identify an array element: the array's job
	// id and the element's index (both 0 for other jobs). An element is
	// addressed as "ArrayID[ArrayIndex]".
	ArrayID    int64 `json:"array_id,omitempty"`
	ArrayIndex int64 `json:"array_index,omitempty"`
	// Elements counts an array's elements by state (arrays only); elements
	// not yet materialized count as PENDING or RUNNABLE with the array.
	Elements map[JobState]int64 `json:"elements,omitempty"`

	// ExitCode is set when the job has ended on a node: the exit status,
	// or 128+signal.
	ExitCode        *int    `json:"exit_code,omitempty"`
	Signal          string  `json:"signal,omitempty"`
	OOMKilled       bool    `json:"oom_killed,omitempty"`
	PeakMemoryBytes int64   `json:"peak_memory_bytes,omitempty"`
	CPUTimeSeconds  float64 `json:"cpu_time_seconds,omitempty"`
}

// SubmitResponse answers POST /v1/jobs.
type SubmitResponse struct {
	ID    int64  `json:"id"`
	Queue string `json:"queue"`
	// DefaultQueue is true when the job went to the default queue because
	// none was named (bsub says "default queue" then).
	DefaultQueue bool `json:"default_queue"`
}

// JobList answers GET /v1/jobs.
type JobList struct {
	Jobs []Job `json:"jobs"`
}

// NodeState is a node's availability.
type NodeState string

const (
	// NodeUp: heartbeating; jobs may be placed there.
	NodeUp NodeState = "UP"
	// NodeDown: silent past the heartbeat timeout.
	NodeDown NodeState = "DOWN"
	// NodeDraining: an admin drained it; its jobs still run, no new job
	// is placed there.
	NodeDraining NodeState = "DRAINING"
	// NodeDrained: drained and empty.
	NodeDrained NodeState = "DRAINED"
)

// NodeDrain says who drained a node, when and why.
type NodeDrain struct {
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	Since  time.Time `json:"since"`
	// Deadline, when set, is when jobs still running are killed, or with
	// Requeue put back in the queue (their run on this node is killed).
	Deadline *time.Time `json:"deadline,omitempty"`
	Requeue  bool       `json:"requeue,omitempty"`
}

// DrainRequest is the body of POST /v1/nodes/{name}/drain.
type DrainRequest struct {
	Reason string `json:"reason"`
	// DeadlineSeconds, when positive, kills the jobs still running that
	// long after the drain.
	DeadlineSeconds int64 `json:"deadline_seconds,omitempty"`
	// Requeue puts the jobs still running at the deadline back in the
	// queue instead of ending them.
	Requeue bool `json:"requeue,omitempty"`
}

// Node is a node as the server knows it: GET /v1/nodes.
type Node struct {
	Name     string `json:"name"`
	Hostname string `json:"hostname,omitempty"`
	// Address is where the node's jobs reach each other (MASTER_ADDR of a
	// gang whose first part runs there); empty means Hostname.
	Address     string    `json:"address,omitempty"`
	State       NodeState `json:"state"`
	CPUs        []int     `json:"cpus"`
	MemoryBytes int64     `json:"memory_bytes"`
	// AllocCores and AllocMemoryBytes are what placed jobs hold.
	AllocCores       int               `json:"alloc_cores"`
	AllocMemoryBytes int64             `json:"alloc_memory_bytes"`
	Jobs             int               `json:"jobs"`
	LastHeartbeat    time.Time         `json:"last_heartbeat"`
	Version          string            `json:"version,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	// Drain is set while the node is drained (DRAINING or DRAINED).
	Drain *NodeDrain `json:"drain,omitempty"`
	// Topology is what the node reported (see RegisterRequest.Topology);
	// only GET /v1/nodes/{name} includes it.
	Topology json.RawMessage `json:"topology,omitempty"`
}

// NodeList answers GET /v1/nodes.
type NodeList struct {
	Nodes []Node `json:"nodes"`
}

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
}

// Event is one entry of the event log: a job's transition (or an action on
// it, such as a kill request), in commit order. GET /v1/events streams
// them; GET /v1/jobs/{id}/history lists one job's.
type Event struct {
	// ID orders events; a client resumes a stream after the last ID seen.
	ID    int64     `json:"id"`
	Time  time.Time `json:"time"`
	JobID int64     `json:"job_id"`
	// State is the job's state after the event.
	State  JobState `json:"state"`
	Reason string   `json:"reason,omitempty"`
	Node   string   `json:"node,omitempty"`
	// Actor is who caused it: a user name, "scheduler", or a node.
	Actor string `json:"actor,omitempty"`
	// ArrayID is set on the events of an array's elements: the array.
	ArrayID int64 `json:"array_id,omitempty"`
}

// History answers GET /v1/jobs/{id}/history.
type History struct {
	Events []Event `json:"events"`
}

// CronSpec is a recurring job: the body of POST /v1/crons.
type CronSpec struct {
	// Schedule is a five-field cron expression or a descriptor (@daily).
	Schedule string `json:"schedule"`
	// TZ is the IANA time zone the schedule is read in; empty is UTC.
	TZ string `json:"tz,omitempty"`
	// Overlap says what a slot does while the previous run is unfinished:
	// "skip" (the default) drops the slot, "queue" submits a job that
	// waits for the previous one to end, "allow" runs them side by side.
	Overlap string `json:"overlap,omitempty"`
	// Job is what each slot submits.
	Job JobSpec `json:"job"`
}

// Cron is a recurring job as the server keeps it.
type Cron struct {
	ID int64 `json:"id"`
	CronSpec
	User   string `json:"user"`
	UID    uint32 `json:"uid"`
	Paused bool   `json:"paused,omitempty"`
	// NextFire is the next slot's instant (none when paused or when the
	// expression never fires again).
	NextFire *time.Time `json:"next_fire,omitempty"`
	LastFire *time.Time `json:"last_fire,omitempty"`
	// LastJob is the job the last fired slot submitted (0: none yet).
	LastJob int64 `json:"last_job,omitempty"`
	// Fired and Skipped count slots that submitted a job and slots that
	// did not (overlap, closed queue, or missed while the server was down).
	Fired   int64     `json:"fired"`
	Skipped int64     `json:"skipped"`
	Created time.Time `json:"created"`
}

// CronList answers GET /v1/crons.
type CronList struct {
	Crons []Cron `json:"crons"`
}

// AcctRecord is the accounting record of one finished job (or array
// element), as GET /v1/acct and gantry acct report it.
type AcctRecord struct {
	JobID      int64  `json:"job_id"`
	ArrayID    int64  `json:"array_id,omitempty"`
	ArrayIndex int64  `json:"array_index,omitempty"`
	Name       string `json:"name"`
	User       string `json:"user"`
	UID        uint32 `json:"uid"`
	Queue      string `json:"queue"`
	Node       string `json:"node,omitempty"`
	Cores      int    `json:"cores"`
	GPUs       int    `json:"gpus"`
	// MemoryRequestedBytes is the memory limit asked for (0: none).
	MemoryRequestedBytes int64      `json:"memory_requested_bytes"`
	PeakMemoryBytes      int64      `json:"peak_memory_bytes"`
	CPUTimeSeconds       float64    `json:"cpu_time_seconds"`
	GPUHours             float64    `json:"gpu_hours"`
	State                JobState   `json:"state"`
	ExitCode             *int       `json:"exit_code,omitempty"`
	Reason               string     `json:"reason,omitempty"`
	Attempts             int        `json:"attempts"`
	Submit               time.Time  `json:"submit"`
	Start                *time.Time `json:"start,omitempty"`
	End                  time.Time  `json:"end"`
	// WaitSeconds is from submission to start (to end for a job that
	// never started); RunSeconds from start to end.
	WaitSeconds float64 `json:"wait_seconds"`
	RunSeconds  float64 `json:"run_seconds"`
}

// AcctList answers GET /v1/acct.
type AcctList struct {
	Records []AcctRecord `json:"records"`
}

// JobChanges is the body of PATCH /v1/jobs/{id} (gantry mod, bmod): the
// fields to change in a job that has not started. Nil fields stay.
type JobChanges struct {
	Name            *string    `json:"name,omitempty"`
	Queue           *string    `json:"queue,omitempty"`
	Cores           *int       `json:"cores,omitempty"`
	MemoryBytes     *int64     `json:"memory_bytes,omitempty"`
	WalltimeSeconds *int64     `json:"walltime_seconds,omitempty"`
	Stdout          *string    `json:"stdout,omitempty"`
	Stderr          *string    `json:"stderr,omitempty"`
	BeginTime       *time.Time `json:"begin_time,omitempty"`
	Dependency      *string    `json:"dependency,omitempty"`
	ArrayThrottle   *int       `json:"array_throttle,omitempty"`
}

// Reservation is a maintenance reservation: nodes kept free of jobs from
// Start to End. Backfill never starts a job whose walltime would reach
// into it (a job without a walltime never starts on those nodes before
// the reservation ends).
type Reservation struct {
	ID     int64     `json:"id"`
	Nodes  []string  `json:"nodes"`
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Reason string    `json:"reason"`
	By     string    `json:"by"`
	// Users, when set, makes this an advance reservation (LSF's brsvadd):
	// their jobs submitted into it (JobSpec.Reservation, bsub -U) run on
	// its nodes within its window, and nobody else's do. Without users
	// it is a maintenance window: no job runs there.
	Users []string `json:"users,omitempty"`
}

// Admits reports whether user may submit jobs into the reservation.
func (r *Reservation) Admits(user string) bool { return slices.Contains(r.Users, user) }

// ReservationRequest is the body of POST /v1/reservations.
type ReservationRequest struct {
	Nodes           []string  `json:"nodes"`
	Start           time.Time `json:"start"`
	DurationSeconds int64     `json:"duration_seconds"`
	Reason          string    `json:"reason"`
	// Users makes it an advance reservation for their jobs.
	Users []string `json:"users,omitempty"`
}

// ReservationList answers GET /v1/reservations.
type ReservationList struct {
	Reservations []Reservation `json:"reservations"`
}

// JobPriority is a waiting job's multifactor priority and its factors:
// queue priority, age, fair share (how little its user used recently,
// against the user's share) and size, each from 0 to 1 and weighted, plus
// an administrator's boost.
type JobPriority struct {
	Priority  float64 `json:"priority"`
	Queue     float64 `json:"queue"`
	Age       float64 `json:"age"`
	FairShare float64 `json:"fair_share"`
	Size      float64 `json:"size"`
	Boost     int64   `json:"boost,omitempty"`
}
