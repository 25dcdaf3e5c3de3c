package runner

import "time"

// Spec is everything the supervisor needs to run one job on this node. The
// node daemon writes it as spec.json into the job's directory before it
// starts the supervisor; the supervisor never talks to the server.
type Spec struct {
	// JobID names the job cluster-wide; it also names the container and the
	// job's cgroup, so it must match [A-Za-z0-9_.-]+.
	JobID string `json:"job_id"`

	// Argv is the command; Argv[0] is looked up in the job's PATH.
	Argv []string `json:"argv"`
	// Env is the job's whole environment, KEY=VALUE.
	Env []string `json:"env"`
	// Cwd is the submit directory: the job starts there, and it is bound
	// writable into the container (unless it is "/").
	Cwd string `json:"cwd"`

	// Image, when set, is the OCI image the job runs in instead of the
	// host's root filesystem (a reference as package image reads it:
	// registry reference, oci:PATH, oci-archive:PATH, docker-archive:PATH).
	Image string `json:"image,omitempty"`
	// ImageCache is the directory the image is unpacked into (shared by
	// all jobs of the node); required with Image.
	ImageCache string `json:"image_cache,omitempty"`

	// Home is the user's home directory, bound writable in host mode (as
	// the submit directory is). Empty means the supervisor looks the uid
	// up in the passwd database; a home that is "/" or does not exist is
	// not bound.
	Home string `json:"home,omitempty"`

	// UID, GID and Groups are the submitting user's identity; the job runs
	// as exactly these ids.
	UID    uint32   `json:"uid"`
	GID    uint32   `json:"gid"`
	Groups []uint32 `json:"groups,omitempty"`

	// Stdout and Stderr are absolute paths, opened (created, and truncated
	// unless appended to) with the user's identity, never root's. Equal
	// paths share one file.
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// AppendStdout and AppendStderr open the files for appending instead
	// (bsub -o and -e); equal paths follow AppendStdout.
	AppendStdout bool `json:"append_stdout,omitempty"`
	AppendStderr bool `json:"append_stderr,omitempty"`

	// CPUs are the host CPU ids the job is confined to (cpuset); the CPU
	// quota is len(CPUs) full cores.
	CPUs []int `json:"cpus"`
	// Mems are the NUMA memory nodes the job may allocate from
	// (cpuset.mems): the nodes of its CPUs. Empty means all of the
	// daemon's.
	Mems []int `json:"mems,omitempty"`
	// MemoryBytes is the memory limit (and memory+swap limit); 0 means none.
	MemoryBytes int64 `json:"memory_bytes,omitempty"`
	// PidsLimit caps the number of tasks in the job's cgroup; 0 means none.
	PidsLimit int64 `json:"pids_limit,omitempty"`

	// GPUs are the node's GPUs the job may use, in node index order. Only
	// their device nodes (and the driver's control nodes) appear in the
	// job's /dev and are allowed by its device cgroup; see package doc
	// and docs/node.md for the environment variables that name them.
	GPUs []GPU `json:"gpus,omitempty"`
	// DevDir is the host directory holding the NVIDIA device nodes
	// (nvidia0, nvidiactl, nvidia-uvm, ...); empty means /dev. Tests
	// point it at fake nodes.
	DevDir string `json:"dev_dir,omitempty"`
	// CDISpecDirs are the directories searched for CDI specs that describe
	// the GPUs (nvidia.com/gpu=<uuid|index>); nil means CDI's defaults,
	// /etc/cdi and /var/run/cdi. When they hold nvidia.com/gpu devices,
	// their edits replace the built-in device list.
	CDISpecDirs []string `json:"cdi_spec_dirs,omitempty"`

	// Walltime is the run-time limit; 0 means none. At the limit the job is
	// killed (SIGTERM, then SIGKILL after KillGrace) and ends TimedOut.
	// Time spent suspended (Handle.Suspend) does not count.
	Walltime time.Duration `json:"walltime,omitempty"`
	// KillGrace is the time between SIGTERM and SIGKILL; 0 means 10s.
	KillGrace time.Duration `json:"kill_grace,omitempty"`

	// TTY, when set (TTYLine or TTYRaw), gives the job a terminal for its
	// stdin, stdout and stderr, served on TTYSocket in the job directory
	// (see tty.go); its output also goes to Stdout.
	TTY string `json:"tty,omitempty"`

	// Tasks, when more than 1 or with FirstTask set, starts the command
	// once per task (a gang's per-GPU tasks): task i gets LOCAL_RANK=i
	// and RANK=FirstTask+i. The first task to fail ends the others.
	Tasks     int `json:"tasks,omitempty"`
	FirstTask int `json:"first_task,omitempty"`

	// Files are small read-only files the job finds at Path (below
	// /run/gantry), such as its host file.
	Files []File `json:"files,omitempty"`
}

// File is a read-only file given to the job.
type File struct {
	// Path is where the job sees it: absolute, below /run/gantry.
	Path    string `json:"path"`
	Content string `json:"content"`
}

// GPU is one GPU given to a job.
type GPU struct {
	// Index is the node-local index (NVML's, PCI bus order).
	Index int `json:"index"`
	// UUID is the GPU's identity ("GPU-8f6c..."), used for
	// NVIDIA_VISIBLE_DEVICES and to find its CDI device.
	UUID string `json:"uuid"`
	// Minor is the N of its device node /dev/nvidiaN.
	Minor int `json:"minor"`
}

// Result is what the supervisor writes, atomically, as result.json when the
// job has ended (or could not start). Its presence means the job is over.
type Result struct {
	// ExitCode is the job's exit status, or 128+signal when it was killed
	// by a signal (the shell convention).
	ExitCode int `json:"exit_code"`
	// Signal names the signal that ended the job ("SIGKILL"), or is empty.
	Signal string `json:"signal,omitempty"`
	// OOMKilled is true when the kernel's OOM killer killed a task of the
	// job's cgroup (the memory limit was hit).
	OOMKilled bool `json:"oom_killed,omitempty"`
	// TimedOut is true when the supervisor killed the job at its walltime.
	TimedOut bool `json:"timed_out,omitempty"`
	// Killed is true when the job was killed on request (Handle.Kill).
	Killed bool `json:"killed,omitempty"`
	// PeakMemoryBytes is the high-water mark of the job cgroup's memory.
	PeakMemoryBytes int64 `json:"peak_memory_bytes"`
	// CPUTime is the job cgroup's total CPU time (user+system).
	CPUTime time.Duration `json:"cpu_time"`
	// Suspended is the total time the job spent frozen.
	Suspended time.Duration `json:"suspended,omitempty"`
	// StartedAt and EndedAt bracket the job's run on this node.
	StartedAt time.Time `json:"started_at"`
	EndedAt   time.Time `json:"ended_at"`
	// Error is set when the job could not be started (bad command, output
	// file not writable, container setup failed); ExitCode is then 127 or
	// 1 and the message names the offending value.
	Error string `json:"error,omitempty"`
}
