// Package sched decides where and when jobs run. It is a pure function,
// Schedule, from a Snapshot of the cluster (nodes, running allocations
// with their expected ends, pending jobs in priority order, held
// reservations, the policy, now) to a Plan (jobs to start now with their
// exact CPU ids, reservations held for waiting jobs, and why each waiting
// job waits with its predicted start). It does no I/O, reads no clock,
// logs nothing and starts no goroutines; it never modifies the Snapshot;
// the same Snapshot always gives the same Plan. The live server and the
// trace replayer (package sim) call the same code.
//
// The core is a time profile per node: a step function of the free
// resource vector (cores, memory; issue 7 adds GPUs) from now on, built
// from the running jobs' expected ends (start + walltime; a job without a
// walltime never ends, one past it ends OverrunGrace from now). A
// reservation takes its vector from its start to its end; the earliest
// fit of a request is found by one forward scan from a binary search.
//
//	snapshot ──▶ profiles (running jobs' ends) ──▶ policy walk in queue order ──▶ plan
//	                                               ├─ FCFS: start while it fits; reserve the head; stop
//	                                               ├─ EASY: start while it fits; reserve the head;
//	                                               │        backfill whatever fits now without touching it
//	                                               └─ Conservative: keep held reservations (compress once
//	                                                        if asked), reserve every other job at its earliest
//	                                                        fit; start those reserved at now
//
// A backfilled job never delays a reservation, because it is only started
// when it fits in the profile that already holds the reservation. For a
// single pool this is exactly EASY's classic rule (end by the shadow time,
// or use only the extra processors, which it consumes).
//
// The live server holds nothing between passes: each pass recomputes
// every reservation from the snapshot (for Conservative, a full re-plan in
// queue order). The replayer carries Conservative's reservations from one
// Plan to the next Snapshot and asks for compression when a job ends
// early, which gives the literature's event semantics; see package sim.
package sched
