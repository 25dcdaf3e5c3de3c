package sched

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
)

// randomSnapshot is a small, consistent cluster: nodes with and without
// CPU ids, running jobs on free ids (some without walltime, some past it),
// and a queue of jobs of every size, some too large, some without
// walltime.
func randomSnapshot(rng *rand.Rand) Snapshot {
	snap := Snapshot{Now: t0, Policy: Policy(rng.IntN(3))}
	nodes := rng.IntN(4)
	var id int64
	for i := range nodes {
		n := Node{Name: fmt.Sprintf("n%d", i), MemoryBytes: int64(1+rng.IntN(8)) << 30}
		cores := 1 + rng.IntN(12)
		if rng.IntN(2) == 0 {
			n.CPUs = rng.Perm(cores) // unsorted on purpose
		} else {
			n.Cores = cores
		}
		snap.Nodes = append(snap.Nodes, n)
		free := cores
		mem := n.MemoryBytes
		next := 0
		for free > 0 && rng.IntN(3) > 0 {
			c := 1 + rng.IntN(free)
			m := rng.Int64N(mem/2 + 1)
			id++
			a := Allocation{Job: 1000 + id, Node: n.Name, MemoryBytes: m, Start: at(-rng.IntN(100))}
			if n.CPUs != nil {
				a.CPUs = append(a.CPUs, n.CPUs[next:next+c]...)
				next += c
			} else {
				a.Cores = c
			}
			if rng.IntN(6) > 0 {
				a.Walltime = sec(1 + rng.IntN(200))
			}
			snap.Running = append(snap.Running, a)
			free -= c
			mem -= m
		}
	}
	for k := range rng.IntN(25) {
		j := &Job{ID: int64(k + 1), Cores: int32(rng.IntN(14)), MemoryBytes: rng.Int64N(6 << 30)}
		if rng.IntN(8) > 0 {
			j.Walltime = sec(1 + rng.IntN(150))
		}
		snap.Pending = append(snap.Pending, j)
	}
	return snap
}

// TestProperties checks random snapshots under every policy: capacity is
// never exceeded (now or in any reservation), the snapshot is not mutated,
// the plan is deterministic (checkedSchedule), and backfill never delays a
// reservation: a job's reservation is the same whether or not the jobs
// behind it are in the queue.
func TestProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		snap := randomSnapshot(rng)
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			plan := checkedSchedule(t, snap)
			for _, r := range plan.Reservations {
				k := 0
				for snap.Pending[k].ID != r.Job {
					k++
				}
				prefix := snap
				prefix.Pending = snap.Pending[:k+1]
				alone := Schedule(prefix).Reservations
				last := alone[len(alone)-1]
				if !reflect.DeepEqual(last, r) {
					t.Fatalf("%v: job %d is reserved at %+v with the jobs behind it, %+v without", snap.Policy, r.Job, r, last)
				}
			}
		})
	}
}

// TestHeldReservations replays a random cluster for a few passes with
// Conservative, carrying the reservations and sometimes compressing, and
// checks every plan.
func TestHeldReservations(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 500 {
		snap := randomSnapshot(rng)
		snap.Policy = Conservative
		plan := checkedSchedule(t, snap)
		for range 3 {
			snap = carryOver(rng, snap, plan)
			plan = checkedSchedule(t, snap)
			if !snap.Compress {
				// Kept reservations do not move.
				kept := map[int64]Reservation{}
				for _, r := range plan.Reservations {
					kept[r.Job] = r
				}
				for _, h := range snap.Reservations {
					if r, ok := kept[h.Job]; ok && !r.Start.Equal(h.Start) {
						t.Fatalf("job %d moved from %v to %v without compression", h.Job, h.Start, r.Start)
					}
				}
			}
		}
	}
}

// carryOver is the snapshot of the next pass after plan, made from snap,
// as a replay would take it: some running jobs end (possibly early), the
// jobs plan starts run, and the plan's reservations are carried,
// sometimes to be compressed.
func carryOver(rng *rand.Rand, snap Snapshot, plan Plan) Snapshot {
	var running []Allocation
	for _, a := range snap.Running {
		if rng.IntN(3) > 0 {
			running = append(running, a)
		}
	}
	started := map[int64]bool{}
	for _, a := range plan.Starts {
		running = append(running, a)
		started[a.Job] = true
	}
	var pending []*Job
	for _, j := range snap.Pending {
		if !started[j.ID] {
			pending = append(pending, j)
		}
	}
	snap.Running, snap.Pending = running, pending
	snap.Reservations, snap.Compress = plan.Reservations, rng.IntN(2) == 0
	return snap
}
