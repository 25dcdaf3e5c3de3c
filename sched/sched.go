package sched

import (
	"fmt"
	"slices"
	"time"
)

// Node is a node that can take jobs. Nodes that are down are left out of
// the Snapshot by the caller.
type Node struct {
	Name string
	// CPUs are the allocatable CPU ids.
	CPUs []int
	// MemoryBytes is the allocatable memory.
	MemoryBytes int64
}

// Job is a pending job's request.
type Job struct {
	ID          int64
	Cores       int
	MemoryBytes int64
}

// Allocation is a job's hold on one node: exact CPU ids and memory.
type Allocation struct {
	Job         int64
	Node        string
	CPUs        []int
	MemoryBytes int64
}

// Snapshot is an immutable view of the cluster at Now. Nodes are in a
// stable order (by name); Pending is in priority order. Schedule only reads
// it.
type Snapshot struct {
	Now     time.Time
	Nodes   []Node
	Running []Allocation
	Pending []Job
}

// Plan is Schedule's whole output. The caller commits Starts in one
// transaction, or drops the Plan and schedules again from a fresh Snapshot.
type Plan struct {
	// Starts are the jobs to start now, in decision order.
	Starts []Allocation
	// Waiting says, for each pending job not started, why it waits.
	Waiting map[int64]string
}

// free is a node's unallocated capacity during a pass.
type free struct {
	cpus []int // sorted
	mem  int64
}

// Schedule places pending jobs first fit in queue order.
func Schedule(snap Snapshot) Plan {
	avail := make([]free, len(snap.Nodes))
	index := make(map[string]int, len(snap.Nodes))
	for i, n := range snap.Nodes {
		cpus := slices.Clone(n.CPUs)
		slices.Sort(cpus)
		avail[i] = free{cpus: cpus, mem: n.MemoryBytes}
		index[n.Name] = i
	}
	for _, a := range snap.Running {
		i, ok := index[a.Node]
		if !ok {
			continue // its node is down or gone; it holds nothing schedulable
		}
		avail[i].cpus = slices.DeleteFunc(avail[i].cpus, func(c int) bool { return slices.Contains(a.CPUs, c) })
		avail[i].mem -= a.MemoryBytes
	}

	plan := Plan{Waiting: make(map[int64]string)}
	for _, j := range snap.Pending {
		cores := max(j.Cores, 1)
		placed := false
		for i, n := range snap.Nodes {
			f := &avail[i]
			if len(f.cpus) < cores || f.mem < j.MemoryBytes {
				continue
			}
			alloc := Allocation{Job: j.ID, Node: n.Name, CPUs: slices.Clone(f.cpus[:cores]), MemoryBytes: j.MemoryBytes}
			f.cpus = f.cpus[cores:]
			f.mem -= j.MemoryBytes
			plan.Starts = append(plan.Starts, alloc)
			placed = true
			break
		}
		if !placed {
			plan.Waiting[j.ID] = waitReason(snap.Nodes, cores, j.MemoryBytes)
		}
	}
	return plan
}

// waitReason explains why a job of the given size did not start: either no
// node could ever hold it, or the nodes that could are busy.
func waitReason(nodes []Node, cores int, mem int64) string {
	if len(nodes) == 0 {
		return "no node is up"
	}
	for _, n := range nodes {
		if len(n.CPUs) >= cores && n.MemoryBytes >= mem {
			return fmt.Sprintf("waiting for resources: %d cores, %s memory", cores, memString(mem))
		}
	}
	return fmt.Sprintf("no node is large enough: %d cores, %s memory requested", cores, memString(mem))
}

func memString(b int64) string {
	if b == 0 {
		return "no"
	}
	return fmt.Sprintf("%d MiB", b>>20)
}
