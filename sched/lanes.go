package sched

import (
	"cmp"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Lanes. A Conservative pass over a cluster of several classes gives each
// class to one of two lanes and, once its start indexes are built, goes on
// in two goroutines, one per lane. A lane owns its classes: their nodes'
// profiles, their start indexes and their free-now trees; the other lane
// does not touch them while both run. Both walk the jobs in queue order,
// each with its own scratch (a fork of the pass):
//
//   - a job whose eligible classes are all in one lane is that lane's to
//     search and reserve; the other lane passes over it;
//   - a single-node job eligible in both lanes (a shared job) is searched
//     in both: each lane finds the soonest fit on its own classes, lane 0
//     takes the better of the two (soonest.better orders fits totally, so
//     this is the fit a search of all classes finds) and the lane that
//     owns its node reserves it;
//   - a gang eligible in both lanes is placed by lane 0 alone, on all
//     classes, while lane 1 waits.
//
// So each lane sees on its classes exactly the reservations that the
// serial walk would have made before, and the plan is the serial one
// (TestLanesSamePlan).
//
// Lane 0 must not wait for lane 1 at every shared job: lane 1 has the
// jobs of its own classes to place in between. So lane 1, while it waits
// for lane 0's decision on a shared job, looks ahead to the next ones
// (laneAhead) and offers early fits for them, found before the
// reservations in between (its own jobs', and the shared jobs' it wins). Reservations only
// take resources, so the exact fit is never sooner than the early one: if
// lane 0's own fit is better than the early one, lane 0 decides at once.
// Only otherwise does it ask lane 1 for the exact fit and wait.

// laneMinJobs is the fewest jobs left to place for which a pass starts
// the second lane: below it, starting and meeting costs more than the
// overlap saves. A variable so that tests can force lanes on and off.
var laneMinJobs = 2048

// sideBySide reports whether work on a pass's classes, jobs of it left,
// is worth doing in two goroutines: two classes or more, two processors
// to run on, and laneMinJobs jobs or more.
func (ps *pass) sideBySide(jobs int) bool {
	return len(ps.classes) >= 2 && jobs >= laneMinJobs && runtime.GOMAXPROCS(0) >= 2
}

// splitLanes gives each class a lane, balancing their nodes (the biggest
// class first, each to the lane with fewer nodes so far), and reports
// whether the pass, which keeps start indexes, should go on in two lanes
// with left jobs to place: side by side (see sideBySide), and with no
// preemption (whose trials change every class).
func (ps *pass) splitLanes(left int) bool {
	if ps.pre != nil || !ps.sideBySide(left) {
		return false
	}
	byNodes := make([]int, len(ps.classes))
	for c := range byNodes {
		byNodes[c] = c
	}
	slices.SortStableFunc(byNodes, func(a, b int) int {
		return cmp.Compare(len(ps.classes[b].nodes), len(ps.classes[a].nodes))
	})
	ps.lanes = make([]int8, len(ps.classes))
	var nodes [2]int
	for _, c := range byNodes {
		l := 0
		if nodes[1] < nodes[0] {
			l = 1
		}
		ps.lanes[c] = int8(l)
		nodes[l] += len(ps.classes[c].nodes)
	}
	return true
}

// What the lanes have said about a shared job (meeting.flags).
const (
	metEarly   = 1 << iota // lane 1's early fit is in
	metExact               // lane 1's exact fit is in
	metNeed                // lane 0 needs the exact fit (its own is in mine)
	metDecided             // lane 0 has decided
	metLane1               // the fit is lane 1's to reserve (with metDecided)
	metHere                // lane 1 is at this shared gang
	metDone                // lane 0 has placed this shared gang
	metStop                // lane 0 goes on alone from this job (see laneClock)
	metQuit                // a lane panicked: stop
)

// meeting is where the lanes meet over one shared job. Each field is
// written once, before the flag that says it is in.
type meeting struct {
	// flags are the shared job's count (from 1) above metSeqShift, and
	// the flags set for it (met...) below.
	flags        atomic.Uint64
	early, exact soonest // lane 1's fits
	mine         soonest // lane 0's, when it needs the exact one
	// stamp is lane 1's count of its reservations when it found the
	// early fit (lane 1's alone).
	stamp int
	_     [40]byte // one meeting a cache line pair
}

const metSeqShift = 16

// laneRing is how many meetings the lanes keep, reused in turn. Lane 1
// writes the meeting of shared job q at most laneAhead jobs ahead of its
// own, which it reaches only once lane 0 has decided the one before: so
// both are done with the meeting of q-laneRing by then, if laneRing is
// more than laneAhead+1. Lane 1 opens a meeting for its job (open) before
// it writes anything there, and each lane waits for flags tagged with the
// job it is at, so that what was said of the meeting's previous job is
// never read as this one's.
const laneRing = 2 * laneAhead

// lanes is the state of a pass's two lanes.
type lanes struct {
	meets [laneRing]meeting
	quit  atomic.Bool
}

// open makes m shared job seq's, with nothing said yet.
func (m *meeting) open(seq int) {
	m.flags.Store(uint64(seq) << metSeqShift)
}

// opened reports whether m is shared job seq's, opening it if not.
func (m *meeting) opened(seq int) bool {
	if m.flags.Load()>>metSeqShift == uint64(seq) {
		return true
	}
	m.open(seq)
	return false
}

// wait returns the flags of m once any of want is set; with quit set
// (the other lane panicked) it returns metQuit. It spins first, since the
// other lane is most often a search (microseconds) away, then yields and
// at last sleeps, so that a machine busy with other work (on which the
// other lane may not be running at all) does not make it spin for long.
// Lane 1 does idle's work, if any, between looks; lane 0 has clock count
// the time it waits beyond its spins.
func (ls *lanes) wait(m *meeting, seq int, want uint64, idle func() bool, clock *laneClock) uint64 {
	var since time.Time
	for spins := 0; ; spins++ {
		if f := m.flags.Load(); f>>metSeqShift == uint64(seq) && f&want != 0 {
			if clock != nil && spins > 64 {
				clock.waited += time.Since(since)
			}
			return f & (1<<metSeqShift - 1)
		}
		switch {
		case ls.quit.Load():
			return metQuit
		case idle != nil && idle():
			spins = 0
		case spins < 64:
		case spins == 64 && clock != nil:
			since = time.Now()
		case spins < 4096:
			runtime.Gosched()
		default:
			time.Sleep(20 * time.Microsecond)
		}
	}
}

// laneClock tells lane 0 when to stop the lanes. When each lane has a
// processor, lane 0 waits for lane 1 for 2–19% of a stretch of 4,096
// shared jobs (about 35 ms on the benchmark's cluster), and the kernel
// takes a processor from the pass's threads about 0.1–0.2 times a
// millisecond (up to 0.9). With a busy loop running beside the pass, the
// lanes take turns on the processors with it: lane 0 waits for 26–55% of
// a stretch, the threads are switched out 0.3–5 times a millisecond, and
// two lanes are slower than one. So when lane 0 waits for more than a
// quarter of a stretch and the kernel switches the threads out more than
// once every 4 ms, lane 0 goes on alone, at the serial walk's speed.
// (Waits alone are not enough: on this virtual machine the host takes
// processors too, unseen by the kernel here, and then the two lanes are
// still faster than one.)
type laneClock struct {
	start    time.Time
	waited   time.Duration
	switches int64 // involuntarySwitches at start
	jobs     int
}

// laneStretch is how many shared jobs make a stretch of laneClock's,
// laneMaxWait the share of a stretch lane 0 may wait and laneMaxSwitches
// how many involuntary switches a millisecond the pass may take.
// Variables so that tests can have the lanes stop.
var (
	laneStretch     = 4096
	laneMaxWait     = 0.25
	laneMaxSwitches = 0.25
)

// tooSlow counts one shared job, and at the end of a stretch reports
// whether the lanes should stop.
func (c *laneClock) tooSlow() bool {
	if c.jobs++; c.jobs < laneStretch {
		return false
	}
	now, switches := time.Now(), involuntarySwitches()
	span := now.Sub(c.start)
	busy := switches < 0 || float64(switches-c.switches) > laneMaxSwitches*float64(span)/float64(time.Millisecond)
	slow := float64(c.waited) > laneMaxWait*float64(span) && busy
	c.start, c.waited, c.switches, c.jobs = now, 0, switches, 0
	return slow
}

// meeting returns shared job seq's meeting.
func (ls *lanes) meeting(seq int) *meeting {
	return &ls.meets[seq%laneRing]
}

// conservativeLanes places jobs from on (conservative's walk) in two
// lanes, ps.lanes set (see splitLanes). It returns once both are done,
// with the job from which the walk is to go on alone: len(gangs) if the
// lanes placed every job.
func (ps *pass) conservativeLanes(from int, slots []placed, singles []int, gangs []gang, ok []bool) int {
	if ps.groupSlot == nil {
		ps.numberGroups() // before the fork, which gangs of both lanes read
	}
	// The lanes write the slots of the jobs they place, so they learn
	// which jobs are to be placed from this copy instead.
	todo := make([]bool, len(gangs))
	for k := from; k < len(gangs); k++ {
		todo[k] = ok[k] && slots[k].nodes == nil
	}
	ls := &lanes{}
	other := *ps
	other.scratch = scratch{groupSlot: slices.Clone(ps.groupSlot)}
	var (
		wg      sync.WaitGroup
		crashed any
		stop    int
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer func() {
			if r := recover(); r != nil {
				crashed = fmt.Sprintf("%v [in lane 1]\n%s", r, debug.Stack())
				ls.quit.Store(true)
			}
		}()
		other.lane1(ls, from, slots, singles, gangs, todo)
	}()
	func() {
		defer func() {
			if r := recover(); r != nil {
				ls.quit.Store(true)
				wg.Wait()
				panic(r)
			}
		}()
		stop = ps.lane0(ls, from, slots, singles, gangs, todo)
	}()
	wg.Wait()
	if crashed != nil {
		panic(crashed)
	}
	ps.lanes = nil
	return stop
}

// nextFor returns the next job from k on that lane me is to look at: one
// to be placed (todo) that may use classes of lane me, with ps.elig its
// eligible classes, and whether it may use the other lane's too; or
// len(gangs) at the end.
func (ps *pass) nextFor(me, k int, gangs []gang, todo []bool) (int, bool) {
	for ; k < len(gangs); k++ {
		if !todo[k] {
			continue
		}
		ps.eligible(&gangs[k])
		mine, theirs := false, false
		for _, c := range ps.elig {
			if int(ps.lanes[c]) == me {
				mine = true
			} else {
				theirs = true
			}
		}
		if mine {
			return k, theirs
		}
	}
	return k, false
}

// onlyLane keeps in ps.elig the classes of lane me.
func (ps *pass) onlyLane(me int) {
	ps.elig = slices.DeleteFunc(ps.elig, func(c int) bool { return int(ps.lanes[c]) != me })
}

// lane0 is lane 0's walk over the jobs from on that are to be placed
// (todo). It decides every shared job. It returns the job at which it
// stopped the lanes, unplaced, or len(gangs) (see laneClock).
func (ps *pass) lane0(ls *lanes, from int, slots []placed, singles []int, gangs []gang, todo []bool) int {
	seq := 0 // shared jobs reached
	clock := laneClock{start: time.Now(), switches: involuntarySwitches()}
	for k, shared := ps.nextFor(0, from, gangs, todo); k < len(gangs); k, shared = ps.nextFor(0, k+1, gangs, todo) {
		g := &gangs[k]
		if !shared {
			ps.place(k, slots, singles, g)
			continue
		}
		seq++
		m := ls.meeting(seq)
		if g.n > 1 {
			if ls.wait(m, seq, metHere, nil, &clock) == metQuit {
				return k
			}
			ps.place(k, slots, singles, g)
			m.flags.Or(metDone)
			continue
		}
		ps.onlyLane(0)
		own := ps.bestOne(g, noFit)
		f := ls.wait(m, seq, metEarly|metExact, nil, &clock)
		if f == metQuit {
			return k
		}
		if clock.tooSlow() {
			m.flags.Or(metStop)
			return k
		}
		their := m.early
		if f&metExact != 0 {
			their = m.exact
		} else if their.better(own) {
			// The early fit may be too early: ask for the exact one.
			m.mine = own
			m.flags.Or(metNeed)
			if ls.wait(m, seq, metExact, nil, &clock) == metQuit {
				return k
			}
			their = m.exact
		}
		if their.better(own) {
			m.flags.Or(metDecided | metLane1)
			continue
		}
		m.flags.Or(metDecided)
		nodes, at := ps.soonest(own)
		ps.placeAt(k, slots, singles, g, nodes, at)
	}
	return len(gangs)
}

// laneAhead is how many shared jobs ahead of the one it is at lane 1
// offers early fits for, while it waits for lane 0. Further ahead, more
// reservations come between an early fit and its job, and more early fits
// turn out too early.
const laneAhead = 8

// lane1 is lane 1's walk over the jobs from on that are to be placed
// (todo). For each shared job it offers its fit and waits for lane 0's
// decision; while it waits, it offers early fits for the shared jobs
// ahead (see Lanes above).
func (ps *pass) lane1(ls *lanes, from int, slots []placed, singles []int, gangs []gang, todo []bool) {
	var (
		seq int // shared jobs reached
		// changes counts the reservations made on lane 1's classes; an
		// early fit found since the last is exact (meeting.stamp).
		changes int
		// The look ahead: the next shared job to find is the one counted
		// aseq, from job ak on (ak < 0: none is left).
		ak, aseq int
	)
	// ahead offers one early fit, if the look ahead has any left within
	// laneAhead of seq, and reports whether it did.
	ahead := func() bool {
		if ak < 0 || aseq > seq+laneAhead {
			return false
		}
		for k, shared := ps.nextFor(1, ak, gangs, todo); k < len(gangs); k, shared = ps.nextFor(1, k+1, gangs, todo) {
			g := &gangs[k]
			if !shared {
				continue
			}
			if g.n > 1 {
				aseq++ // a shared gang: no early fit
				continue
			}
			ps.onlyLane(1)
			m := ls.meeting(aseq)
			m.open(aseq)
			m.early, m.stamp = ps.bestOne(g, noFit), changes
			m.flags.Or(metEarly)
			ak, aseq = k+1, aseq+1
			return true
		}
		ak = -1
		return false
	}
	for k, shared := ps.nextFor(1, from, gangs, todo); k < len(gangs); k, shared = ps.nextFor(1, k+1, gangs, todo) {
		g := &gangs[k]
		if !shared {
			if ps.place(k, slots, singles, g) {
				changes++
			}
			continue
		}
		seq++
		if aseq <= seq && ak >= 0 {
			ak, aseq = k+1, seq+1 // the look ahead starts after this job
		}
		m := ls.meeting(seq)
		if g.n > 1 {
			m.opened(seq)
			m.flags.Or(metHere)
			if ls.wait(m, seq, metDone, nil, nil) == metQuit { // idle: lane 0 uses lane 1's classes
				return
			}
			changes++ // lane 0 may have placed it on lane 1's classes
			continue
		}
		ps.onlyLane(1)
		switch {
		case !m.opened(seq): // no early fit
			m.exact = ps.bestOne(g, noFit)
			m.flags.Or(metExact)
		case m.stamp == changes:
			m.exact = m.early
			m.flags.Or(metExact)
		}
		f := ls.wait(m, seq, metDecided|metNeed|metStop, ahead, nil)
		if f&(metDecided|metStop|metQuit) == 0 {
			if f&metExact == 0 {
				// On the classes as they are now, before any reservation
				// after this job's (the look ahead has used ps.elig).
				// Lane 0's fit bounds the search; if it is the better, it
				// is the answer, which lane 0 then keeps.
				ps.eligible(g)
				ps.onlyLane(1)
				m.exact = ps.bestOne(g, m.mine)
				m.flags.Or(metExact)
			}
			f = ls.wait(m, seq, metDecided, ahead, nil)
		}
		if f&(metStop|metQuit) != 0 {
			return
		}
		if f&metLane1 != 0 {
			nodes, at := ps.soonest(m.exact)
			ps.placeAt(k, slots, singles, g, nodes, at)
			changes++
		}
	}
}

// place gives job k (gang g, ps.elig its eligible classes) its earliest
// fit, if any, and holds it; it reports whether it did.
func (ps *pass) place(k int, slots []placed, singles []int, g *gang) bool {
	nodes, at := ps.earliest(g)
	return ps.placeAt(k, slots, singles, g, nodes, at)
}

// placeAt gives job k (gang g) the fit nodes at at, unless nodes is nil
// (no fit), and holds it; it reports whether it did.
func (ps *pass) placeAt(k int, slots []placed, singles []int, g *gang, nodes []int, at int64) bool {
	if nodes == nil {
		return false
	}
	keep(slots, singles, k, nodes, at)
	ps.hold(g, slots[k].nodes, at)
	return true
}
