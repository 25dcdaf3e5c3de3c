package server

import (
	"context"

	"github.com/gantry-hpc/gantry/sched"
)

// resumePreempted thaws the jobs that preemptions froze, once their
// preemptor no longer runs and no other running job holds any of their
// CPUs or GPUs (their memory stays theirs while frozen). snap is the
// pass's view of what runs. It reports whether it thawed any: the
// snapshot is then stale.
func (s *Server) resumePreempted(ctx context.Context, snap *sched.Snapshot) (bool, error) {
	victims, err := s.store.PreemptSuspendedJobs(ctx)
	if err != nil || len(victims) == 0 {
		return false, err
	}
	type slot struct {
		node string
		id   int
	}
	running := map[int64]bool{}
	cpus, gpus := map[slot]bool{}, map[slot]bool{}
	hold := func(a sched.Allocation) {
		for _, c := range a.CPUs {
			cpus[slot{a.Node, c}] = true
		}
		for _, g := range a.GPUs {
			gpus[slot{a.Node, g}] = true
		}
	}
	for _, a := range snap.Running {
		if !a.Suspended {
			running[a.Job] = true
			hold(a)
		}
	}
	thawed := false
	for _, v := range victims {
		if running[v.By] {
			continue
		}
		var mine []sched.Allocation
		free := true
		for _, a := range snap.Running {
			if a.Job != v.Job {
				continue
			}
			mine = append(mine, a)
			for _, c := range a.CPUs {
				free = free && !cpus[slot{a.Node, c}]
			}
			for _, g := range a.GPUs {
				free = free && !gpus[slot{a.Node, g}]
			}
		}
		if !free || len(mine) == 0 {
			continue
		}
		ok, err := s.store.ResumePreempted(ctx, v.Job, s.now())
		if err != nil {
			return thawed, err
		}
		if ok {
			s.log.Info("resuming a job its preemptor no longer needs", "job_id", v.Job, "preemptor", v.By)
			thawed = true
			for _, a := range mine {
				hold(a)
			}
		}
	}
	return thawed, nil
}
