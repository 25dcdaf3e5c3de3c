package sched

import (
	"cmp"
	"slices"
	"time"
)

// Schedule runs one scheduling pass over snap with snap.Policy and returns
// its decisions. It is pure: it reads no clock (snap.Now is the time), does
// no I/O, starts no goroutines, never modifies snap, and the same Snapshot
// always gives the same Plan.
func Schedule(snap Snapshot) Plan {
	ps := newPass(&snap)
	switch snap.Policy {
	case FCFS:
		ps.ordered(false)
	case Conservative:
		ps.conservative()
	default:
		ps.ordered(true)
	}
	return ps.plan
}

// Inside a pass, times are nanoseconds after snap.Now (which is 0), so a
// zero or far-away time.Time cannot overflow: time.Time.Sub saturates.

// nodeState is one node during a pass.
type nodeState struct {
	name string
	cap  vec
	prof profile
	// ids are the free CPU ids now, ascending; nil on an anonymous node.
	ids   []int
	named bool
}

// pass is the working state of one Schedule call. It owns copies of
// everything it changes; the Snapshot is only read.
type pass struct {
	snap  *Snapshot
	nodes []nodeState
	index map[string]int
	// capMin and capMax bound the nodes' capacities, component by
	// component: a request capMin covers fits an empty node of any kind;
	// one capMax does not cover fits none.
	capMin, capMax vec
	// nowMax bounds what any node has free now; stale after a start until
	// recomputed.
	nowMax   vec
	nowStale bool
	plan     Plan
}

func newPass(snap *Snapshot) *pass {
	ps := &pass{
		snap:  snap,
		nodes: make([]nodeState, len(snap.Nodes)),
		index: make(map[string]int, len(snap.Nodes)),
	}
	if !snap.Quiet {
		ps.plan.Waiting = make(map[int64]string)
	}
	for i, n := range snap.Nodes {
		st := &ps.nodes[i]
		st.name = n.Name
		if len(n.CPUs) > 0 {
			st.ids = slices.Compact(slices.Sorted(slices.Values(n.CPUs)))
			st.named = true
			st.cap[resCores] = int64(len(st.ids))
		} else {
			st.cap[resCores] = int64(max(n.Cores, 0))
		}
		st.cap[resMemory] = max(n.MemoryBytes, 0)
		if _, dup := ps.index[n.Name]; !dup {
			ps.index[n.Name] = i
		}
		if i == 0 {
			ps.capMin, ps.capMax = st.cap, st.cap
		}
		for r := range nres {
			ps.capMin[r] = min(ps.capMin[r], st.cap[r])
			ps.capMax[r] = max(ps.capMax[r], st.cap[r])
		}
	}
	ps.buildProfiles()
	return ps
}

// release is what a running job gives back, and when.
type releaseAt struct {
	node int
	at   int64
	held vec
}

// buildProfiles turns the running allocations into each node's profile:
// free now is capacity less everything held; each job's expected end gives
// its resources back.
func (ps *pass) buildProfiles() {
	snap := ps.snap
	used := make([]vec, len(ps.nodes))
	var ends []releaseAt
	for k := range snap.Running {
		a := &snap.Running[k]
		i, ok := ps.index[a.Node]
		if !ok {
			continue // its node is down or gone; it holds nothing schedulable
		}
		st := &ps.nodes[i]
		var held vec
		if st.named {
			for _, c := range a.CPUs {
				if pos, found := slices.BinarySearch(st.ids, c); found {
					st.ids = slices.Delete(st.ids, pos, pos+1)
					held[resCores]++
				}
			}
		} else if len(a.CPUs) > 0 {
			held[resCores] = int64(len(a.CPUs))
		} else {
			held[resCores] = int64(max(a.Cores, 0))
		}
		held[resMemory] = max(a.MemoryBytes, 0)
		used[i].add(&held)
		if end := ps.expectedEnd(a); end != never {
			ends = append(ends, releaseAt{node: i, at: end, held: held})
		}
	}
	slices.SortFunc(ends, func(x, y releaseAt) int {
		if c := cmp.Compare(x.node, y.node); c != 0 {
			return c
		}
		return cmp.Compare(x.at, y.at)
	})
	e := 0
	for i := range ps.nodes {
		st := &ps.nodes[i]
		n := 1
		for k := e; k < len(ends) && ends[k].node == i; k++ {
			n++
		}
		steps := make([]step, 1, n+8)
		steps[0].free = st.cap
		steps[0].free.sub(&used[i])
		for ; e < len(ends) && ends[e].node == i; e++ {
			last := &steps[len(steps)-1]
			if ends[e].at == last.at {
				last.free.add(&ends[e].held)
				continue
			}
			next := step{at: ends[e].at, free: last.free}
			next.free.add(&ends[e].held)
			steps = append(steps, next)
		}
		st.prof.steps = steps
	}
	ps.nowStale = true
}

// expectedEnd is when a running job is expected to give its resources
// back: never without a walltime; OverrunGrace from now if it is past its
// walltime.
func (ps *pass) expectedEnd(a *Allocation) int64 {
	if a.Walltime <= 0 {
		return never
	}
	var start int64
	if !a.Start.IsZero() {
		start = int64(a.Start.Sub(ps.snap.Now))
	}
	end := after(start, int64(a.Walltime))
	if end <= 0 {
		end = int64(OverrunGrace)
	}
	return end
}

// request is what a pending job asks for: a resource vector, and for how
// long (never: no walltime).
func request(j *Job) (req vec, dur int64) {
	req[resCores] = int64(max(j.Cores, 1))
	req[resMemory] = max(j.MemoryBytes, 0)
	if j.Walltime <= 0 {
		return req, never
	}
	return req, int64(j.Walltime)
}

// fitsSomeNode reports whether some node, empty, could hold req.
func (ps *pass) fitsSomeNode(req *vec) bool {
	if len(ps.nodes) == 0 || !ps.capMax.covers(req) {
		return false
	}
	if ps.capMin.covers(req) {
		return true
	}
	for i := range ps.nodes {
		if ps.nodes[i].cap.covers(req) {
			return true
		}
	}
	return false
}

// freeNowBound returns, component by component, the most any node has free
// now.
func (ps *pass) freeNowBound() *vec {
	if ps.nowStale {
		ps.nowMax = vec{}
		for i := range ps.nodes {
			f := &ps.nodes[i].prof.steps[0].free
			for r := range nres {
				ps.nowMax[r] = max(ps.nowMax[r], f[r])
			}
		}
		ps.nowStale = false
	}
	return &ps.nowMax
}

// fitNow returns the first node, in snapshot order, on which req can start
// now and hold for dur without delaying any reservation; -1 if none.
func (ps *pass) fitNow(req *vec, dur int64) int {
	if !ps.freeNowBound().covers(req) {
		return -1
	}
	end := after(0, dur)
	for i := range ps.nodes {
		p := &ps.nodes[i].prof
		if p.steps[0].free.covers(req) && p.blocked(req, 0, end) < 0 {
			return i
		}
	}
	return -1
}

// freeNowSomewhere reports whether some node has req free at this instant,
// reservations aside.
func (ps *pass) freeNowSomewhere(req *vec) bool {
	if !ps.freeNowBound().covers(req) {
		return false
	}
	for i := range ps.nodes {
		if ps.nodes[i].prof.steps[0].free.covers(req) {
			return true
		}
	}
	return false
}

// earliestNode returns the node where req can start soonest (ties: the
// first in snapshot order) and when; -1 and never if on none.
func (ps *pass) earliestNode(req *vec, dur int64) (int, int64) {
	best, bestAt := -1, never
	for i := range ps.nodes {
		st := &ps.nodes[i]
		if !st.cap.covers(req) {
			continue
		}
		if at := st.prof.earliest(req, dur, 0); at < bestAt {
			best, bestAt = i, at
			if at == 0 {
				break
			}
		}
	}
	return best, bestAt
}

// hold takes req on node i from at for dur in the pass's profiles.
func (ps *pass) hold(i int, req *vec, at, dur int64) {
	ps.nodes[i].prof.reserve(req, at, after(at, dur))
	if at == 0 {
		ps.nowStale = true
	}
}

// unhold gives back what hold took.
func (ps *pass) unhold(i int, req *vec, at, dur int64) {
	ps.nodes[i].prof.release(req, at, after(at, dur))
	if at == 0 {
		ps.nowStale = true
	}
}

// start records j as started now on node i, which already holds it in the
// profile, with the lowest free CPU ids of a node that has ids.
func (ps *pass) start(j *Job, i int, req *vec) {
	st := &ps.nodes[i]
	a := Allocation{
		Job:         j.ID,
		Node:        st.name,
		Cores:       int(req[resCores]),
		MemoryBytes: req[resMemory],
		Start:       ps.snap.Now,
		Walltime:    max(j.Walltime, 0),
	}
	if st.named {
		a.CPUs = slices.Clone(st.ids[:a.Cores])
		st.ids = st.ids[a.Cores:]
	}
	ps.plan.Starts = append(ps.plan.Starts, a)
}

// at converts a pass time to wall-clock time.
func (ps *pass) at(t int64) time.Time {
	return ps.snap.Now.Add(time.Duration(t))
}

// reserve records j's reservation on node i at the pass time at.
func (ps *pass) reserve(j *Job, i int, req *vec, at, dur int64) {
	r := Reservation{
		Job:         j.ID,
		Node:        ps.nodes[i].name,
		Start:       ps.at(at),
		Cores:       int(req[resCores]),
		MemoryBytes: req[resMemory],
	}
	if end := after(at, dur); end != never {
		r.End = ps.at(end)
	}
	ps.plan.Reservations = append(ps.plan.Reservations, r)
}

// wait records why j did not start, and when it is expected to (node -1
// or at never: unknown).
func (ps *pass) wait(j *Job, why Reason, req *vec, node int, at int64) {
	if ps.snap.Quiet {
		return
	}
	if len(ps.nodes) == 0 {
		why = ReasonNoNodes
	}
	w := Wait{Job: j.ID, Reason: why}
	if node >= 0 && at != never {
		w.Start, w.Node = ps.at(at), ps.nodes[node].name
	}
	ps.plan.Waits = append(ps.plan.Waits, w)
	ps.plan.Waiting[j.ID] = explain(why, int(req[resCores]), req[resMemory])
}

// ordered is FCFS (backfill false) and EASY (backfill true). Jobs start in
// queue order while they fit. The first that does not is the head: it is
// given a reservation at its earliest fit (its shadow time, on the node
// where that is soonest). Under FCFS every later job waits; under EASY a
// later job starts if it fits now and until its expected end without
// taking anything the reservation needs, which is the classic rule: it
// either ends by the shadow time, or uses only the processors the head
// leaves over at the shadow time (the extra ones), which it then consumes.
// The profile gives both at once, and for many nodes and resources.
func (ps *pass) ordered(backfill bool) {
	blocked := false
	for k := range ps.snap.Pending {
		j := &ps.snap.Pending[k]
		req, dur := request(j)
		if !ps.fitsSomeNode(&req) {
			ps.wait(j, ReasonTooLarge, &req, -1, never)
			continue
		}
		if !blocked || backfill {
			if i := ps.fitNow(&req, dur); i >= 0 {
				ps.hold(i, &req, 0, dur)
				ps.start(j, i, &req)
				continue
			}
		}
		if !blocked {
			blocked = true
			i, at := ps.earliestNode(&req, dur)
			if i >= 0 && at != never {
				ps.hold(i, &req, at, dur)
				ps.reserve(j, i, &req, at, dur)
			}
			ps.wait(j, ReasonResources, &req, i, at)
			continue
		}
		why := ReasonResources
		if !backfill || ps.freeNowSomewhere(&req) {
			why = ReasonPriority
		}
		ps.wait(j, why, &req, -1, never)
	}
}

// placed is a pending job's reservation during a Conservative pass.
type placed struct {
	node int   // -1: none
	at   int64 // when, from node's profile
}

// conservative gives every job a reservation at its earliest fit, in queue
// order, keeping the snapshot's held reservations that are still valid,
// compressing them first if asked; jobs reserved at now start.
func (ps *pass) conservative() {
	pend := ps.snap.Pending
	slots := make([]placed, len(pend))
	for k := range slots {
		slots[k].node = -1
	}
	ps.keepHeld(slots)

	if ps.snap.Compress {
		for k := range pend {
			s := &slots[k]
			if s.node < 0 {
				continue
			}
			req, dur := request(&pend[k])
			ps.unhold(s.node, &req, s.at, dur)
			// Its own node first, so that it moves only to gain time.
			at := ps.nodes[s.node].prof.earliest(&req, dur, 0)
			node := s.node
			for i := range ps.nodes {
				if i == s.node || !ps.nodes[i].cap.covers(&req) {
					continue
				}
				if t := ps.nodes[i].prof.earliest(&req, dur, 0); t < at {
					node, at = i, t
				}
			}
			ps.hold(node, &req, at, dur)
			s.node, s.at = node, at
		}
	}

	for k := range pend {
		s := &slots[k]
		if s.node >= 0 {
			continue
		}
		req, dur := request(&pend[k])
		if !ps.fitsSomeNode(&req) {
			continue
		}
		if i, at := ps.earliestNode(&req, dur); i >= 0 && at != never {
			ps.hold(i, &req, at, dur)
			s.node, s.at = i, at
		}
	}

	for k := range pend {
		j, s := &pend[k], slots[k]
		req, dur := request(j)
		switch {
		case s.node >= 0 && s.at == 0:
			ps.start(j, s.node, &req)
		case s.node >= 0:
			ps.reserve(j, s.node, &req, s.at, dur)
			ps.wait(j, ReasonResources, &req, s.node, s.at)
		case !ps.fitsSomeNode(&req):
			ps.wait(j, ReasonTooLarge, &req, -1, never)
		default:
			ps.wait(j, ReasonResources, &req, -1, never)
		}
	}
}

// keepHeld puts the snapshot's held reservations that are still valid into
// the profiles and slots, in queue order. A reservation is valid if its job
// is pending, its node is there and can hold the job, it does not start in
// the past, and it fits alongside the running jobs and the reservations
// kept before it.
func (ps *pass) keepHeld(slots []placed) {
	held := ps.snap.Reservations
	if len(held) == 0 {
		return
	}
	pend := ps.snap.Pending
	// The replayer hands them back in queue order, a subsequence of
	// Pending: match them in one walk, else by a map.
	match := make([]int, len(pend))
	r := 0
	for k := range pend {
		match[k] = -1
		if r < len(held) && held[r].Job == pend[k].ID {
			match[k] = r
			r++
		}
	}
	if r != len(held) {
		byJob := make(map[int64]int, len(held))
		for h := len(held) - 1; h >= 0; h-- {
			byJob[held[h].Job] = h
		}
		for k := range pend {
			match[k] = -1
			if h, ok := byJob[pend[k].ID]; ok {
				match[k] = h
			}
		}
	}
	for k := range pend {
		if match[k] < 0 {
			continue
		}
		h := &held[match[k]]
		i, ok := ps.index[h.Node]
		if !ok {
			continue
		}
		req, dur := request(&pend[k])
		p := &ps.nodes[i].prof
		at := int64(h.Start.Sub(ps.snap.Now))
		if at < 0 || !ps.nodes[i].cap.covers(&req) || p.blocked(&req, p.find(at), after(at, dur)) >= 0 {
			continue
		}
		ps.hold(i, &req, at, dur)
		slots[k] = placed{node: i, at: at}
	}
}
