// Package sched decides where jobs run. It is a pure function from a
// Snapshot of the cluster (nodes, running allocations, pending jobs in
// priority order, now) to a Plan (jobs to start, with their exact cores, and
// why every other pending job waits). It does no I/O, reads no clock and
// starts no goroutines; the same Snapshot always gives the same Plan. The
// live server and the trace replayer call the same code.
//
// The policy here is first fit in queue order: each pending job, in turn,
// takes the first node (in snapshot order) with enough free cores and
// memory. The backfill engine replaces the policy behind the same seam.
package sched
