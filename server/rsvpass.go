package server

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/store"
)

// Advance reservations (api.Reservation with Users). In the main pass a
// reservation is a window on its nodes, as a maintenance window is: no
// other job may use them from its start to its end. The jobs submitted
// into it (the store gives them the feature "rsv:ID") are taken out of the
// main pass and planned in a pass of their own: on the reservation's
// nodes, with what runs there, not before its start, and with nothing
// allowed past its end.

// splitReserved takes the jobs of advance reservations out of snap's
// pending jobs and returns them by reservation id.
func splitReserved(snap *sched.Snapshot) map[int64][]*sched.Job {
	var out map[int64][]*sched.Job
	snap.Pending = slices.DeleteFunc(snap.Pending, func(j *sched.Job) bool {
		for _, f := range j.Features {
			if id, ok := strings.CutPrefix(f, store.ReservationFeaturePrefix); ok {
				n, _ := strconv.ParseInt(id, 10, 64)
				if out == nil {
					out = map[int64][]*sched.Job{}
				}
				out[n] = append(out[n], j)
				return true
			}
		}
		return false
	})
	return out
}

// reservationPasses plans each reservation's jobs (by id) and commits the
// plans. main is the main pass's snapshot, rsvs the reservations it was
// made with. It returns the jobs started.
func (s *Server) reservationPasses(ctx context.Context, main *sched.Snapshot, rsvs []api.Reservation, jobs map[int64][]*sched.Job) ([]int64, error) {
	var started []int64
	for id, pending := range jobs {
		k := slices.IndexFunc(rsvs, func(r api.Reservation) bool { return r.ID == id })
		if k < 0 || len(rsvs[k].Users) == 0 {
			// Ended (or removed) under them: they can never start.
			var plan sched.Plan
			why := fmt.Sprintf("reservation %d has ended or was removed: the job can never start (kill it)", id)
			for _, j := range pending {
				plan.Waiting = append(plan.Waiting, sched.JobReason{Job: j.ID, Reason: why})
			}
			if _, err := s.store.ApplyPlan(ctx, plan, s.now()); err != nil {
				return started, err
			}
			continue
		}
		plan := sched.Schedule(reservationSnapshot(main, rsvs[k], pending))
		ids, err := s.store.ApplyPlan(ctx, plan, s.now())
		if err != nil {
			return started, err
		}
		started = append(started, ids...)
	}
	return started, nil
}

// reservationSnapshot is the view of one reservation's pass: its nodes
// (with its feature) and what runs on them, its jobs, and windows that
// keep them inside the reservation and out of the other windows there.
func reservationSnapshot(main *sched.Snapshot, rsv api.Reservation, pending []*sched.Job) sched.Snapshot {
	feature := store.ReservationFeature(rsv.ID)
	snap := sched.Snapshot{Now: main.Now, Policy: main.Policy, Queues: main.Queues, Priority: main.Priority, Pending: pending}
	for _, n := range main.Nodes {
		if slices.Contains(rsv.Nodes, n.Name) {
			n.Features = append(slices.Clip(n.Features), feature)
			snap.Nodes = append(snap.Nodes, n)
		}
	}
	for _, a := range main.Running {
		if slices.Contains(rsv.Nodes, a.Node) {
			snap.Running = append(snap.Running, a)
		}
	}
	own := fmt.Sprintf("reservation %d ", rsv.ID)
	for _, w := range main.Windows {
		if !strings.HasPrefix(w.Name, own) {
			snap.Windows = append(snap.Windows, w)
		}
	}
	snap.Windows = append(snap.Windows, sched.Window{Name: own + "end", Nodes: rsv.Nodes, Start: rsv.End})
	if main.Now.Before(rsv.Start) {
		snap.Windows = append(snap.Windows, sched.Window{Name: own + "start", Nodes: rsv.Nodes, Start: main.Now, End: rsv.Start})
	}
	return snap
}
