package sim

import (
	"slices"

	"github.com/gantry-hpc/gantry/sched"
)

// The reference replayers below are the textbook algorithms written as
// plainly as possible over one processor count, with none of the engine's
// data structures: the engine's replay must give exactly their schedules.

type refRun struct {
	job        int
	start, end int64 // end: expected (start + estimate)
	procs      int
	actualEnd  int64
}

type refRes struct {
	job        int
	start, end int64
	procs      int
}

// reference replays jobs (in queue order, as Run prepares them) and
// returns each job's start.
func reference(jobs []Job, m int, policy sched.Policy) []int64 {
	starts := make([]int64, len(jobs))
	var running []refRun
	var queue []int
	held := map[int]*refRes{} // conservative reservations by job
	next := 0
	free := m
	for next < len(jobs) || len(running) > 0 || len(queue) > 0 {
		now := int64(1) << 62
		if next < len(jobs) {
			now = jobs[next].Submit
		}
		for _, r := range running {
			now = min(now, r.actualEnd)
		}
		for _, h := range held {
			now = min(now, h.start)
		}
		compress := false
		running = slices.DeleteFunc(running, func(r refRun) bool {
			if r.actualEnd == now {
				free += r.procs
				if r.actualEnd < r.end {
					compress = true
				}
				return true
			}
			return false
		})
		for next < len(jobs) && jobs[next].Submit == now {
			queue = append(queue, next)
			next++
		}
		start := func(k int) {
			j := jobs[k]
			starts[k] = now
			free -= j.Procs
			if free < 0 {
				panic("reference over-committed")
			}
			running = append(running, refRun{job: k, start: now, end: now + j.Estimate, procs: j.Procs, actualEnd: now + j.Run})
		}
		switch policy {
		case sched.FCFS, sched.EASY:
			for len(queue) > 0 && jobs[queue[0]].Procs <= free {
				start(queue[0])
				queue = queue[1:]
			}
			if len(queue) == 0 || policy == sched.FCFS {
				continue
			}
			// The head's shadow time and the extra processors.
			head := jobs[queue[0]]
			ends := slices.Clone(running)
			slices.SortFunc(ends, func(a, b refRun) int { return int(a.end - b.end) })
			avail, shadow, extra := free, int64(0), 0
			for i := 0; i < len(ends); {
				t := ends[i].end
				for ; i < len(ends) && ends[i].end == t; i++ {
					avail += ends[i].procs
				}
				if avail >= head.Procs {
					shadow, extra = t, avail-head.Procs
					break
				}
			}
			rest := queue[:1]
			for _, k := range queue[1:] {
				j := jobs[k]
				switch {
				case j.Procs <= free && now+j.Estimate <= shadow:
					start(k)
				case j.Procs <= free && j.Procs <= extra:
					start(k)
					extra -= j.Procs
				default:
					rest = append(rest, k)
				}
			}
			queue = rest
		case sched.Conservative:
			usage := func(t int64) int {
				u := 0
				for _, r := range running {
					if t < r.end {
						u += r.procs
					}
				}
				for _, h := range held {
					if h.start <= t && t < h.end {
						u += h.procs
					}
				}
				return u
			}
			earliest := func(k int) int64 {
				j := jobs[k]
				cands := []int64{now}
				for _, r := range running {
					cands = append(cands, r.end)
				}
				for _, h := range held {
					cands = append(cands, h.end)
				}
				slices.Sort(cands)
				for _, s := range cands {
					if s < now {
						continue
					}
					ok := usage(s)+j.Procs <= m
					for _, h := range held {
						if ok && h.start > s && h.start < s+j.Estimate {
							ok = usage(h.start)+j.Procs <= m
						}
					}
					if ok {
						return s
					}
				}
				panic("no fit")
			}
			if compress {
				for _, k := range queue {
					if h := held[k]; h != nil {
						delete(held, k)
						s := earliest(k)
						held[k] = &refRes{job: k, start: s, end: s + jobs[k].Estimate, procs: jobs[k].Procs}
					}
				}
			}
			for _, k := range queue {
				if held[k] == nil {
					s := earliest(k)
					held[k] = &refRes{job: k, start: s, end: s + jobs[k].Estimate, procs: jobs[k].Procs}
				}
			}
			rest := queue[:0]
			for _, k := range queue {
				if held[k].start == now {
					delete(held, k)
					start(k)
				} else {
					rest = append(rest, k)
				}
			}
			queue = rest
		}
	}
	return starts
}
