package sched

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// gang is a pending job's request, normalized: n members, one per node
// it needs, each a resource vector (the first is the largest), and for
// how long. Members differ only in their task counts, so they are
// computed, not stored: a pass allocates nothing per job.
type gang struct {
	job *Job
	// sel are the features the job's queue selects (Queue.Features),
	// needed beside the job's own.
	sel  []string
	task vec // one task
	n    int // members
	// Task counts: member m has tasks/n, plus one if m < extra (an even
	// spread), or per, the last one the rest (TasksPerNode).
	tasks, per, extra int
	big               vec // the largest member: what every node of the gang is checked for
	total             vec
	dur               int64 // never: no walltime
	// invalid or limit explain ReasonInvalid and ReasonLimit.
	invalid, limit string
	// tooMany: more members than the cluster has nodes.
	tooMany bool
	// unmatched: nodes large enough exist, but none has every feature
	// the job requires (its reason says so).
	unmatched bool
	// exclusive is the job's Exclusive; plain: the job asks for no
	// feature and no GPU model or memory, nor does its queue select
	// nodes, so that its size alone says which classes can hold it.
	// Kept here so that a pass looking at the job again and again does
	// not read the Job each time.
	exclusive, plain bool
}

// tasksOf is member m's task count.
func (g *gang) tasksOf(m int) int {
	if g.per > 0 {
		return min(g.per, g.tasks-m*g.per)
	}
	c := g.tasks / g.n
	if m < g.extra {
		c++
	}
	return c
}

// member is member m's vector.
func (g *gang) member(m int) vec {
	var v vec
	c := int64(g.tasksOf(m))
	for r := range nres {
		v[r] = sat(g.task[r], c)
	}
	return v
}

// request normalizes j for a cluster of nodes nodes (see Job for the
// span rules).
func request(j *Job, nodes int) gang {
	g := gang{job: j, dur: never, n: 1, exclusive: j.Exclusive, plain: len(j.Features) == 0 && !gpuFiltered(j)}
	if j.Walltime > 0 {
		g.dur = int64(j.Walltime)
	}
	g.task[resCores] = int64(max(j.Cores, 1))
	g.task[resMemory] = max(j.MemoryBytes, 0)
	g.task[resGPUs] = int64(max(j.GPUs, 0))
	tasks := int(max(j.Tasks, 0))
	per, k := int(max(j.TasksPerNode, 0)), int(max(j.Nodes, 0))
	switch {
	case per == 0 && k == 0:
		g.tasks = max(tasks, 1)
	case k == 0:
		g.tasks = max(tasks, 1)
		g.per = per
		g.n = (g.tasks + per - 1) / per
	case per == 0:
		if tasks == 0 {
			tasks = k
		}
		if tasks < k {
			g.invalid = fmt.Sprintf("%d tasks cannot span exactly %d nodes", tasks, k)
			tasks = k
		}
		g.n, g.tasks = k, tasks
	default:
		if tasks == 0 {
			tasks = k * per
		}
		if tasks != k*per {
			g.invalid = fmt.Sprintf("%d tasks are not %d nodes of %d tasks", tasks, k, per)
		}
		g.n, g.tasks, g.per = k, k*per, per
	}
	if g.per == 0 {
		g.extra = g.tasks % g.n
	}
	if g.n > nodes {
		g.tooMany = true
	}
	g.big = g.member(0)
	for r := range nres {
		g.total[r] = sat(g.task[r], int64(g.tasks))
	}
	return g
}

// sat is a×b, saturating at never (so that a huge request just fits
// nowhere).
func sat(a, b int64) int64 {
	if a != 0 && b > never/a {
		return never
	}
	return a * b
}

// need is what one member of g takes on a node of class c: its vector,
// or the whole node if the job is exclusive.
func (g *gang) need(c *class) *vec {
	if g.exclusive {
		return &c.cap
	}
	return &g.big
}

// fits reports whether a node of class c, empty, can ever hold a member
// of g: capacity, features, GPU model and memory.
func (ps *pass) fits(g *gang, c *class) bool {
	if !c.cap.covers(&g.big) {
		return false
	}
	if g.plain {
		return true
	}
	n := ps.nodes[c.rep].node
	for _, fs := range [2][]string{g.job.Features, g.sel} {
		for _, f := range fs {
			if !slices.Contains(n.Features, f) {
				return false
			}
		}
	}
	if g.big[resGPUs] > 0 && gpuFiltered(g.job) {
		ok := 0
		for k := range n.GPUs {
			if gpuMatches(g.job, &n.GPUs[k]) {
				ok++
			}
		}
		if int64(ok) < g.big[resGPUs] {
			return false
		}
	}
	return true
}

func gpuFiltered(j *Job) bool { return j.GPUModel != "" || j.GPUMemoryMiB > 0 }

// gpuMatches reports whether d is of the model and memory j asks for.
func gpuMatches(j *Job, d *GPU) bool {
	if j.GPUMemoryMiB > 0 && d.MemoryMiB < j.GPUMemoryMiB {
		return false
	}
	return j.GPUModel == "" || strings.Contains(strings.ToLower(d.Model), strings.ToLower(j.GPUModel))
}

// eligible fills ps.elig with the up classes that can hold g, in
// placement order, and says whether they have nodes enough for all its
// members.
func (ps *pass) eligible(g *gang) bool {
	ps.elig = ps.elig[:0]
	nodes := 0
	for c := range ps.classes {
		if ps.fits(g, &ps.classes[c]) {
			ps.elig = append(ps.elig, c)
			nodes += len(ps.classes[c].nodes)
		}
	}
	return nodes >= g.n && !g.tooMany
}

// unfit explains why no up node can hold g: none can (too large), or
// only nodes that are not up could.
func (ps *pass) unfit(g *gang) Reason {
	if len(ps.nodes) == 0 {
		return ReasonNoNodes
	}
	if g.tooMany {
		return ReasonTooLarge
	}
	nodes := 0
	for c := range ps.classes {
		if ps.fits(g, &ps.classes[c]) {
			nodes += len(ps.classes[c].nodes)
		}
	}
	for c := range ps.down {
		if ps.fits(g, &ps.down[c]) {
			nodes += len(ps.down[c].nodes)
		}
	}
	if nodes >= g.n {
		return ReasonDrained
	}
	if len(g.job.Features) > 0 || len(g.sel) > 0 {
		// Would the job fit but for its features?
		bare := *g.job
		bare.Features = nil
		h := *g
		h.job, h.sel = &bare, nil
		for _, cs := range [][]class{ps.classes, ps.down} {
			for c := range cs {
				if ps.fits(&h, &cs[c]) {
					g.unmatched = true
				}
			}
		}
	}
	return ReasonTooLarge
}

// okNow reports whether a member of g (need) can start on node i now and
// hold until its end without touching any reservation, given that its
// free-now vector covers need: the profile's later steps, and on a node
// of mixed GPUs, enough free GPUs of the requested kind.
func (ps *pass) okNow(g *gang, i int, need *vec) bool {
	st := &ps.nodes[i]
	if st.prof.blocked(need, 1, after(0, g.dur)) >= 0 {
		return false
	}
	return ps.gpusNow(g, i)
}

// gpusNow reports whether node i has enough free GPUs of g's kind now:
// only in doubt on a node of mixed GPUs, where counts do not tell.
func (ps *pass) gpusNow(g *gang, i int) bool {
	st := &ps.nodes[i]
	if c := &ps.classes[st.class]; !c.mixed || g.big[resGPUs] == 0 || !gpuFiltered(g.job) {
		return true
	}
	ok := 0
	for _, k := range st.gpus {
		if gpuMatches(g.job, &st.node.GPUs[k]) {
			ok++
		}
	}
	return int64(ok) >= g.big[resGPUs]
}

// earliestOn is the earliest fit of need on node i at or after from (and
// before limit): a fit at now also needs the right GPUs free now, else
// it is looked for after the node's next change.
func (ps *pass) earliestOn(g *gang, i int, need *vec, from, limit int64) int64 {
	p := &ps.nodes[i].prof
	at := p.earliestBefore(need, g.dur, from, limit)
	if at == 0 && !ps.gpusNow(g, i) {
		if len(p.steps) < 2 {
			return never
		}
		at = p.earliestBefore(need, g.dur, p.steps[1].at, limit)
	}
	return at
}

// fitNow returns nodes on which g can start now, one per member, without
// delaying any reservation, or nil. Among the nodes that fit, the
// cheapest come first (weight); a single node is the first that fits in
// snapshot order among the cheapest; a gang is then packed into as few
// switches (racks) as possible (see pick). ps.elig must be g's.
func (ps *pass) fitNow(g *gang) []int {
	m := g.n
	ps.cands = ps.cands[:0]
	for e := 0; e < len(ps.elig); {
		// One weight level at a time.
		w := ps.classes[ps.elig[e]].weight
		best := -1
		for ; e < len(ps.elig) && ps.classes[ps.elig[e]].weight == w; e++ {
			c := &ps.classes[ps.elig[e]]
			need := g.need(c)
			for pos := c.tree.first(need, 0); pos >= 0; pos = c.tree.first(need, pos+1) {
				i := c.nodes[pos]
				if m == 1 && best >= 0 && i > best {
					break
				}
				if ps.okNow(g, i, need) {
					if m == 1 {
						best = i
						break
					}
					ps.cands = append(ps.cands, i)
				}
			}
		}
		if m == 1 && best >= 0 {
			ps.one[0] = best
			return ps.one[:]
		}
		if m > 1 && len(ps.cands) >= m {
			return ps.pick(ps.cands, m)
		}
	}
	return nil
}

// fitsNowAnywhere reports whether g's members would each fit on a
// distinct node now if no reservation or window were ahead: the test for
// "it waits for a reservation" rather than "for resources". It returns
// one such node (-1 if none).
func (ps *pass) fitsNowAnywhere(g *gang) (bool, int) {
	m, found, first := g.n, 0, -1
	for _, ci := range ps.elig {
		c := &ps.classes[ci]
		need := g.need(c)
		for pos := c.tree.first(need, 0); pos >= 0; pos = c.tree.first(need, pos+1) {
			if first < 0 {
				first = c.nodes[pos]
			}
			if found++; found >= m {
				return true, first
			}
		}
	}
	return false, first
}

// pick chooses m of the candidate nodes (in placement order, cheapest
// first): those of the cheapest weights that give m, then as few
// topology groups (switch, else rack) as possible: the smallest group
// that holds all m if there is one (best fit, leaving big groups to big
// gangs), else the biggest groups first. Within a group, placement
// order.
func (ps *pass) pick(cands []int, m int) []int {
	groups, nodes := ps.groupCands(ps.cheapest(cands, m))
	of := func(gr pickGroup) []int { return nodes[gr.at : gr.at+gr.n] }
	if len(groups) == 1 {
		return slices.Clone(of(groups[0])[:m])
	}
	bestFit := -1
	for gi := range groups {
		if groups[gi].n >= m && (bestFit < 0 || groups[gi].n < groups[bestFit].n) {
			bestFit = gi
		}
	}
	if bestFit >= 0 {
		return slices.Clone(of(groups[bestFit])[:m])
	}
	slices.SortStableFunc(groups, func(a, b pickGroup) int { return cmp.Compare(b.n, a.n) })
	out := make([]int, 0, m)
	for _, gr := range groups {
		out = append(out, of(gr)[:min(gr.n, m-len(out))]...)
		if len(out) == m {
			break
		}
	}
	return out
}

// cheapest sorts cands in placement order (cheapest first, then snapshot
// order) and keeps the cheapest weight levels that give m nodes.
func (ps *pass) cheapest(cands []int, m int) []int {
	slices.SortFunc(cands, func(a, b int) int {
		if c := cmp.Compare(ps.nodes[a].node.Weight, ps.nodes[b].node.Weight); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	cut := m
	for cut < len(cands) && ps.nodes[cands[cut]].node.Weight == ps.nodes[cands[m-1]].node.Weight {
		cut++
	}
	return cands[:cut]
}

// topoLabel is node n's topology group for gangs: its switch, else its
// rack (nodes with neither are a group too).
func topoLabel(n *Node) string {
	if n.Switch != "" {
		return n.Switch
	}
	return n.Rack
}

// pickGroup is one topology group of pick's candidates: its n nodes are
// nodes[at:at+n] of groupCands'.
type pickGroup struct {
	group, at, n int
}

// numberGroups numbers the nodes' topology groups (nodeState.group) and
// sizes groupSlot for them.
func (ps *pass) numberGroups() {
	number := map[string]int{}
	for i := range ps.nodes {
		label := topoLabel(ps.nodes[i].node)
		g, ok := number[label]
		if !ok {
			g = len(number)
			number[label] = g
		}
		ps.nodes[i].group = g
	}
	ps.groupSlot = make([]int, len(number))
	for g := range ps.groupSlot {
		ps.groupSlot[g] = -1
	}
}

// groupCands groups cands by topology group, the groups in the order
// they first come, each group's nodes in cands' order, all of them in
// nodes. Both are pass scratch, valid until the next call.
func (ps *pass) groupCands(cands []int) (groups []pickGroup, nodes []int) {
	if ps.groupSlot == nil {
		ps.numberGroups() // the pass's first gang
	}
	groups = ps.pickGroups[:0]
	for _, i := range cands {
		g := ps.nodes[i].group
		if ps.groupSlot[g] < 0 {
			ps.groupSlot[g] = len(groups)
			groups = append(groups, pickGroup{group: g})
		}
		groups[ps.groupSlot[g]].n++
	}
	at := 0
	for k := range groups {
		groups[k].at, at = at, at+groups[k].n
		groups[k].n = 0
	}
	nodes = slices.Grow(ps.pickNodes[:0], len(cands))[:len(cands)]
	for _, i := range cands {
		gr := &groups[ps.groupSlot[ps.nodes[i].group]]
		nodes[gr.at+gr.n] = i
		gr.n++
	}
	for _, gr := range groups {
		ps.groupSlot[gr.group] = -1
	}
	ps.pickGroups, ps.pickNodes = groups, nodes
	return groups, nodes
}

// earliest returns the nodes (one per member) and the earliest time at
// which g fits on all of them for its whole walltime, or nil and never.
// ps.elig must be g's.
//
// One member: the node where it fits soonest (ties: cheapest, then
// snapshot order). A gang: with f(i) the earliest fit on node i at or
// after t, the gang cannot start before the m-th smallest f(i); starting
// from t = 0, set t to that value until m nodes fit exactly at t. Every
// step moves t forward to a step boundary of some node, so this ends.
func (ps *pass) earliest(g *gang) ([]int, int64) {
	m := g.n
	if ps.wantIndex {
		// Built when the first job does not fit now, so that a pass
		// whose jobs all start at once does not pay for them; searched
		// from then on even for fits now (the free-now trees know
		// nothing of the reservations ahead, which on a full cluster
		// turn down most of the nodes they offer).
		if !ps.haveIndex {
			if nodes := ps.fitNow(g); nodes != nil {
				return nodes, 0
			}
			if ps.wantIndex = ps.worthIndexing(); ps.wantIndex {
				ps.buildStartIndexes()
			}
		}
		if ps.wantIndex {
			if m == 1 {
				return ps.earliestOne(g)
			}
			return ps.earliestGang(g)
		}
	}
	if nodes := ps.fitNow(g); nodes != nil {
		return nodes, 0
	}
	if m == 1 {
		best := noFit
		for _, ci := range ps.elig {
			c := &ps.classes[ci]
			need := g.need(c)
			for _, i := range c.nodes {
				limit := best.at
				if best.node >= 0 && best.tieLoses(i, c.weight) {
					limit = after(best.at, 1) // a tie would win
				}
				if at := ps.earliestOn(g, i, need, 0, limit); at != never {
					best.offer(i, at, c.weight)
				}
			}
		}
		return ps.soonest(best)
	}
	nodes, needs := ps.gnodes[:0], ps.gneeds[:0]
	for _, ci := range ps.elig {
		c := &ps.classes[ci]
		for _, i := range c.nodes {
			nodes = append(nodes, i)
			needs = append(needs, g.need(c))
		}
	}
	f := slices.Grow(ps.gf[:0], len(nodes))[:len(nodes)]
	exact := slices.Grow(ps.gexact[:0], len(nodes))[:len(nodes)]
	ps.gnodes, ps.gneeds, ps.gf, ps.gexact = nodes, needs, f, exact
	var t int64
	for k := range f {
		f[k], exact[k] = -1, true
	}
	// Only the m smallest f(i) matter, and which equal t: once m are
	// known, a node is searched only up to the m-th of them, and one that
	// does not fit by then keeps a lower bound (exact false, f(i) >= f[k])
	// instead of its fit; a bound is searched again if it no longer
	// exceeds t, or the m-th smallest.
	eval := func(k int, low []int64) []int64 {
		limit := never
		if len(low) == m {
			limit = after(low[m-1], 1)
		}
		at := ps.earliestOn(g, nodes[k], needs[k], t, limit)
		if at == never && limit != never {
			f[k], exact[k] = limit, false
			return low
		}
		f[k], exact[k] = at, true
		return keepSmallest(low, at, m)
	}
	for {
		low := ps.gsorted[:0] // the m smallest exact f(i) >= t, ascending
		for k := range f {
			if exact[k] && f[k] >= t {
				low = keepSmallest(low, f[k], m)
			}
		}
		for k := range f {
			if f[k] < t || !exact[k] && f[k] <= t {
				low = eval(k, low)
			}
		}
		for again := true; again; {
			again = false
			for k := range f {
				if !exact[k] && (len(low) < m || f[k] <= low[m-1]) {
					low, again = eval(k, low), true
				}
			}
		}
		ps.gsorted = low
		fit := ps.cands[:0]
		for k, i := range nodes {
			if exact[k] && f[k] == t {
				fit = append(fit, i)
			}
		}
		ps.cands = fit
		if len(fit) >= m {
			return ps.pick(fit, m), t
		}
		if len(low) < m || low[m-1] == never || low[m-1] <= t {
			return nil, never
		}
		t = low[m-1]
	}
}

// keepSmallest adds v to low, the at most m smallest values so far in
// ascending order, and returns it.
func keepSmallest(low []int64, v int64, m int) []int64 {
	if len(low) == m {
		if v >= low[m-1] {
			return low
		}
		low = low[:m-1]
	}
	k := len(low)
	low = append(low, v)
	for ; k > 0 && low[k-1] > v; k-- {
		low[k] = low[k-1]
	}
	low[k] = v
	return low
}

// soonest is the best single-node fit offered so far: the soonest, then
// on the cheapest node, then the first in snapshot order; node -1: none.
type soonest struct {
	node   int
	at     int64
	weight int
}

// noFit is the soonest of no fit at all.
var noFit = soonest{node: -1, at: never}

// tieLoses reports whether a fit on node i of weight w at the same time
// would beat the best.
func (s *soonest) tieLoses(i, w int) bool {
	return w < s.weight || w == s.weight && i < s.node
}

// better reports whether fit s comes before fit o: sooner, then on a
// cheaper node, then on the node first in snapshot order; any fit comes
// before none. It orders fits totally, so the best of several searches
// is the best of their bests.
func (s soonest) better(o soonest) bool {
	switch {
	case s.node < 0:
		return false
	case o.node < 0:
		return true
	}
	return s.at < o.at || s.at == o.at && o.tieLoses(s.node, s.weight)
}

// offer makes a fit on node i (of weight w) at at the best if it is
// better.
func (s *soonest) offer(i int, at int64, w int) {
	if fit := (soonest{node: i, at: at, weight: w}); fit.better(*s) {
		*s = fit
	}
}

// soonest returns best as earliest does.
func (ps *pass) soonest(best soonest) ([]int, int64) {
	if best.node < 0 {
		return nil, never
	}
	ps.one[0] = best.node
	return ps.one[:], best.at
}
