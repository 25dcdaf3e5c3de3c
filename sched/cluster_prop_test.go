package sched

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

var models = []string{"NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-40GB"}

// randomGPUs is a node's GPUs: on two NUMA nodes, linked by NVLink in
// pairs, all to all (NVSwitch), or not at all.
func randomGPUs(rng *rand.Rand, n int, model string) []GPU {
	gs := make([]GPU, n)
	wiring := rng.IntN(3)
	for k := range gs {
		gs[k] = GPU{Index: k, Model: model, MemoryMiB: 40960, NUMANode: k * 2 / max(n, 1)}
		for p := range n {
			switch {
			case p == k:
			case wiring == 1 && p/2 == k/2:
				gs[k].Links = append(gs[k].Links, GPULink{Peer: p, NVLinks: 4})
			case wiring == 2:
				gs[k].Links = append(gs[k].Links, GPULink{Peer: p, NVLinks: 18})
			}
		}
	}
	return gs
}

// randomCluster is a small heterogeneous cluster with everything the
// model has: GPUs with topology, NUMA, weights, switches, node states,
// features, running gangs, suspended jobs, windows, queues that preempt
// and limit, priorities, and a queue of jobs of every span.
func randomCluster(rng *rand.Rand) Snapshot {
	snap := Snapshot{Now: t0, Policy: Policy(rng.IntN(3))}
	nodes := rng.IntN(7)
	for i := range nodes {
		n := Node{Name: fmt.Sprintf("n%d", i), MemoryBytes: int64(1+rng.IntN(8)) << 30, Weight: rng.IntN(3),
			Switch: fmt.Sprintf("s%d", rng.IntN(2))}
		cores := 2 * (1 + rng.IntN(6))
		if rng.IntN(4) > 0 {
			n.CPUs = rng.Perm(cores)
			if rng.IntN(2) == 0 {
				n.NUMA = []NUMANode{{ID: 0, CPUs: n.CPUs[:cores/2]}, {ID: 1, Socket: 1, CPUs: n.CPUs[cores/2:]}}
			}
		} else {
			n.Cores = cores
		}
		if rng.IntN(2) == 0 {
			n.GPUs = randomGPUs(rng, []int{1, 2, 4, 8}[rng.IntN(4)], models[rng.IntN(2)])
			if rng.IntN(4) == 0 && len(n.GPUs) > 1 {
				n.GPUs[0].Model = models[1] // a mixed node
			}
		}
		if rng.IntN(3) == 0 {
			n.Features = []string{"ib"}
		}
		if rng.IntN(6) == 0 {
			n.State = NodeState(1 + rng.IntN(3))
		}
		snap.Nodes = append(snap.Nodes, n)
	}
	// Running jobs, some across two nodes.
	type free struct {
		cpus, gpus []int
		cores      int
		mem        int64
	}
	fr := make([]free, nodes)
	for i, n := range snap.Nodes {
		fr[i] = free{cpus: slices.Clone(n.CPUs), cores: max(n.Cores, len(n.CPUs)), mem: n.MemoryBytes}
		for _, g := range n.GPUs {
			fr[i].gpus = append(fr[i].gpus, g.Index)
		}
	}
	queues := []string{"", "low", "high"}
	var id int64 = 1000
	for range rng.IntN(3 * (nodes + 1)) {
		if nodes == 0 {
			break
		}
		id++
		span := 1 + rng.IntN(min(2, nodes))
		first := rng.IntN(nodes)
		start := at(-rng.IntN(100))
		wall := time.Duration(0)
		if rng.IntN(6) > 0 {
			wall = sec(1 + rng.IntN(200))
		}
		q, user, suspended := queues[rng.IntN(3)], fmt.Sprintf("u%d", rng.IntN(3)), rng.IntN(10) == 0
		for m := range span {
			i := (first + m) % nodes
			f := &fr[i]
			if f.cores == 0 {
				continue
			}
			c := 1 + rng.IntN(f.cores)
			a := Allocation{Job: id, Node: snap.Nodes[i].Name, MemoryBytes: rng.Int64N(f.mem/2 + 1), Start: start, Walltime: wall,
				Queue: q, User: user, Suspended: suspended}
			f.mem -= a.MemoryBytes
			if suspended {
				snap.Running = append(snap.Running, a)
				continue
			}
			if f.cpus != nil {
				a.CPUs, f.cpus = f.cpus[:c], f.cpus[c:]
			} else {
				a.Cores = c
			}
			f.cores -= c
			if g := rng.IntN(len(f.gpus) + 1); g > 0 {
				a.GPUs, f.gpus = f.gpus[:g], f.gpus[g:]
			}
			snap.Running = append(snap.Running, a)
		}
	}
	for range rng.IntN(3) {
		w := Window{Name: "maint", Start: at(rng.IntN(300) - 50)}
		if rng.IntN(3) > 0 {
			w.End = w.Start.Add(sec(1 + rng.IntN(200)))
		}
		if nodes > 0 && rng.IntN(3) > 0 {
			w.Nodes = []string{snap.Nodes[rng.IntN(nodes)].Name}
		}
		snap.Windows = append(snap.Windows, w)
	}
	if rng.IntN(2) == 0 {
		snap.Queues = []Queue{{Name: "low", Priority: 1}, {Name: "high", Priority: 10, Preempts: []string{"low"}, PreemptMode: PreemptAction(rng.IntN(2))}}
		if rng.IntN(3) == 0 {
			snap.Queues[0].MaxRunningPerUser = 1 + rng.IntN(2)
			snap.Queues[1].MaxCoresPerUser = 1 + rng.IntN(12)
		}
	}
	if rng.IntN(3) == 0 {
		snap.Priority = DefaultPriority()
		snap.Priority.Usage = []Usage{{User: "u1", Group: "g1", Value: 1000, At: at(-86400)}}
	}
	for k := range rng.IntN(25) {
		j := &Job{ID: int64(k + 1), Cores: int32(rng.IntN(6)), MemoryBytes: rng.Int64N(3 << 30), Queue: queues[rng.IntN(3)],
			User: fmt.Sprintf("u%d", rng.IntN(3)), Group: fmt.Sprintf("g%d", rng.IntN(2)), Submit: StampOf(at(-rng.IntN(1000)))}
		if rng.IntN(8) > 0 {
			j.Walltime = sec(1 + rng.IntN(150))
		}
		if rng.IntN(3) == 0 {
			j.GPUs = int32(1 + rng.IntN(4))
			if rng.IntN(3) == 0 {
				j.GPUModel = "h100"
			}
		}
		switch rng.IntN(6) {
		case 0:
			j.Tasks, j.TasksPerNode = int32(1+rng.IntN(4)), int32(1+rng.IntN(2))
		case 1:
			j.Nodes = int32(1 + rng.IntN(3))
			j.Tasks = int32(rng.IntN(5))
		case 2:
			j.Tasks = int32(1 + rng.IntN(3))
		}
		switch rng.IntN(20) {
		case 0:
			j.Exclusive = true
		case 1:
			j.Held = true
		case 2:
			j.Begin = StampOf(at(rng.IntN(100)))
		case 3:
			j.Features = []string{"ib"}
		}
		snap.Pending = append(snap.Pending, j)
	}
	return snap
}

// TestClusterProperties checks random heterogeneous snapshots under every
// policy: nothing is double-booked at any instant (cores, memory, GPU
// counts and ids, CPU ids), gangs are all or nothing and over one window,
// windows are never crossed, the snapshot is not mutated, the plan is
// deterministic (checkedSchedule); and, without priority reordering,
// a job's reservation does not depend on the jobs behind it.
func TestClusterProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for i := range 3000 {
		snap := randomCluster(rng)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			plan := checkedSchedule(t, snap)
			if snap.Priority != nil {
				return
			}
			seen := map[int64]bool{}
			for _, r := range plan.Reservations {
				if seen[r.Job] {
					continue
				}
				seen[r.Job] = true
				k := slices.IndexFunc(snap.Pending, func(j *Job) bool { return j.ID == r.Job })
				prefix := snap
				prefix.Pending = snap.Pending[:k+1]
				var mine, alone []Reservation
				for _, x := range plan.Reservations {
					if x.Job == r.Job {
						mine = append(mine, x)
					}
				}
				for _, x := range Schedule(prefix).Reservations {
					if x.Job == r.Job {
						alone = append(alone, x)
					}
				}
				if !reflect.DeepEqual(mine, alone) {
					t.Fatalf("%v: job %d is reserved at %+v with the jobs behind it, %+v without", snap.Policy, r.Job, mine, alone)
				}
			}
		})
	}
}

// TestNoDeadlock replays random workloads of gangs and small jobs on
// random clusters, pass after pass, moving the clock to the next end,
// and wants every job that fits the cluster to start: gangs never
// deadlock each other or starve.
func TestNoDeadlock(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for i := range 200 {
		snap := randomCluster(rng)
		snap.Windows, snap.Running, snap.Priority = nil, nil, nil
		if snap.Policy == FCFS {
			snap.Policy = EASY
		}
		for k := range snap.Nodes {
			snap.Nodes[k].State = NodeUp
		}
		var pending []*Job
		for _, j := range snap.Pending {
			j.Held, j.Begin = false, 0
			j.Walltime = sec(1 + rng.IntN(100))
			pending = append(pending, j)
		}
		snap.Pending = pending
		// Jobs that can never fit leave at once; the others must start.
		if len(snap.Nodes) > 0 {
			probe := snap
			probe.Quiet = false
			for _, w := range Schedule(probe).Waits {
				if w.Reason == ReasonTooLarge || w.Reason == ReasonInvalid || w.Reason == ReasonLimit {
					snap.Pending = slices.DeleteFunc(snap.Pending, func(j *Job) bool { return j.ID == w.Job })
				}
			}
		} else {
			snap.Pending = nil
		}
		for step := 0; len(snap.Pending) > 0; step++ {
			if step > 10*len(pending)+10 {
				t.Fatalf("case %d (%v): %d jobs never start: %+v", i, snap.Policy, len(snap.Pending), snap.Pending)
			}
			plan := checkedSchedule(t, snap)
			for _, v := range plan.Preemptions {
				snap.Running = slices.DeleteFunc(snap.Running, func(a Allocation) bool { return a.Job == v.Job })
			}
			started := map[int64]bool{}
			for _, a := range plan.Starts {
				snap.Running = append(snap.Running, a)
				started[a.Job] = true
			}
			snap.Pending = slices.DeleteFunc(snap.Pending, func(j *Job) bool { return started[j.ID] })
			// Move to the next end; the jobs then end (some early).
			next := time.Time{}
			for _, a := range snap.Running {
				if e := a.Start.Add(a.Walltime); next.IsZero() || e.Before(next) {
					next = e
				}
			}
			if next.IsZero() {
				if len(plan.Starts) == 0 {
					t.Fatalf("case %d (%v): nothing runs and nothing starts: %+v", i, snap.Policy, snap.Pending)
				}
				continue
			}
			snap.Now = next
			snap.Running = slices.DeleteFunc(snap.Running, func(a Allocation) bool { return !a.Start.Add(a.Walltime).After(next) })
			if snap.Policy == Conservative {
				snap.Reservations = plan.Reservations
			}
		}
	}
}
