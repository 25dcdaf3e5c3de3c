package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/lsf"
	"github.com/gantry-hpc/gantry/store"
)

// nodeName is what a node may be called: it names directories and appears
// in cgroup paths and logs.
var nodeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// labelKey is what a node label's key may be; maxLabels caps their number.
var labelKey = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_./-]{0,62}$`)

const maxLabels = 64

// maxPollWait bounds a long poll of assignments.
const maxPollWait = 60 * time.Second

func (s *Server) handleListNodes(w http.ResponseWriter, r *http.Request, _ Caller) {
	nodes, err := s.store.Nodes(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if nodes == nil {
		nodes = []api.Node{}
	}
	writeJSON(w, http.StatusOK, api.NodeList{Nodes: nodes})
}

// handleDrain drains a node: no new job is placed there; with a deadline,
// the jobs still running then are killed.
func (s *Server) handleDrain(w http.ResponseWriter, r *http.Request, c Caller) {
	var req api.DrainRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case strings.TrimSpace(req.Reason) == "" || len(req.Reason) > 1024 || strings.ContainsAny(req.Reason, "\x00\n"):
		writeError(w, http.StatusBadRequest, fmt.Errorf("drain reason %q: give one line saying why (at most 1024 bytes)", req.Reason))
		return
	case req.DeadlineSeconds < 0:
		writeError(w, http.StatusBadRequest, fmt.Errorf("drain deadline %ds: must not be negative", req.DeadlineSeconds))
		return
	}
	now := s.now().UTC()
	if req.Requeue && req.DeadlineSeconds == 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("drain --requeue needs a deadline"))
		return
	}
	d := &api.NodeDrain{Reason: req.Reason, By: c.User, Since: now, Requeue: req.Requeue}
	if req.DeadlineSeconds > 0 {
		t := now.Add(time.Duration(req.DeadlineSeconds) * time.Second)
		d.Deadline = &t
	}
	name := r.PathValue("name")
	if err := s.store.SetDrain(r.Context(), name, d); err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("node drained", "node", name, "by", c.User, "reason", req.Reason, "deadline", d.Deadline)
	s.kick()
	s.handleGetNode(w, r, c)
}

// handleResume ends a node's drain.
func (s *Server) handleResume(w http.ResponseWriter, r *http.Request, c Caller) {
	name := r.PathValue("name")
	if err := s.store.SetDrain(r.Context(), name, nil); err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("node resumed", "node", name, "by", c.User)
	s.kick()
	s.handleGetNode(w, r, c)
}

func (s *Server) handleGetNode(w http.ResponseWriter, r *http.Request, _ Caller) {
	n, err := s.store.Node(r.Context(), r.PathValue("name"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, n)
}

func (s *Server) handleRegister(w http.ResponseWriter, r *http.Request, _ Caller) {
	var req api.RegisterRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch {
	case !nodeName.MatchString(req.Name):
		writeError(w, http.StatusBadRequest, fmt.Errorf("node name %q: want letters, digits, '.', '_' or '-', at most 63", req.Name))
		return
	case len(req.CPUs) == 0:
		writeError(w, http.StatusBadRequest, fmt.Errorf("node %s: no CPUs to offer", req.Name))
		return
	case req.MemoryBytes <= 0:
		writeError(w, http.StatusBadRequest, fmt.Errorf("node %s: memory %d bytes: must be positive", req.Name, req.MemoryBytes))
		return
	}
	if len(req.Address) > 253 || strings.ContainsAny(req.Address, " \t\n\x00/") {
		writeError(w, http.StatusBadRequest, fmt.Errorf("node %s: address %q: want a host name or IP address", req.Name, req.Address))
		return
	}
	if len(req.Labels) > maxLabels {
		writeError(w, http.StatusBadRequest, fmt.Errorf("node %s: %d labels, more than %d", req.Name, len(req.Labels), maxLabels))
		return
	}
	for k, v := range req.Labels {
		if !labelKey.MatchString(k) || len(v) > 256 || strings.ContainsAny(v, "\x00\n") {
			writeError(w, http.StatusBadRequest, fmt.Errorf("node %s: label %q=%q: keys are letters, digits, '.', '_', '-', '/' (at most 63), values at most 256 bytes on one line", req.Name, k, v))
			return
		}
	}
	for _, c := range req.CPUs {
		if c < 0 || c > 1<<16 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("node %s: cpu id %d out of range", req.Name, c))
			return
		}
	}
	if err := s.store.RegisterNode(r.Context(), req, s.now()); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("node registered", "node", req.Name, "cpus", len(req.CPUs), "memory", req.MemoryBytes)
	s.kick()
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleNodeStatus takes a node's heartbeat and report: jobs it runs move
// to RUNNING, finished jobs get their results. Results are acknowledged
// only once durable.
func (s *Server) handleNodeStatus(w http.ResponseWriter, r *http.Request, _ Caller) {
	name := r.PathValue("name")
	var st api.NodeStatus
	if err := decodeJSON(r, &st); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	ctx := r.Context()
	rep, err := s.store.ReportNode(ctx, name, st.Running, st.Suspended, s.now())
	if err != nil {
		writeStoreError(w, err)
		return
	}
	changed := rep.WasDown
	for _, id := range rep.Started {
		s.log.Info("job running", "job_id", id, "node", name)
	}
	if len(rep.Started) > 0 || rep.SuspendChanged {
		s.events.bump()
	}
	switch did, err := s.nodeHealth(ctx, name, st.Unhealthy); {
	case err != nil:
		writeStoreError(w, err)
		return
	case did == "drained":
		s.log.Warn("node drained: unhealthy", "node", name, "reason", st.Unhealthy)
		s.kick()
	case did == "resumed":
		s.log.Info("node resumed: healthy again", "node", name)
		s.kick()
	}
	if len(st.Ready) > 0 {
		released, err := s.store.MarkPartsReady(ctx, name, st.Ready, s.now())
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if len(released) > 0 {
			s.log.Info("gangs released: every part ready", "job_ids", released)
			changed = true
			s.events.bump()
		}
	}
	resp := api.NodeStatusResponse{Acked: []int64{}}
	for _, res := range st.Finished {
		final, ok, err := s.store.FinishJob(ctx, name, res)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		if ok {
			changed = true
			s.log.Info("job ended", "job_id", res.JobID, "node", name, "state", final, "exit_code", res.ExitCode)
		}
		resp.Acked = append(resp.Acked, res.JobID)
	}
	if changed {
		s.assign.bump()
		s.kick()
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleAssignments answers a node's long poll: with ?index=N it waits
// until the desired state may have changed past N (or ?wait= passes).
func (s *Server) handleAssignments(w http.ResponseWriter, r *http.Request, _ Caller) {
	name := r.PathValue("name")
	q := r.URL.Query()
	var after uint64
	if raw := q.Get("index"); raw != "" {
		v, err := strconv.ParseUint(raw, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("index %q: want an unsigned integer", raw))
			return
		}
		after = v
	}
	wait := 30 * time.Second
	if raw := q.Get("wait"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil || d < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("wait %q: want a duration like 30s", raw))
			return
		}
		wait = min(d, maxPollWait)
	}
	index, changed := s.assign.current()
	if index <= after {
		t := time.NewTimer(wait)
		select {
		case <-changed:
		case <-t.C:
		case <-r.Context().Done():
		}
		t.Stop()
		index, _ = s.assign.current()
	}
	jobs, signals, err := s.store.NodeAssignments(r.Context(), name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeStoreError(w, err)
			return
		}
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := api.Assignments{Index: index, Jobs: make([]api.Assignment, 0, len(jobs)), Signals: signals}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, assignmentOf(j, name))
		if j.KillRequested {
			out.Kill = append(out.Kill, j.ID)
		}
		if j.SuspendRequested {
			out.Suspend = append(out.Suspend, j.ID)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// assignmentOf is what node needs of job j (or of its part there, for a
// gang) to run it.
func assignmentOf(j api.Job, node string) api.Assignment {
	// An array element's %J and LSB_JOBID are its array's id, as in LSF;
	// GANTRY_JOB_ID is its own.
	jobID := j.ID
	if j.ArrayID != 0 {
		jobID = j.ArrayID
	}
	stdout := api.OutputPath(j.Spec.Stdout, j.Spec.Cwd, jobID, j.ArrayIndex)
	stderr := stdout
	if j.Spec.Stderr != "" {
		stderr = api.OutputPath(j.Spec.Stderr, j.Spec.Cwd, jobID, j.ArrayIndex)
	}
	as := api.Assignment{
		JobID: j.ID, Attempt: j.Attempt, Command: j.Spec.Command, Cwd: j.Spec.Cwd,
		UID: j.UID, GID: j.GID, Groups: j.Groups,
		Stdout: stdout, Stderr: stderr, CPUs: j.CPUs, GPUs: j.GPUs,
		AppendStdout: j.Spec.AppendStdout, AppendStderr: j.Spec.AppendStderr, TTY: j.Spec.TTY, Image: j.Spec.Image,
		MemoryBytes: j.Spec.MemoryBytes, WalltimeSeconds: j.Spec.WalltimeSeconds,
	}
	rank := 0
	extra := []string{"LSB_DJOB_HOSTFILE=" + api.HostfilePath, "GANTRY_MACHINEFILE=" + api.MachinefilePath}
	if len(j.Parts) <= 1 {
		slots := max(len(j.CPUs), 1)
		as.Hostfile = strings.Repeat(j.Node+"\n", slots)
		as.Machinefile = fmt.Sprintf("%s slots=%d\n", j.Node, slots)
		if j.Spec.Distributed() {
			// A one-node job with tasks: a gang of one, without the
			// start barrier; its node picks MASTER_PORT at the start.
			one := j
			one.Parts = []api.JobPart{{Node: j.Node, Address: "127.0.0.1", Ready: true}}
			var env []string
			as.Gang, _, _, env = gangPart(one, 0)
			as.Gang.PickPort = true
			extra = append(extra, env...)
		}
	} else {
		rank = slices.IndexFunc(j.Parts, func(p api.JobPart) bool { return p.Node == node })
		if rank < 0 {
			rank = 0 // cannot happen: the store lists a gang on its nodes only
		}
		part := j.Parts[rank]
		as.CPUs, as.GPUs = part.CPUs, part.GPUs
		var env []string
		as.Gang, as.Hostfile, as.Machinefile, env = gangPart(j, rank)
		extra = append(extra, env...)
		// Each part writes its own output files, beside the first's.
		if rank > 0 {
			as.Stdout, as.Stderr = api.RankOutput(as.Stdout, rank), api.RankOutput(as.Stderr, rank)
		}
	}
	// The LSF and Slurm variables (LSB_JOBID, LSB_JOBINDEX, SLURM_JOB_ID,
	// ...; see lsf.JobEnv), replacing any the submitter's environment
	// carried in from a job of its own.
	id := strconv.FormatInt(j.ID, 10)
	extra = append(extra, "GANTRY_JOB_ID="+id, "GANTRY_NODE="+node, "GANTRY_CPUS="+strconv.Itoa(len(as.CPUs)),
		"GANTRY_ATTEMPT="+strconv.Itoa(max(j.Attempt, 1)))
	if j.ArrayID != 0 {
		extra = append(extra, "GANTRY_ARRAY_ID="+strconv.FormatInt(j.ArrayID, 10), "GANTRY_ARRAY_INDEX="+strconv.FormatInt(j.ArrayIndex, 10))
	}
	as.Env = lsf.WithJobEnv(j.Spec.Env, j, rank, as.GPUs, extra...)
	return as
}

// gangPart describes the part of rank of gang j for its node, with the
// variables that tell the part who its peers are: torchrun's and
// torch.distributed's (MASTER_ADDR, MASTER_PORT, WORLD_SIZE, NODE_RANK,
// RANK, LOCAL_RANK, NNODES, NPROC_PER_NODE, LOCAL_WORLD_SIZE and the
// PET_ forms torchrun reads), and the host files of LSF and MPI.
func gangPart(j api.Job, rank int) (g *api.GangPart, hostfile, machinefile string, env []string) {
	per := j.Spec.NodeTasks()
	g = &api.GangPart{
		Rank: rank, Release: true, Tasks: j.Spec.TasksOnRank(rank), FirstTask: rank * per,
		PerGPU: j.Spec.TasksPerGPU == 1,
	}
	var hosts, machines strings.Builder
	for _, p := range j.Parts {
		g.Release = g.Release && p.Ready
		n := j.Spec.TasksOnRank(p.Rank)
		for range n {
			hosts.WriteString(p.Address + "\n")
		}
		fmt.Fprintf(&machines, "%s slots=%d\n", p.Address, n)
	}
	itoa := strconv.Itoa
	master, port := j.Parts[0].Address, j.Parts[0].Port
	nnodes, world := itoa(len(j.Parts)), itoa(j.Spec.TotalTasks())
	env = []string{
		"MASTER_ADDR=" + master,
		"WORLD_SIZE=" + world, "NNODES=" + nnodes, "NODE_RANK=" + itoa(rank), "GROUP_RANK=" + itoa(rank),
		"RANK=" + itoa(g.FirstTask), "LOCAL_RANK=0",
		"NPROC_PER_NODE=" + itoa(g.Tasks), "LOCAL_WORLD_SIZE=" + itoa(g.Tasks),
		"PET_NNODES=" + nnodes, "PET_NODE_RANK=" + itoa(rank), "PET_NPROC_PER_NODE=" + itoa(g.Tasks),
		"PET_MASTER_ADDR=" + master,
		"GANTRY_NODE_RANK=" + itoa(rank), "GANTRY_NNODES=" + nnodes,
	}
	if port != 0 {
		env = append(env, api.MasterPortEnv(port)...)
	}
	return g, hosts.String(), machines.String(), env
}

// nodeHealth applies what a node reports of its health (store.SetNodeHealth)
// when it differs from its last report, and returns what that did.
func (s *Server) nodeHealth(ctx context.Context, node, unhealthy string) (string, error) {
	s.healthMu.Lock()
	last, seen := s.health[node]
	s.healthMu.Unlock()
	if seen && last == unhealthy {
		return "", nil
	}
	did, err := s.store.SetNodeHealth(ctx, node, unhealthy, s.now())
	if err != nil {
		return "", err
	}
	s.healthMu.Lock()
	if s.health == nil {
		s.health = map[string]string{}
	}
	s.health[node] = unhealthy
	s.healthMu.Unlock()
	return did, nil
}
