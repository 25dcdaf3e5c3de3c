package sched

import (
	"math"
	"time"
)

// The resource vector. Each node offers one amount of every resource;
// a request must fit in every component. Nothing below depends on how
// many there are.
const (
	resCores = iota
	resMemory
	resGPUs
	nres
)

type vec [nres]int64

// covers reports whether v has at least req in every component.
func (v *vec) covers(req *vec) bool {
	for i := range v {
		if v[i] < req[i] {
			return false
		}
	}
	return true
}

func (v *vec) sub(o *vec) {
	for i := range v {
		v[i] -= o[i]
	}
}

func (v *vec) add(o *vec) {
	for i := range v {
		v[i] += o[i]
	}
}

// never is the end of an open-ended hold and the start of a reservation
// that cannot be made.
const never int64 = math.MaxInt64

// after returns t+d (d >= 0), saturating at never.
func after(t, d int64) int64 {
	if t >= 0 && d >= never-t {
		return never
	}
	return t + d
}

// step is one piece of a profile: free holds from at until the next step.
type step struct {
	at   int64
	free vec
}

// profile is one node's free resources over time, a step function: steps
// are sorted by at, strictly increasing; steps[0].at is the pass's now,
// and the last step holds forever. Searches are binary; scans skip
// whole blocks of profBlock steps by the blocks' summaries, so a scan
// over a long profile (Conservative reserves every job: about jobs ÷
// nodes steps per node) costs about its length ÷ profBlock plus the
// steps near a candidate. Nothing allocates except a split that grows
// the slice, and a block summary array that grows with it.
type profile struct {
	steps []step
	// summed: the profile keeps block summaries. Keeping them costs a
	// recomputation of the blocks after every change a scan then walks
	// over; it pays when changes are rare next to scans, as when each
	// job scans many nodes' profiles and reserves on one (see
	// profSumMinNodes).
	summed bool
	// blk[b] summarises steps[b*profBlock:(b+1)*profBlock], a full block;
	// only blk[:clean] are up to date. Every change to steps lowers clean
	// to the first block it touches; a scan brings blocks up to date as
	// it reaches them (sum).
	blk   []blockSum
	clean int
	// idx is the start index of the profile's class, if the pass keeps
	// one (see startIndex), and ipos the node's position in the class:
	// new steps are entered there, and rises re-keyed.
	idx  *startIndex
	ipos int32
	// ver counts the changes to steps, so that the index can tell that
	// an entry's keys and step index are still those of the profile.
	ver uint32
}

// profSumMinNodes is the smallest number of nodes on which a
// Conservative pass keeps block summaries in the profiles: there each
// job scans every eligible node's profile and reserves on one or a few.
// With fewer nodes (the trace replayer's single pool, where every job
// reserves on the one profile every scan walks) the summaries would be
// recomputed more often than they save steps. A variable so that tests
// can turn summaries on for small clusters.
var profSumMinNodes = 64

// profBlock is the number of steps a block summarises.
const profBlock = 16

// profWindows are the window lengths a block summary answers for (see
// blockSum.win), ascending. The longest bounds how far back a change
// can alter a summary.
var profWindows = [...]int64{int64(30 * time.Minute), int64(2 * time.Hour), int64(8 * time.Hour), int64(32 * time.Hour)}

// profWalk caps the steps a window's minimum looks at (see blockSum), so
// that a block costs O(profBlock × profWalk) to summarise however dense
// the steps are.
const profWalk = 2 * profBlock

// blockSum is a block's component-wise minimum and maximum free vectors:
// a request lo covers fits at every step of the block; one hi does not
// cover fits at none. win[j] is the component-wise maximum, over the
// block's steps, of the minimum free vector over [start, start +
// profWindows[j]) (over the window's first profWalk+1 steps only, if it
// has more: a bound as good, if weaker): a request win[j] does not cover
// cannot start at any of the block's steps for profWindows[j] or longer.
type blockSum struct {
	lo, hi vec
	win    [len(profWindows)]vec
}

// sum returns block b's summary, recomputing the stale ones up to b.
// Block b must be full: (b+1)*profBlock <= len(p.steps).
func (p *profile) sum(b int) *blockSum {
	for ; p.clean <= b; p.clean++ {
		if p.clean == len(p.blk) {
			p.blk = append(p.blk, blockSum{})
		}
		first := p.clean * profBlock
		bs := blockSum{lo: p.steps[first].free, hi: p.steps[first].free}
		var mins [len(profWindows)]vec
		for k := first; k < first+profBlock; k++ {
			f := &p.steps[k].free
			for r := range nres {
				bs.lo[r] = min(bs.lo[r], f[r])
				bs.hi[r] = max(bs.hi[r], f[r])
			}
			p.mins(k, profWindows[:], mins[:])
			for j := range profWindows {
				w, m := &bs.win[j], &mins[j]
				if k == first {
					*w = *m
					continue
				}
				for r := range nres {
					w[r] = max(w[r], m[r])
				}
			}
		}
		p.blk[p.clean] = bs
	}
	return &p.blk[b]
}

// mins sets out[j] to the minimum free vector over [at, at + wins[j])
// from step k's start (wins ascending), over at most the window's first
// profWalk+1 steps (a bound as good, if weaker, when it has more).
func (p *profile) mins(k int, wins []int64, out []vec) {
	m, q := p.steps[k].free, k+1
	for j, d := range wins {
		end := after(p.steps[k].at, d)
		for ; q < len(p.steps) && q <= k+profWalk && p.steps[q].at < end; q++ {
			g := &p.steps[q].free
			for r := range nres {
				m[r] = min(m[r], g[r])
			}
		}
		out[j] = m
	}
}

// stale marks the blocks from the one holding step i on as out of date.
func (p *profile) stale(i int) {
	p.clean = min(p.clean, i/profBlock)
}

// changed marks the summaries that a change of the steps from i on can
// alter: those of the blocks from the first whose windows reach step i.
func (p *profile) changed(i int) {
	p.stale(p.reaching(i, profWindows[len(profWindows)-1]))
}

// reaching is the first step whose windows, the longest longest, reach
// step i, in time and within profWalk steps (see mins): a change from
// step i on can change the window minima of the steps from it on.
func (p *profile) reaching(i int, longest int64) int {
	first := i - profWalk
	if t := p.steps[i].at - longest; t > p.steps[0].at {
		first = max(first, p.find(t))
	}
	return max(first, 0)
}

// find returns the index of the step that holds at t (t >= steps[0].at).
func (p *profile) find(t int64) int {
	return findIn(p.steps, t)
}

// findIn is profile.find over steps.
func findIn(steps []step, t int64) int {
	if len(steps) < 2 || steps[1].at > t {
		return 0 // now: the common case
	}
	lo, hi := 1, len(steps) // invariant: steps[lo].at <= t, answer < hi
	for hi-lo > 1 {
		mid := int(uint(lo+hi) >> 1)
		if steps[mid].at <= t {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

// refind is the index in steps of the step at t that was step k once:
// steps are only ever added (split), so it is step k or a later one, and
// most often few were added before it since.
func refind(steps []step, t int64, k int) int {
	for range 4 {
		if steps[k].at == t {
			return k
		}
		k++
	}
	return findIn(steps, t)
}

// blocked returns the first step from i on, among those starting before
// end, whose free resources do not cover req; -1 if there is none, that is,
// req fits from steps[i] (or any time inside it) until end. A full block
// whose minimum covers req is passed over at once.
func (p *profile) blocked(req *vec, i int, end int64) int {
	if !p.summed {
		return blockedIn(p.steps, req, i, end)
	}
	for n := len(p.steps); i < n && p.steps[i].at < end; {
		if i%profBlock == 0 && i+profBlock <= n && p.sum(i/profBlock).lo.covers(req) {
			i += profBlock
			continue
		}
		if !p.steps[i].free.covers(req) {
			return i
		}
		i++
	}
	return -1
}

// blockedIn is profile.blocked over steps, step by step.
func blockedIn(steps []step, req *vec, i int, end int64) int {
	for ; i < len(steps) && steps[i].at < end; i++ {
		if !steps[i].free.covers(req) {
			return i
		}
	}
	return -1
}

// covering returns the first step from i on whose free resources cover
// req and at which req might fit for dur, len(steps) if none: a full
// block whose summary shows that req fits at none of its steps for dur
// (its maximum, or its longest window up to dur, does not cover req) is
// passed over at once.
func (p *profile) covering(req *vec, dur int64, i int) int {
	w := -1 // the longest summarised window up to dur
	for w+1 < len(profWindows) && profWindows[w+1] <= dur {
		w++
	}
	for n := len(p.steps); i < n; {
		if p.summed && i%profBlock == 0 && i+profBlock <= n {
			bs := p.sum(i / profBlock)
			if !bs.hi.covers(req) || w >= 0 && !bs.win[w].covers(req) {
				i += profBlock
				continue
			}
		}
		if p.steps[i].free.covers(req) {
			return i
		}
		i++
	}
	return len(p.steps)
}

// earliestBefore returns the earliest time at or after from at which
// req fits for dur (never: for ever), or never if it fits at no time or
// only from limit on. Each step is checked at most once per call: when a window
// fails at step b, no window that starts before the end of b can succeed,
// so the next candidate is the start of the first step after b that
// covers req.
func (p *profile) earliestBefore(req *vec, dur, from, limit int64) int64 {
	i := p.find(from)
	s := from
	for s < limit {
		b := p.blocked(req, i, after(s, dur))
		if b < 0 {
			return s
		}
		i = p.covering(req, dur, b+1)
		if i == len(p.steps) {
			return never
		}
		s = p.steps[i].at
	}
	return never
}

// split makes sure a step starts at t and returns its index.
func (p *profile) split(t int64) int {
	i := p.find(t)
	if p.steps[i].at == t {
		return i
	}
	p.steps = append(p.steps, step{})
	copy(p.steps[i+2:], p.steps[i+1:])
	p.steps[i+1] = step{at: t, free: p.steps[i].free}
	p.stale(i + 1)
	p.ver++
	p.synced()
	if p.idx != nil {
		var k ikeys
		p.idx.keyOf(p.steps, i+1, &k)
		p.idx.insert(t, p.ipos, &k, entryAt{p.ver, int32(i + 1)})
	}
	return i + 1
}

// reserve takes req from start until end (never: for ever).
func (p *profile) reserve(req *vec, start, end int64) {
	i := p.split(start)
	// A new version before the end's split, not after: what the start
	// index keyed before is stale from here on, but the step split off at
	// end is entered with keys that the change below leaves exact (it
	// lowers only the steps before that one, and keys look forward).
	p.ver++
	p.synced()
	j := len(p.steps)
	if end != never {
		j = p.split(end)
	}
	p.changed(i)
	for ; i < j; i++ {
		p.steps[i].free.sub(req)
	}
}

// synced tells the start index, if any, the profile's steps and version.
func (p *profile) synced() {
	if p.idx != nil {
		p.idx.steps[p.ipos] = stepsAt{p.steps, p.ver}
	}
}

// release gives back what reserve took.
func (p *profile) release(req *vec, start, end int64) {
	i, j := p.bounds(start, end)
	p.changed(i)
	p.ver++
	p.synced()
	for k := i; k < j; k++ {
		p.steps[k].free.add(req)
	}
	if p.idx != nil {
		p.idx.raised(p, p.ipos, i, j)
	}
}

// bounds splits the profile at start and end and returns the indexes of
// the steps in between.
func (p *profile) bounds(start, end int64) (int, int) {
	i := p.split(start)
	if end == never {
		return i, len(p.steps)
	}
	return i, p.split(end)
}
