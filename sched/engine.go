package sched

import (
	"cmp"
	"slices"
	"time"
)

// Schedule runs one scheduling pass over snap with snap.Policy and returns
// its decisions. It is pure: snap.Now is the time, it does no I/O, never
// modifies snap, and the same Snapshot always gives the same Plan. A
// large Conservative pass may run in two goroutines (see conservativeLanes),
// which end before it returns.
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
	node *Node
	name string
	cap  vec
	prof profile
	// ids are the free CPU ids now, ascending; nil on an anonymous node.
	ids   []int
	named bool
	// free marks free ids (from ids0) while running jobs are read.
	free []bool
	ids0 int
	// gpus are the free GPUs now, as positions in node.GPUs, ascending.
	gpus []int
	// class and pos: the node's up class and its position there; -1 if
	// the node is not up.
	class, pos int
	// group is the node's topology group for gangs (see topoLabel),
	// numbered when the pass's first gang picks its nodes (groupCands).
	group int
	// windows are the maintenance windows on the node, [start, end).
	windows [][2]int64
	gtopo   *gpuTopo
	// numaOf (from numaBase on), or numaMap: the NUMA node of each CPU
	// id, built on first use (numaLookup).
	numaOf   []int32
	numaBase int
	numaMap  map[int]int
}

// pass is the working state of one Schedule call. It owns copies of
// everything it changes; the Snapshot is only read.
type pass struct {
	snap  *Snapshot
	nodes []nodeState
	index map[string]int
	// classes are the up classes in placement order (weight, then first
	// node); down are the others.
	classes, down []class
	// order is the queue order, as indexes into snap.Pending; nil: as
	// given.
	order []int
	// queues by name; nil when the snapshot names none.
	queues map[string]*Queue
	// selects: some queue has a node selector (Queue.Features).
	selects bool
	// use counts what runs per queue and user, for the queues' limits;
	// nil when no queue has one.
	use map[userKey]*userUse
	pre *preemptor
	// wantIndex: this Conservative pass may search by start indexes, and
	// will once a job does not fit now and they are worth building (see
	// earliest); haveIndex: every up class has its own.
	wantIndex, haveIndex bool
	// lanes, when set, is the lane of each class, by class (see
	// conservativeLanes).
	lanes []int8
	// cur is the job ordered is at, in the pass rather than allocated
	// per job.
	cur gang
	scratch
	plan Plan
	// reasons interns the waiting jobs' reasons: many jobs of the same
	// shape wait for the same one. shaped holds the texts that depend on
	// the reason and the job's shape alone, so that they are written
	// once per shape, not once per job.
	reasons map[string]string
	shaped  map[shapedReason]string
}

// scratch is a pass's space for one job's search, reused across jobs.
// A lane (see conservativeLanes) has its own.
type scratch struct {
	elig  []int
	cands []int
	one   [1]int
	// A gang's earliest-fit search: its nodes, their needs, their
	// earliest fits (or bounds), and the smallest of these.
	gnodes  []int
	gneeds  []*vec
	gf      []int64
	gexact  []bool
	gsorted []int64
	// A gang's search by start indexes: the nodes with an open run.
	runs []openRun
	open []bool
	// search is earliestOne's, and gcurs are earliestGang's cursors,
	// kept for the next job.
	search search
	gcurs  []gangCursor
	// groupSlot[g] is topology group g's place in pick's groups while it
	// runs, else -1; pickGroups and pickNodes are pick's, kept for the
	// next gang.
	groupSlot  []int
	pickGroups []pickGroup
	pickNodes  []int
}

// shapedReason is what the text of a wait whose reason is
// ReasonResources, ReasonPriority, ReasonDrained or ReasonMaintenance
// depends on (see explain).
type shapedReason struct {
	why       Reason
	blockedBy int64
	total     vec
	n         int
}

func newPass(snap *Snapshot) *pass {
	ps := &pass{
		snap:  snap,
		nodes: make([]nodeState, len(snap.Nodes)),
		index: make(map[string]int, len(snap.Nodes)),
	}
	if !snap.Quiet {
		// Sized for all (most wait on a busy cluster), so that it does
		// not grow by copying during the pass; so are the Waits (wait).
		ps.plan.Waiting = make([]JobReason, 0, len(snap.Pending))
		ps.reasons = map[string]string{}
		ps.shaped = map[shapedReason]string{}
	}
	for i := range snap.Nodes {
		n := &snap.Nodes[i]
		st := &ps.nodes[i]
		st.node, st.name, st.class, st.pos = n, n.Name, -1, -1
		if len(n.CPUs) > 0 {
			st.ids = slices.Clone(n.CPUs)
			if !strictlyIncreasing(st.ids) {
				slices.Sort(st.ids)
				st.ids = slices.Compact(st.ids)
			}
			st.named = true
			st.cap[resCores] = int64(len(st.ids))
		} else {
			st.cap[resCores] = int64(max(n.Cores, 0))
		}
		st.cap[resMemory] = max(n.MemoryBytes, 0)
		st.cap[resGPUs] = int64(len(n.GPUs))
		if len(n.GPUs) > 0 {
			st.gpus = make([]int, len(n.GPUs))
			for k := range st.gpus {
				st.gpus[k] = k
			}
		}
		if _, dup := ps.index[n.Name]; !dup {
			ps.index[n.Name] = i
		}
	}
	if len(snap.Queues) > 0 {
		ps.queues = make(map[string]*Queue, len(snap.Queues))
		for k := range snap.Queues {
			q := &snap.Queues[k]
			ps.queues[q.Name] = q
			ps.selects = ps.selects || len(q.Features) > 0
			if q.MaxRunningPerUser > 0 || q.MaxCoresPerUser > 0 || q.MaxGPUsPerUser > 0 {
				ps.use = map[userKey]*userUse{}
			}
			if len(q.Preempts) > 0 {
				ps.pre = &preemptor{}
			}
		}
	}
	ps.buildProfiles()
	ps.applyWindows()
	ps.buildClasses()
	if snap.Priority != nil {
		ps.plan.Priorities, ps.order = prioritize(snap)
	}
	return ps
}

func strictlyIncreasing(s []int) bool {
	for k := 1; k < len(s); k++ {
		if s[k] <= s[k-1] {
			return false
		}
	}
	return true
}

// job returns the k-th pending job in queue order.
func (ps *pass) job(k int) *Job {
	if ps.order != nil {
		return ps.snap.Pending[ps.order[k]]
	}
	return ps.snap.Pending[k]
}

// request is j's gang, with its queue's node selector.
func (ps *pass) request(j *Job) gang {
	g := request(j, len(ps.nodes))
	if ps.selects {
		if q := ps.queues[j.Queue]; q != nil {
			g.sel = q.Features
			g.plain = g.plain && len(g.sel) == 0
		}
	}
	return g
}

// release is what a running job gives back, and when.
type releaseAt struct {
	node int
	at   int64
	held vec
}

// buildProfiles turns the running allocations into each node's profile:
// free now is capacity less everything held; each job's expected end gives
// its resources back. A suspended job holds its memory for ever and
// nothing else.
func (ps *pass) buildProfiles() {
	snap := ps.snap
	used := make([]vec, len(ps.nodes))
	ends := make([]releaseAt, 0, len(snap.Running))
	for k := range snap.Running {
		a := &snap.Running[k]
		i, ok := ps.index[a.Node]
		if !ok {
			continue // its node is down or gone; it holds nothing schedulable
		}
		st := &ps.nodes[i]
		var held vec
		held[resMemory] = max(a.MemoryBytes, 0)
		if !a.Suspended {
			held[resCores], held[resGPUs] = ps.takeIDs(st, a)
		}
		used[i].add(&held)
		end := ps.expectedEnd(a)
		if a.Suspended {
			end = never
		}
		if end != never {
			ends = append(ends, releaseAt{node: i, at: end, held: held})
		}
		if ps.use != nil {
			ps.count(a, &held)
		}
		if ps.pre != nil {
			ps.pre.add(ps, k, i, held, end)
		}
	}
	for i := range ps.nodes {
		if st := &ps.nodes[i]; st.free != nil {
			st.ids = slices.DeleteFunc(st.ids, func(c int) bool { return !st.free[c-st.ids0] })
			st.free = nil
		}
	}
	slices.SortFunc(ends, func(x, y releaseAt) int {
		if c := cmp.Compare(x.node, y.node); c != 0 {
			return c
		}
		return cmp.Compare(x.at, y.at)
	})
	// Room for what the pass adds: Conservative reserves every pending
	// job, a step or two each, so that the profiles do not grow by
	// copying; the others few.
	room := 4
	if snap.Policy == Conservative && len(ps.nodes) > 0 {
		room += min(2*len(snap.Pending)/len(ps.nodes), 64)
	}
	slab := make([]step, len(ps.nodes)*(1+room)+len(ends))
	e := 0
	for i := range ps.nodes {
		st := &ps.nodes[i]
		n := 1
		for k := e; k < len(ends) && ends[k].node == i; k++ {
			n++
		}
		steps := slab[: 1 : n+room]
		slab = slab[n+room:]
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
		st.prof.summed = snap.Policy == Conservative && len(ps.nodes) >= profSumMinNodes
	}
}

// takeIDs removes a running allocation's CPU ids and GPUs from its node's
// free lists and returns how many cores and GPUs it holds.
func (ps *pass) takeIDs(st *nodeState, a *Allocation) (cores, gpus int64) {
	switch {
	case st.named:
		// A bitmap over the node's id range, built on first use; ids
		// are dropped from st.ids once all running jobs are seen.
		if st.free == nil {
			st.ids0 = st.ids[0]
			st.free = make([]bool, st.ids[len(st.ids)-1]-st.ids0+1)
			for _, c := range st.ids {
				st.free[c-st.ids0] = true
			}
		}
		for _, c := range a.CPUs {
			if k := c - st.ids0; k >= 0 && k < len(st.free) && st.free[k] {
				st.free[k] = false
				cores++
			}
		}
	case len(a.CPUs) > 0:
		cores = int64(len(a.CPUs))
	default:
		cores = int64(max(a.Cores, 0))
	}
	for _, g := range a.GPUs {
		for x, k := range st.gpus {
			if st.node.GPUs[k].Index == g {
				st.gpus = slices.Delete(st.gpus, x, x+1)
				gpus++
				break
			}
		}
	}
	return cores, gpus
}

// applyWindows takes each maintenance window's nodes whole for its
// duration, as a reservation no job can share.
func (ps *pass) applyWindows() {
	for _, w := range ps.snap.Windows {
		s := max(int64(w.Start.Sub(ps.snap.Now)), 0)
		e := never
		if !w.End.IsZero() {
			e = int64(w.End.Sub(ps.snap.Now))
		}
		if e <= s {
			continue
		}
		take := func(i int) {
			st := &ps.nodes[i]
			st.prof.reserve(&st.cap, s, e)
			st.windows = append(st.windows, [2]int64{s, e})
		}
		if len(w.Nodes) == 0 {
			for i := range ps.nodes {
				take(i)
			}
			continue
		}
		for _, name := range w.Nodes {
			if i, ok := ps.index[name]; ok {
				take(i)
			}
		}
	}
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

// hold takes g's members on nodes from at for g.dur in the profiles.
func (ps *pass) hold(g *gang, nodes []int, at int64) {
	for m, i := range nodes {
		need := ps.memberNeed(g, m, i)
		ps.nodes[i].prof.reserve(&need, at, after(at, g.dur))
		if at == 0 {
			ps.touch(i)
		}
	}
}

// unhold gives back what hold took.
func (ps *pass) unhold(g *gang, nodes []int, at int64) {
	for m, i := range nodes {
		need := ps.memberNeed(g, m, i)
		ps.nodes[i].prof.release(&need, at, after(at, g.dur))
		if at == 0 {
			ps.touch(i)
		}
	}
}

// memberNeed is what member m of g takes on node i: its own vector (not
// the largest member's), or all of the node if g is exclusive.
func (ps *pass) memberNeed(g *gang, m, i int) vec {
	if g.exclusive {
		return ps.nodes[i].cap
	}
	if g.n == 1 {
		return g.big // its one member, already at hand
	}
	return g.member(m)
}

// start records g as started now on nodes, which already hold it in the
// profiles: specific GPUs and CPU ids on nodes that have them.
func (ps *pass) start(g *gang, nodes []int) {
	j := g.job
	for m, i := range nodes {
		st := &ps.nodes[i]
		need := ps.memberNeed(g, m, i)
		a := Allocation{
			Job:         j.ID,
			Node:        st.name,
			Cores:       int(need[resCores]),
			MemoryBytes: need[resMemory],
			Tasks:       g.tasksOf(m),
			Start:       ps.snap.Now,
			Walltime:    max(j.Walltime, 0),
			Queue:       j.Queue,
			User:        j.User,
		}
		a.GPUs = ps.pickGPUs(i, j, int(need[resGPUs]), j.Exclusive)
		if st.named {
			a.CPUs = ps.pickCPUs(i, a.Cores, a.GPUs)
		}
		ps.plan.Starts = append(ps.plan.Starts, a)
	}
	if ps.use != nil {
		ps.countStart(g)
	}
}

// at converts a pass time to wall-clock time.
func (ps *pass) at(t int64) time.Time {
	return ps.snap.Now.Add(time.Duration(t))
}

// reserve records g's reservation on nodes at the pass time at.
func (ps *pass) reserve(g *gang, nodes []int, at int64) {
	for m, i := range nodes {
		need := ps.memberNeed(g, m, i)
		r := Reservation{
			Job:         g.job.ID,
			Node:        ps.nodes[i].name,
			Start:       ps.at(at),
			Cores:       int(need[resCores]),
			MemoryBytes: need[resMemory],
			GPUs:        int(need[resGPUs]),
		}
		if end := after(at, g.dur); end != never {
			r.End = ps.at(end)
		}
		ps.plan.Reservations = append(ps.plan.Reservations, r)
	}
}

// wait records why g did not start, and when it is expected to (nodes
// nil or at never: unknown).
func (ps *pass) wait(g *gang, why Reason, nodes []int, at int64, blockedBy int64) {
	if ps.snap.Quiet {
		return
	}
	if len(ps.nodes) == 0 {
		why = ReasonNoNodes
	}
	w := Wait{Job: g.job.ID, Reason: why, BlockedBy: blockedBy}
	if len(nodes) > 0 && at != never {
		w.Start, w.Node = ps.at(at), ps.nodes[nodes[0]].name
		if len(nodes) > 1 {
			w.Nodes = make([]string, len(nodes))
			for k, i := range nodes {
				w.Nodes[k] = ps.nodes[i].name
			}
		}
	}
	if why == ReasonBeginTime {
		w.Start = g.job.Begin.Time()
	}
	if !ps.snap.NoWaits {
		if ps.plan.Waits == nil {
			ps.plan.Waits = make([]Wait, 0, len(ps.snap.Pending))
		}
		ps.plan.Waits = append(ps.plan.Waits, w)
	}
	ps.plan.Waiting = append(ps.plan.Waiting, JobReason{Job: g.job.ID, Reason: ps.reasonText(&w, g)})
}

// reasonText is explain(w, g), interned.
func (ps *pass) reasonText(w *Wait, g *gang) string {
	var key shapedReason
	shaped := false
	switch w.Reason {
	case ReasonResources, ReasonPriority, ReasonDrained, ReasonMaintenance:
		key, shaped = shapedReason{why: w.Reason, blockedBy: w.BlockedBy, total: g.total, n: g.n}, true
		if text, ok := ps.shaped[key]; ok {
			return text
		}
	}
	text := explain(w, g)
	if v, ok := ps.reasons[text]; ok {
		text = v
	} else {
		ps.reasons[text] = text
	}
	if shaped {
		ps.shaped[key] = text
	}
	return text
}

// gate decides whether g may be considered at all: eligible (not held,
// dependency satisfied, begin time passed), valid, within its queue's
// limits, and placeable on some up nodes (ps.elig is then g's). If not,
// it records the wait and returns false.
func (ps *pass) gate(g *gang) bool {
	j := g.job
	var why Reason
	switch {
	case j.Held:
		why = ReasonHeld
	case j.Dependency:
		why = ReasonDependency
	case j.Begin.Time().After(ps.snap.Now):
		why = ReasonBeginTime
	case g.invalid != "":
		why = ReasonInvalid
	case !ps.eligible(g):
		why = ps.unfit(g)
	case ps.use != nil && ps.limited(g):
		why = ReasonLimit
	default:
		return true
	}
	ps.wait(g, why, nil, never, 0)
	return false
}

// blockedWhy explains a job that does not fit now for its whole
// walltime: if its members would fit on free resources now, something
// ahead holds them, a maintenance window (on a node it fits) or a
// reservation (ReasonPriority); if nodes it may use are in a window now,
// it waits for the window; else it waits for resources.
func (ps *pass) blockedWhy(g *gang) Reason {
	fits, first := ps.fitsNowAnywhere(g)
	if !fits {
		// Nodes it could use are in a window now: it waits for that.
		for _, c := range ps.elig {
			if ps.classes[c].windowNow {
				return ReasonMaintenance
			}
		}
		return ReasonResources
	}
	end := after(0, g.dur)
	for _, w := range ps.nodes[first].windows {
		if w[0] < end {
			return ReasonMaintenance
		}
	}
	return ReasonPriority
}

// ordered is FCFS (backfill false) and EASY (backfill true). Jobs start in
// queue order while they fit. The first that does not is the head: it is
// given a reservation at its earliest fit (its shadow time, on the nodes
// where that is soonest; a gang's on all its nodes over one window).
// Under FCFS every later job waits; under EASY a later job starts if it
// fits now and until its expected end without taking anything the
// reservation needs, which is the classic rule: it either ends by the
// shadow time, or uses only the processors the head leaves over at the
// shadow time (the extra ones), which it then consumes. The profile gives
// both at once, for many nodes and resources. A gang at the head is thus
// never starved by small jobs: none may touch its window.
func (ps *pass) ordered(backfill bool) {
	blocked := false
	var head int64
	n := len(ps.snap.Pending)
	for k := range n {
		j := ps.job(k)
		ps.cur = ps.request(j) // in the pass, not one allocation per job
		g := &ps.cur
		if !ps.gate(g) {
			continue
		}
		if !blocked || backfill {
			if nodes := ps.fitNow(g); nodes != nil {
				ps.hold(g, nodes, 0)
				ps.start(g, nodes)
				continue
			}
			if ps.pre != nil && ps.preempt(g) {
				continue
			}
		}
		if !blocked {
			blocked, head = true, j.ID
			nodes, at := ps.earliest(g)
			if nodes != nil {
				nodes = slices.Clone(nodes)
				ps.hold(g, nodes, at)
				ps.reserve(g, nodes, at)
			}
			why := ReasonResources
			if !ps.snap.Quiet && ps.blockedWhy(g) == ReasonMaintenance {
				why = ReasonMaintenance
			}
			ps.wait(g, why, nodes, at, 0)
			continue
		}
		if ps.snap.Quiet {
			continue
		}
		why := ReasonPriority
		if backfill {
			why = ps.blockedWhy(g)
		}
		var by int64
		if why == ReasonPriority {
			by = head
		}
		ps.wait(g, why, nil, never, by)
	}
}

// placed is a pending job's reservation during a Conservative pass.
type placed struct {
	nodes []int // nil: none
	at    int64
}

// keep copies nodes into the slot k of slots (a search's result is only
// good until the next search): a single node into the slot's own word of
// singles, so that the common case allocates nothing.
func keep(slots []placed, singles []int, k int, nodes []int, at int64) {
	s := &slots[k]
	if len(nodes) == 1 {
		singles[k] = nodes[0]
		s.nodes = singles[k : k+1 : k+1]
	} else {
		s.nodes = slices.Clone(nodes)
	}
	s.at = at
}

// conservative gives every job a reservation at its earliest fit, in queue
// order, keeping the snapshot's held reservations that are still valid,
// compressing them first if asked; jobs reserved at now start.
func (ps *pass) conservative() {
	n := len(ps.snap.Pending)
	slots := make([]placed, n)
	singles := make([]int, n)
	gangs := make([]gang, n)
	ok := make([]bool, n)
	// Eligibility first, so that ineligible jobs are reported in order
	// below and held reservations are checked only for the others; in
	// the same walk as the requests, which read each job once.
	quiet := ps.snap.Quiet
	ps.snap.Quiet = true // gate's waits are recorded in the final walk
	for k := range n {
		gangs[k] = ps.request(ps.job(k))
		ok[k] = ps.gate(&gangs[k])
	}
	ps.keepHeld(slots, gangs, ok)
	ps.wantIndex = len(ps.nodes) >= startIndexMinNodes

	if ps.snap.Compress {
		for k := range n {
			s, g := &slots[k], &gangs[k]
			if s.nodes == nil {
				continue
			}
			ps.unhold(g, s.nodes, s.at)
			ps.eligible(g)
			if nodes, at := ps.earliest(g); nodes != nil && at < s.at {
				keep(slots, singles, k, nodes, at)
			}
			ps.hold(g, s.nodes, s.at)
		}
	}

	split := false // whether the walk has looked at going on in lanes
	for k := 0; k < n; k++ {
		if ps.haveIndex && !split {
			split = true
			if ps.splitLanes(n - k) {
				if k = ps.conservativeLanes(k, slots, singles, gangs, ok); k == n {
					break
				}
			}
		}
		s, g := &slots[k], &gangs[k]
		if s.nodes != nil || !ok[k] {
			continue
		}
		ps.eligible(g)
		if ps.pre != nil {
			if nodes := ps.fitNow(g); nodes == nil && ps.preempt(g) {
				s.at = -1 // started by preemption
				continue
			}
		}
		ps.place(k, slots, singles, g)
	}
	ps.snap.Quiet = quiet

	held := 0
	for k := range slots {
		if slots[k].at > 0 {
			held += len(slots[k].nodes)
		}
	}
	ps.plan.Reservations = slices.Grow(ps.plan.Reservations, held)
	var starts []Allocation
	if ps.pre != nil {
		// Preemptors started in the walk above; the rest start below, in
		// queue order with them.
		starts, ps.plan.Starts = ps.plan.Starts, nil
	}
	for k := range n {
		s, g := slots[k], &gangs[k]
		switch {
		case s.at < 0:
			for len(starts) > 0 && starts[0].Job == g.job.ID {
				ps.plan.Starts = append(ps.plan.Starts, starts[0])
				starts = starts[1:]
			}
		case s.nodes != nil && s.at == 0 && ps.use != nil && ps.limited(g):
			// Jobs started ahead of it in this pass used up its limit.
			ps.wait(g, ReasonLimit, nil, never, 0)
		case s.nodes != nil && s.at == 0:
			ps.start(g, s.nodes)
		case s.nodes != nil:
			ps.reserve(g, s.nodes, s.at)
			if !quiet {
				why := ReasonResources
				// With no window on any node, nothing waits for one.
				if len(ps.snap.Windows) > 0 {
					ps.eligible(g)
					if ps.blockedWhy(g) == ReasonMaintenance {
						why = ReasonMaintenance
					}
				}
				ps.wait(g, why, s.nodes, s.at, 0)
			}
		case !quiet && !ok[k]:
			ps.gate(g)
		default:
			ps.wait(g, ReasonResources, nil, never, 0)
		}
	}
}

// keepHeld puts the snapshot's held reservations that are still valid into
// the profiles and slots, in queue order. A reservation is valid if its job
// is pending and eligible, it covers as many nodes as the job needs, each
// is there, up and can hold it, it does not start in the past, and it fits
// alongside the running jobs and the reservations kept before it.
func (ps *pass) keepHeld(slots []placed, gangs []gang, ok []bool) {
	held := ps.snap.Reservations
	if len(held) == 0 {
		return
	}
	n := len(ps.snap.Pending)
	// A job's reservations are consecutive. The replayer hands them back
	// in queue order, a subsequence of Pending: match them in one walk,
	// else by a map.
	type span struct{ from, to int }
	match := make([]span, n)
	r := 0
	for k := range n {
		match[k] = span{-1, -1}
		if r < len(held) && held[r].Job == ps.job(k).ID {
			e := r + 1
			for e < len(held) && held[e].Job == held[r].Job {
				e++
			}
			match[k] = span{r, e}
			r = e
		}
	}
	if r != len(held) {
		byJob := make(map[int64]span, len(held))
		for h := 0; h < len(held); {
			e := h + 1
			for e < len(held) && held[e].Job == held[h].Job {
				e++
			}
			if _, dup := byJob[held[h].Job]; !dup {
				byJob[held[h].Job] = span{h, e}
			}
			h = e
		}
		for k := range n {
			match[k] = span{-1, -1}
			if sp, found := byJob[ps.job(k).ID]; found {
				match[k] = sp
			}
		}
	}
	for k := range n {
		sp := match[k]
		g := &gangs[k]
		if sp.from < 0 || !ok[k] || sp.to-sp.from != g.n {
			continue
		}
		at := int64(held[sp.from].Start.Sub(ps.snap.Now))
		if at < 0 {
			continue
		}
		nodes := make([]int, 0, g.n)
		valid := true
		for h := sp.from; h < sp.to && valid; h++ {
			i, found := ps.index[held[h].Node]
			valid = found && held[h].Start.Equal(held[sp.from].Start) && ps.nodes[i].class >= 0 &&
				!slices.Contains(nodes, i) && ps.fits(g, &ps.classes[ps.nodes[i].class])
			if valid {
				need := ps.memberNeed(g, len(nodes), i)
				p := &ps.nodes[i].prof
				valid = p.blocked(&need, p.find(at), after(at, g.dur)) < 0
				nodes = append(nodes, i)
			}
		}
		if !valid {
			continue
		}
		ps.hold(g, nodes, at)
		slots[k] = placed{nodes: nodes, at: at}
	}
}
