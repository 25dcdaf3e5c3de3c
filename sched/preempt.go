package sched

import (
	"cmp"
	"slices"
	"time"
)

// Preemption. A job whose queue names others in Queue.Preempts, and that
// cannot start now, may stop running jobs of those queues to start at
// once. For each node that can hold a member of it, the victims are
// chosen to lose the least work: running jobs of preemptable queues on
// that node, shortest elapsed run time first, until the member fits now
// for its whole walltime (without touching any reservation), then those
// not needed after all are given back, longest first. The job takes the
// nodes whose victims lose least (ties: cheaper node, then snapshot
// order). A victim is stopped as a whole, on all its nodes (a gang
// together), with its preemptor's queue's PreemptMode: a requeued victim
// gives back everything; a suspended one keeps its memory. In this
// pass's view a suspended victim's memory is held until its expected
// end; from the next pass on, the caller reports it Suspended, which
// holds its memory until it is resumed.

// preemptor holds the running jobs a pass may preempt.
type preemptor struct {
	runs   []prun
	byJob  map[int64][]int
	byNode map[int][]int
	done   map[int64]bool
}

// prun is one running allocation as a possible victim.
type prun struct {
	alloc   int // index in Snapshot.Running
	node    int
	held    vec
	end     int64
	job     int64
	queue   string
	elapsed int64
}

func (p *preemptor) add(ps *pass, k, node int, held vec, end int64) {
	a := &ps.snap.Running[k]
	if a.Suspended {
		return
	}
	if p.byJob == nil {
		p.byJob, p.byNode, p.done = map[int64][]int{}, map[int][]int{}, map[int64]bool{}
	}
	var elapsed int64
	if !a.Start.IsZero() {
		elapsed = max(int64(ps.snap.Now.Sub(a.Start)), 0)
	}
	r := len(p.runs)
	p.runs = append(p.runs, prun{alloc: k, node: node, held: held, end: end, job: a.Job, queue: a.Queue, elapsed: elapsed})
	p.byJob[a.Job] = append(p.byJob[a.Job], r)
	p.byNode[node] = append(p.byNode[node], r)
}

// freed is what a victim gives back under action: everything, or all
// but its memory when suspended.
func freed(r *prun, action PreemptAction) vec {
	v := r.held
	if action == Suspend {
		v[resMemory] = 0
	}
	return v
}

// preempt tries to start g now by preempting; it reports whether it did.
// ps.elig must be g's.
func (ps *pass) preempt(g *gang) bool {
	q := ps.queues[g.job.Queue]
	p := ps.pre
	if q == nil || len(q.Preempts) == 0 || p.byJob == nil {
		return false
	}
	type option struct {
		node, weight int
		cost         int64
		victims      []int64
	}
	var opts []option
	end := after(0, g.dur)
	for _, ci := range ps.elig {
		c := &ps.classes[ci]
		if c.mixed && gpuFiltered(g.job) && g.big[resGPUs] > 0 {
			continue // which GPUs a victim frees is not known here
		}
		need := g.need(c)
		for _, i := range c.nodes {
			prof := &ps.nodes[i].prof
			fits := func() bool { return prof.steps[0].free.covers(need) && prof.blocked(need, 0, end) < 0 }
			if fits() {
				opts = append(opts, option{node: i, weight: c.weight})
				continue
			}
			var cand []int
			for _, r := range p.byNode[i] {
				if !p.done[p.runs[r].job] && slices.Contains(q.Preempts, p.runs[r].queue) {
					cand = append(cand, r)
				}
			}
			if len(cand) == 0 {
				continue
			}
			slices.SortFunc(cand, func(a, b int) int {
				if c := cmp.Compare(p.runs[a].elapsed, p.runs[b].elapsed); c != 0 {
					return c
				}
				return cmp.Compare(p.runs[a].job, p.runs[b].job)
			})
			var took []int
			for _, r := range cand {
				if fits() {
					break
				}
				v := freed(&p.runs[r], q.PreemptMode)
				prof.release(&v, 0, p.runs[r].end)
				took = append(took, r)
			}
			if fits() {
				// Give back those not needed, longest first.
				for x := len(took) - 1; x >= 0; x-- {
					v := freed(&p.runs[took[x]], q.PreemptMode)
					prof.reserve(&v, 0, p.runs[took[x]].end)
					if fits() {
						took = slices.Delete(took, x, x+1)
					} else {
						prof.release(&v, 0, p.runs[took[x]].end)
					}
				}
				o := option{node: i, weight: c.weight}
				for _, r := range took {
					if !slices.Contains(o.victims, p.runs[r].job) {
						o.victims = append(o.victims, p.runs[r].job)
						o.cost += p.runs[r].elapsed
					}
				}
				opts = append(opts, o)
			}
			for _, r := range took {
				v := freed(&p.runs[r], q.PreemptMode)
				prof.reserve(&v, 0, p.runs[r].end)
			}
		}
	}
	m := g.n
	if len(opts) < m {
		return false
	}
	slices.SortFunc(opts, func(a, b option) int {
		if c := cmp.Compare(a.cost, b.cost); c != 0 {
			return c
		}
		if c := cmp.Compare(a.weight, b.weight); c != 0 {
			return c
		}
		return cmp.Compare(a.node, b.node)
	})
	nodes := make([]int, m)
	var victims []int64
	for x, o := range opts[:m] {
		nodes[x] = o.node
		for _, v := range o.victims {
			if !slices.Contains(victims, v) {
				victims = append(victims, v)
			}
		}
	}
	if len(victims) == 0 {
		return false // it fits without victims; not a preemption case
	}
	slices.Sort(victims)
	for _, v := range victims {
		ps.stop(v, q.PreemptMode, g.job.ID)
	}
	slices.Sort(nodes)
	for _, i := range nodes {
		if !ps.okNow(g, i, g.need(&ps.classes[ps.nodes[i].class])) || !ps.nodes[i].prof.steps[0].free.covers(g.need(&ps.classes[ps.nodes[i].class])) {
			panic("sched: preemption freed too little") // the checks above make this impossible
		}
	}
	ps.hold(g, nodes, 0)
	ps.start(g, nodes)
	return true
}

// stop preempts running job v on all its nodes for job by.
func (ps *pass) stop(v int64, action PreemptAction, by int64) {
	p := ps.pre
	p.done[v] = true
	pr := Preemption{Job: v, Action: action, By: by}
	for _, r := range p.byJob[v] {
		run := &p.runs[r]
		st := &ps.nodes[run.node]
		f := freed(run, action)
		st.prof.release(&f, 0, run.end)
		a := &ps.snap.Running[run.alloc]
		if st.named {
			for _, c := range a.CPUs {
				if pos, found := slices.BinarySearch(st.ids, c); !found && slices.Contains(st.node.CPUs, c) {
					st.ids = slices.Insert(st.ids, pos, c)
				}
			}
		}
		for _, gi := range a.GPUs {
			for k := range st.node.GPUs {
				if st.node.GPUs[k].Index == gi {
					if pos, found := slices.BinarySearch(st.gpus, k); !found {
						st.gpus = slices.Insert(st.gpus, pos, k)
					}
				}
			}
		}
		ps.touch(run.node)
		if !slices.Contains(pr.Nodes, st.name) {
			pr.Nodes = append(pr.Nodes, st.name)
		}
		pr.Lost = time.Duration(run.elapsed)
	}
	ps.plan.Preemptions = append(ps.plan.Preemptions, pr)
}
