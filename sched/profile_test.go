package sched

import (
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

// refProfile is the plain step function the profile must behave as: no
// block summaries, every search a walk over all steps.
type refProfile struct{ steps []step }

// free is the free vector at t.
func (r *refProfile) free(t int64) vec {
	k := 0
	for k+1 < len(r.steps) && r.steps[k+1].at <= t {
		k++
	}
	return r.steps[k].free
}

// add adds d (negative: takes) over [start, end).
func (r *refProfile) add(d vec, start, end int64) {
	for _, t := range []int64{start, end} {
		if t == never {
			continue
		}
		if k := slices.IndexFunc(r.steps, func(s step) bool { return s.at >= t }); k < 0 || r.steps[k].at != t {
			f := r.free(t)
			if k < 0 {
				k = len(r.steps)
			}
			r.steps = slices.Insert(r.steps, k, step{at: t, free: f})
		}
	}
	for k := range r.steps {
		if r.steps[k].at >= start && r.steps[k].at < end {
			r.steps[k].free.add(&d)
		}
	}
}

// fits reports whether req fits over [s, s+dur).
func (r *refProfile) fits(req *vec, s, dur int64) bool {
	if f := r.free(s); !f.covers(req) {
		return false
	}
	end := after(s, dur)
	for _, st := range r.steps {
		if st.at > s && st.at < end && !st.free.covers(req) {
			return false
		}
	}
	return true
}

// earliest tries from, then every step start after it, in order.
func (r *refProfile) earliest(req *vec, dur, from, limit int64) int64 {
	cands := []int64{from}
	for _, st := range r.steps {
		if st.at > from {
			cands = append(cands, st.at)
		}
	}
	for _, s := range cands {
		if s >= limit {
			break
		}
		if r.fits(req, s, dur) {
			return s
		}
	}
	return never
}

// refSummary computes block b's summary from its definition.
func refSummary(steps []step, b int) blockSum {
	var bs blockSum
	for k := b * profBlock; k < (b+1)*profBlock; k++ {
		f := steps[k].free
		for j, d := range profWindows {
			m := f
			for _, st := range steps[k:min(len(steps), k+profWalk+1)] {
				if st.at < after(steps[k].at, d) {
					for r := range nres {
						m[r] = min(m[r], st.free[r])
					}
				}
			}
			if k == b*profBlock {
				bs.win[j] = m
			}
			for r := range nres {
				bs.win[j][r] = max(bs.win[j][r], m[r])
			}
		}
		if k == b*profBlock {
			bs.lo, bs.hi = f, f
		}
		for r := range nres {
			bs.lo[r], bs.hi[r] = min(bs.lo[r], f[r]), max(bs.hi[r], f[r])
		}
	}
	return bs
}

// TestProfileAgainstReference drives a profile and the plain reference
// with the same random reservations and releases, long enough for many
// block summaries to go stale and be rebuilt, and wants the same steps
// and the same answers from find, blocked and earliestBefore throughout.
func TestProfileAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(51, 52))
	for round := range 12 {
		capv := vec{int64(4 + rng.IntN(60)), int64(8 + rng.IntN(100)), int64(rng.IntN(9))}
		p := profile{steps: []step{{free: capv}}, summed: true}
		ref := refProfile{steps: []step{{free: capv}}}
		type hold struct {
			v          vec
			start, end int64
		}
		var holds []hold
		// Times in minutes, so that the summarised windows (30 min to
		// 32 h) cover a few steps, many, or all of them.
		const unit = int64(time.Minute)
		horizon := int64(50 + rng.IntN(4000))
		for op := range 600 {
			if len(holds) > 0 && rng.IntN(4) == 0 {
				x := rng.IntN(len(holds))
				h := holds[x]
				holds = slices.Delete(holds, x, x+1)
				p.release(&h.v, h.start, h.end)
				neg := h.v
				ref.add(neg, h.start, h.end)
			} else {
				v := vec{int64(rng.IntN(5)), int64(rng.IntN(9)), int64(rng.IntN(2))}
				start := rng.Int64N(horizon) * unit
				end := never
				if rng.IntN(10) > 0 {
					end = start + (1+rng.Int64N(horizon/4+1))*unit
				}
				p.reserve(&v, start, end)
				neg := vec{-v[0], -v[1], -v[2]}
				ref.add(neg, start, end)
				holds = append(holds, hold{v, start, end})
			}
			if !slices.Equal(p.steps, ref.steps) {
				t.Fatalf("round %d op %d: steps differ:\n got %v\nwant %v", round, op, p.steps, ref.steps)
			}
			// The summaries it calls up to date are.
			for b := range p.clean {
				if want := refSummary(p.steps, b); p.blk[b] != want {
					t.Fatalf("round %d op %d: block %d summary %v, steps give %v", round, op, b, p.blk[b], want)
				}
			}
			for range 5 {
				req := vec{int64(rng.IntN(int(capv[0]) + 1)), int64(rng.IntN(int(capv[1]) + 1)), int64(rng.IntN(int(capv[2]) + 1))}
				dur := (1 + rng.Int64N(horizon/3+1)) * unit
				if rng.IntN(10) == 0 {
					dur = never
				}
				from := rng.Int64N(horizon+10) * unit
				limit := never
				if rng.IntN(2) == 0 {
					limit = from + rng.Int64N(horizon)*unit
				}
				what := fmt.Sprintf("round %d op %d: req %v dur %d from %d limit %d", round, op, req, dur, from, limit)
				if got, want := p.earliestBefore(&req, dur, from, limit), ref.earliest(&req, dur, from, limit); got != want {
					t.Fatalf("%s: earliestBefore %d, want %d", what, got, want)
				}
				i := p.find(from)
				if p.steps[i].at > from || i+1 < len(p.steps) && p.steps[i+1].at <= from {
					t.Fatalf("%s: find gives step %d", what, i)
				}
				end := after(from, dur)
				want := -1
				for k := i; k < len(p.steps) && p.steps[k].at < end; k++ {
					if !p.steps[k].free.covers(&req) {
						want = k
						break
					}
				}
				if got := p.blocked(&req, i, end); got != want {
					t.Fatalf("%s: blocked %d, want %d", what, got, want)
				}
			}
		}
	}
}

// withMin runs Schedule with mins, the least a Conservative pass needs to
// keep some structure, set so that every pass keeps it (on) or none does.
func withMin(mins []*int, on bool, snap Snapshot) Plan {
	for _, min := range mins {
		old := *min
		defer func() { *min = old }()
		*min = math.MaxInt
		if on {
			*min = 0
		}
	}
	return Schedule(snap)
}

// indexMins turn start indexes on and off.
var indexMins = []*int{&startIndexMinNodes, &startIndexMinWork}

// TestSummariesSamePlan checks that block summaries change nothing in
// Conservative's plans.
func TestSummariesSamePlan(t *testing.T) { samePlans(t, []*int{&profSumMinNodes}) }

// TestStartIndexSamePlan checks that start indexes change nothing in
// Conservative's plans.
func TestStartIndexSamePlan(t *testing.T) { samePlans(t, indexMins) }

// samePlans checks that Conservative's plans are the same whether or not
// the passes keep what *min turns on: random heterogeneous clusters
// (gangs, GPU kinds, windows, limits, preemption, priorities), random
// replays with carried reservations and compression, and heterogeneous
// queues long enough to fill many blocks.
func samePlans(t *testing.T, mins []*int) {
	same := func(t *testing.T, snap Snapshot) Plan {
		t.Helper()
		off, on := withMin(mins, false, snap), withMin(mins, true, snap)
		if !reflect.DeepEqual(on, off) {
			t.Fatalf("the plan differs:\nwith    %+v\nwithout %+v\nsnap %+v", on, off, snap)
		}
		return on
	}
	rng := rand.New(rand.NewPCG(61, 62))
	for i := range 1500 {
		snap := randomCluster(rng)
		snap.Policy = Conservative
		t.Run(fmt.Sprint("cluster", i), func(t *testing.T) { same(t, snap) })
	}
	rng = rand.New(rand.NewPCG(63, 64))
	for i := range 300 {
		snap := randomSnapshot(rng)
		snap.Policy = Conservative
		t.Run(fmt.Sprint("replay", i), func(t *testing.T) {
			plan := same(t, snap)
			for range 3 {
				snap = carryOver(rng, snap, plan)
				plan = same(t, snap)
			}
		})
	}
	for _, c := range []struct{ pending, nodes int }{{400, 3}, {3000, 20}} {
		snap := heteroSnapshot(c.pending, c.nodes, Conservative)
		t.Run(fmt.Sprintf("hetero-%dx%d", c.pending, c.nodes), func(t *testing.T) {
			plan := same(t, snap)
			snap.Reservations, snap.Compress = plan.Reservations[:len(plan.Reservations)/2], true
			same(t, snap)
		})
	}
}
