package sim

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/swf"
)

// Estimates selects the run-time estimate the engine sees.
type Estimates int

const (
	// EstimatesUser uses the requested time (the user's estimate).
	EstimatesUser Estimates = iota
	// EstimatesActual uses the run time itself: perfect estimates.
	EstimatesActual
)

func (e Estimates) String() string {
	if e == EstimatesActual {
		return "actual"
	}
	return "user"
}

// ParseEstimates reads "user" or "actual".
func ParseEstimates(s string) (Estimates, error) {
	switch s {
	case "user":
		return EstimatesUser, nil
	case "actual":
		return EstimatesActual, nil
	}
	return 0, fmt.Errorf("unknown estimates %q (want user or actual)", s)
}

// Config is one replay.
type Config struct {
	Policy    sched.Policy
	Estimates Estimates
	// Procs is the machine's size; 0 takes the header's MaxProcs, else
	// MaxNodes. Ignored with Nodes.
	Procs int
	// Nodes, when set, replaces the pool of processors by a
	// heterogeneous cluster (see ParseNodes), and jobs get shapes: see
	// Shape.
	Nodes []NodeType
	// GPUPercent is the share of jobs (0 to 100) made GPU jobs when Nodes
	// has GPUs; negative means DefaultGPUPercent.
	GPUPercent int
}

// DefaultGPUPercent is the share of jobs made GPU jobs by default.
const DefaultGPUPercent = 25

// Job is one replayed job. Times are seconds from the log's start.
type Job struct {
	ID       int64 // the SWF job number
	Submit   int64
	Start    int64
	End      int64
	Procs    int
	Run      int64
	Estimate int64
	// GPUs and Nodes: the job's GPUs and how many nodes it spans, with
	// Config.Nodes (0 and 1 otherwise).
	GPUs  int
	Nodes int
	// shape is the job's request: its shape on a heterogeneous cluster
	// (Shape), completed as it arrives; the passes read it in place.
	shape sched.Job
}

// Wait is how long the job waited.
func (j Job) Wait() int64 { return j.Start - j.Submit }

// Skipped counts the records the replay leaves out, by the first rule
// each breaks.
type Skipped struct {
	RunTime  int `json:"run_time"`  // run time <= 0
	Procs    int `json:"procs"`     // processors <= 0
	TooLarge int `json:"too_large"` // more processors than the machine
	Total    int `json:"total"`
}

// Result is a whole replay.
type Result struct {
	Config  Config
	Procs   int
	Records int
	// Jobs are in queue order (submit time, then job number).
	Jobs    []Job
	Skipped Skipped
	// Passes counts the engine's scheduling passes.
	Passes int
	// GPUs is the cluster's GPU count (with Config.Nodes).
	GPUs int
}

// Run replays log under cfg.
func Run(log *swf.Log, cfg Config) (*Result, error) {
	m := int64(cfg.Procs)
	var cluster []sched.Node
	if len(cfg.Nodes) > 0 {
		cluster = Build(cfg.Nodes)
		m = 0
		for _, t := range cfg.Nodes {
			m += int64(t.Count) * int64(t.Cores)
		}
	}
	if m <= 0 {
		m = log.Header.MaxProcs
	}
	if m <= 0 {
		m = log.Header.MaxNodes
	}
	if m <= 0 {
		return nil, fmt.Errorf("the log's header gives neither MaxProcs nor MaxNodes: set the number of processors")
	}
	if m > 1<<30 {
		return nil, fmt.Errorf("machine size %d is too large", m)
	}
	res := &Result{Config: cfg, Procs: int(m), Records: len(log.Jobs)}
	for _, r := range log.Jobs {
		procs := r.ReqProcs
		if procs <= 0 {
			procs = r.AllocProcs
		}
		run := r.RunTime
		if r.ReqTime > 0 && run > r.ReqTime {
			run = r.ReqTime
		}
		switch {
		case run <= 0:
			res.Skipped.RunTime++
			continue
		case procs <= 0:
			res.Skipped.Procs++
			continue
		case procs > m:
			res.Skipped.TooLarge++
			continue
		}
		est := run
		if cfg.Estimates == EstimatesUser && r.ReqTime > 0 {
			est = r.ReqTime
		}
		j := Job{ID: r.Number, Submit: r.Submit, Start: -1, End: -1, Procs: int(procs), Run: run, Estimate: est, Nodes: 1}
		if cluster != nil {
			var ok bool
			j.shape, ok = Shape(r.Number, int(procs), cfg.Nodes, cfg.gpuPercent())
			if !ok {
				res.Skipped.TooLarge++
				continue
			}
			tasks, per := int(max(j.shape.Tasks, 1)), int(j.shape.TasksPerNode)
			j.Procs = int(max(j.shape.Cores, 1)) * tasks
			j.GPUs = int(j.shape.GPUs) * tasks
			j.Nodes = int(max(j.shape.Nodes, 1))
			if per > 0 {
				j.Nodes = (int(j.shape.Tasks) + per - 1) / per
			}
		}
		res.Jobs = append(res.Jobs, j)
	}
	res.Skipped.Total = res.Skipped.RunTime + res.Skipped.Procs + res.Skipped.TooLarge
	slices.SortStableFunc(res.Jobs, func(a, b Job) int {
		if c := cmp.Compare(a.Submit, b.Submit); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	r := replay{res: res, node: []sched.Node{{Name: "swf", Cores: int(m)}}, pos: make([][]int, len(res.Jobs))}
	if cluster != nil {
		r.node = cluster
		for _, t := range cfg.Nodes {
			res.GPUs += t.Count * t.GPUs
		}
	}
	r.run(cfg.Policy)
	return res, nil
}

// never marks "no wake-up pending".
const never = int64(1) << 62

// replay is the virtual clock's state. Engine job ids are indexes into
// res.Jobs.
type replay struct {
	res     *Result
	node    []sched.Node
	running []sched.Allocation
	pos     [][]int // indexes in running, by job
	ends    endHeap
	pending []*sched.Job // point into res.Jobs
	held    []sched.Reservation
}

func (r *replay) run(policy sched.Policy) {
	jobs := r.res.Jobs
	next := 0 // next arrival
	wake := never
	for next < len(jobs) || len(r.ends) > 0 || len(r.pending) > 0 {
		now := never
		if next < len(jobs) {
			now = jobs[next].Submit
		}
		if len(r.ends) > 0 {
			now = min(now, r.ends[0].at)
		}
		now = min(now, wake)
		if now == never {
			panic(fmt.Sprintf("sim: %d jobs pending and nothing will ever happen", len(r.pending)))
		}
		compress := false
		for len(r.ends) > 0 && r.ends[0].at == now {
			e := r.ends.pop()
			j := &jobs[e.job]
			if j.Start+j.Estimate > now {
				compress = true
			}
			r.remove(e.job)
		}
		for next < len(jobs) && jobs[next].Submit == now {
			j := &jobs[next]
			// The pass reads the job's request where it is, in its shape.
			if len(r.node) <= 1 && j.shape.Cores == 0 {
				j.shape = sched.Job{Cores: sched.Count32(j.Procs)}
			}
			j.shape.ID, j.shape.Walltime = int64(next), time.Duration(j.Estimate)*time.Second
			r.pending = append(r.pending, &j.shape)
			next++
		}
		wake = never
		if len(r.pending) == 0 {
			continue
		}
		plan := sched.Schedule(sched.Snapshot{
			Now:          time.Unix(now, 0),
			Policy:       policy,
			Nodes:        r.node,
			Running:      r.running,
			Pending:      r.pending,
			Reservations: r.held,
			Compress:     compress,
			Quiet:        true,
		})
		r.res.Passes++
		r.apply(plan, now)
		if policy == sched.Conservative {
			r.held = plan.Reservations
			for _, h := range r.held {
				wake = min(wake, h.Start.Unix())
			}
		}
	}
}

// apply starts the plan's jobs at now.
func (r *replay) apply(plan sched.Plan, now int64) {
	if len(plan.Starts) == 0 {
		return
	}
	jobs := r.res.Jobs
	for k, a := range plan.Starts {
		j := &jobs[a.Job]
		r.pos[a.Job] = append(r.pos[a.Job], len(r.running))
		r.running = append(r.running, a)
		if k > 0 && plan.Starts[k-1].Job == a.Job {
			continue // another node of a gang
		}
		j.Start, j.End = now, now+j.Run
		r.ends.push(end{at: j.End, job: int(a.Job)})
	}
	// Starts are in queue order: drop them from the queue in one walk.
	s := 0
	kept := r.pending[:0]
	for _, p := range r.pending {
		if s < len(plan.Starts) && plan.Starts[s].Job == p.ID {
			for s < len(plan.Starts) && plan.Starts[s].Job == p.ID {
				s++
			}
			continue
		}
		kept = append(kept, p)
	}
	if s != len(plan.Starts) {
		panic("sim: the plan's starts are not in queue order")
	}
	r.pending = kept
}

// remove takes a finished job off the running list, on all its nodes.
func (r *replay) remove(job int) {
	for len(r.pos[job]) > 0 {
		i := r.pos[job][0]
		r.pos[job] = r.pos[job][1:]
		last := len(r.running) - 1
		if i != last {
			moved := r.running[last].Job
			for k, p := range r.pos[moved] {
				if p == last {
					r.pos[moved][k] = i
				}
			}
			r.running[i] = r.running[last]
		}
		r.running = r.running[:last]
	}
	r.pos[job] = nil
}

type end struct {
	at  int64
	job int
}

// endHeap is a binary min-heap of expected completions, by time then job.
type endHeap []end

func (h endHeap) less(i, j int) bool {
	return h[i].at < h[j].at || h[i].at == h[j].at && h[i].job < h[j].job
}

func (h *endHeap) push(e end) {
	*h = append(*h, e)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s.less(i, p) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *endHeap) pop() end {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, small := 2*i+1, i
		if l < len(s) && s.less(l, small) {
			small = l
		}
		if l+1 < len(s) && s.less(l+1, small) {
			small = l + 1
		}
		if small == i {
			break
		}
		s[i], s[small] = s[small], s[i]
		i = small
	}
	*h = s
	return top
}
