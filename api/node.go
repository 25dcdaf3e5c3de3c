package api

import (
	"encoding/json"
	"strconv"
	"time"
)

// The node protocol. A node daemon registers, then loops: it long-polls its
// assignments (the jobs the server wants on it, and those to kill) and
// reports status (the jobs it runs, and the results of those that ended).
// The server is the source of truth for what should run; the node is the
// source of truth for what does run. Both sides are idempotent, so a crash
// of either is healed by the next exchange.

// RegisterRequest is the body of POST /v1/nodes/register.
type RegisterRequest struct {
	Name        string `json:"name"`
	Hostname    string `json:"hostname,omitempty"`
	CPUs        []int  `json:"cpus"`
	MemoryBytes int64  `json:"memory_bytes"`
	Version     string `json:"version,omitempty"`
	// Address is the node's address for its jobs' peers (gantry node
	// --address); empty means Hostname.
	Address string `json:"address,omitempty"`
	// Labels are the node's configured labels (rack=r12, ib=hdr).
	Labels map[string]string `json:"labels,omitempty"`
	// Topology is the node's discovered topology (sockets, NUMA nodes,
	// GPUs), as package discover reports it. The server stores and shows
	// it; it does not interpret it yet.
	Topology json.RawMessage `json:"topology,omitempty"`
}

// Assignment is one job the server wants running on a node.
type Assignment struct {
	JobID int64 `json:"job_id"`
	// Attempt is the try of the job this is (1 unless it was retried or
	// requeued): each try is a separate run on the node.
	Attempt int      `json:"attempt,omitempty"`
	Command []string `json:"command"`
	Env     []string `json:"env"`
	Cwd     string   `json:"cwd"`
	UID     uint32   `json:"uid"`
	GID     uint32   `json:"gid"`
	Groups  []uint32 `json:"groups,omitempty"`
	// Stdout and Stderr are absolute, with %J already expanded.
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// AppendStdout and AppendStderr: append to the files, do not
	// truncate them.
	AppendStdout    bool  `json:"append_stdout,omitempty"`
	AppendStderr    bool  `json:"append_stderr,omitempty"`
	CPUs            []int `json:"cpus"`
	MemoryBytes     int64 `json:"memory_bytes,omitempty"`
	WalltimeSeconds int64 `json:"walltime_seconds,omitempty"`
	// Image, when set, is the OCI image the job runs in (a registry
	// reference, oci:PATH or oci-archive:PATH); empty is host mode.
	Image string `json:"image,omitempty"`
	// GPUs are the node-local GPU indices the job may use.
	GPUs []int `json:"gpus,omitempty"`
	// TTY, when set, gives the job a terminal ("line" or "raw", see
	// JobSpec.TTY) that the node relays to the server.
	TTY string `json:"tty,omitempty"`
	// Gang is set when this is one part of a job over several nodes.
	Gang *GangPart `json:"gang,omitempty"`
	// Hostfile and Machinefile are the files the job finds at
	// LSB_DJOB_HOSTFILE (one host per task, as LSF writes it) and
	// GANTRY_MACHINEFILE ("host slots=N" per node, for mpirun).
	Hostfile    string `json:"hostfile,omitempty"`
	Machinefile string `json:"machinefile,omitempty"`
}

// Where a job finds its host files (Assignment.Hostfile and Machinefile)
// in its container.
const (
	HostfilePath    = "/run/gantry/hostfile"
	MachinefilePath = "/run/gantry/machinefile"
)

// GangPart is what a node needs to know about the gang one of its
// assignments belongs to. The node prepares the part, reports it ready
// (NodeStatus.Ready), and starts it only once Release is set: when every
// part is ready. A gang not released within the server's start timeout is
// taken back from every node and requeued.
type GangPart struct {
	// Rank is this part's place in the gang, from 0 (the first node).
	Rank int `json:"rank"`
	// Release says every part is ready: start now.
	Release bool `json:"release,omitempty"`
	// Tasks is how many processes this part starts: one, or one per GPU
	// (TasksPerGPU), with ranks from FirstTask.
	Tasks     int  `json:"tasks"`
	FirstTask int  `json:"first_task"`
	PerGPU    bool `json:"per_gpu,omitempty"`
	// PickPort says the job runs on this node alone: the node picks a
	// free port when it starts the job and adds it to the environment
	// (MasterPortEnv), as the first node of a gang does when preparing.
	PickPort bool `json:"pick_port,omitempty"`
}

// MasterPortEnv returns the variables that give a distributed job's
// rendezvous port: MASTER_PORT, and PET_MASTER_PORT for torchrun.
func MasterPortEnv(port int) []string {
	p := strconv.Itoa(port)
	return []string{"MASTER_PORT=" + p, "PET_MASTER_PORT=" + p}
}

// PartReady tells the server a node has prepared its part of a gang. The
// first node (rank 0) also gives the port it chose for the gang's
// rendezvous (MASTER_PORT).
type PartReady struct {
	JobID   int64 `json:"job_id"`
	Attempt int   `json:"attempt,omitempty"`
	Port    int   `json:"port,omitempty"`
}

// Assignments answers GET /v1/nodes/{name}/assignments. Index grows with
// every change of the node's desired state; a poll with ?index=N waits until
// the index passes N (or the wait ends).
type Assignments struct {
	Index uint64       `json:"index"`
	Jobs  []Assignment `json:"jobs"`
	// Kill lists jobs (among Jobs) the server wants killed.
	Kill []int64 `json:"kill,omitempty"`
	// Suspend lists jobs (among Jobs) the server wants frozen; a job in
	// Jobs but not here runs (is thawed if it was frozen).
	Suspend []int64 `json:"suspend,omitempty"`
	// Signals are the last signal asked for each job (among Jobs) that
	// was sent one; a node delivers each Seq once.
	Signals []SignalRequest `json:"signals,omitempty"`
}

// SignalRequest is a signal to deliver to every process of a running job
// (bkill -s): the Seq-th asked for it.
type SignalRequest struct {
	JobID  int64  `json:"job_id"`
	Seq    int64  `json:"seq"`
	Signal string `json:"signal"`
}

// SignalBody is the body of POST /v1/jobs/{id}/signal.
type SignalBody struct {
	// Signal is a name (SIGUSR1, USR1) or number.
	Signal string `json:"signal"`
}

// JobResult is how a job ended on a node.
type JobResult struct {
	JobID int64 `json:"job_id"`
	// Attempt is the try this result is of; a result of an earlier try
	// is ignored.
	Attempt         int       `json:"attempt,omitempty"`
	ExitCode        int       `json:"exit_code"`
	Signal          string    `json:"signal,omitempty"`
	OOMKilled       bool      `json:"oom_killed,omitempty"`
	TimedOut        bool      `json:"timed_out,omitempty"`
	Killed          bool      `json:"killed,omitempty"`
	PeakMemoryBytes int64     `json:"peak_memory_bytes"`
	CPUTimeSeconds  float64   `json:"cpu_time_seconds"`
	StartedAt       time.Time `json:"started_at"`
	EndedAt         time.Time `json:"ended_at"`
	Error           string    `json:"error,omitempty"`
}

// RunningJob is a job a node reports as running.
type RunningJob struct {
	JobID     int64     `json:"job_id"`
	Attempt   int       `json:"attempt,omitempty"`
	StartedAt time.Time `json:"started_at"`
}

// NodeStatus is the body of POST /v1/nodes/{name}/status: a heartbeat and a
// report in one.
type NodeStatus struct {
	Running  []RunningJob `json:"running"`
	Finished []JobResult  `json:"finished,omitempty"`
	// Suspended lists the running jobs that are frozen now.
	Suspended []int64 `json:"suspended,omitempty"`
	// Ready lists the gang parts prepared and waiting for their release.
	Ready []PartReady `json:"ready,omitempty"`
	// Unhealthy, when set, says why the node is not fit to run jobs (its
	// health-check script failed, a GPU has uncorrected ECC errors or a
	// critical XID): the server drains it with that reason, and resumes
	// it when a later report has none (unless an admin drained it).
	Unhealthy string `json:"unhealthy,omitempty"`
}

// HealthDrainer is NodeDrain.By of a drain the node's health checks made.
const HealthDrainer = "health-check"

// NodeStatusResponse acknowledges a status report. Acked lists the finished
// jobs whose results are now durable on the server: the node may forget
// them.
type NodeStatusResponse struct {
	Acked []int64 `json:"acked"`
}
