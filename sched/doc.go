// Package sched decides where and when jobs run. It is a pure function,
// Schedule, from a Snapshot of the cluster (nodes, running allocations
// with their expected ends, pending jobs in priority order, held
// reservations, the policy, now) to a Plan (jobs to start now with their
// exact CPU ids, reservations held for waiting jobs, and why each waiting
// job waits with its predicted start). It does no I/O and logs nothing;
// it never modifies the Snapshot; the same Snapshot always gives the same
// Plan. The live server and the trace replayer (package sim) call the
// same code. A large Conservative pass over several classes of nodes
// runs in two goroutines (lanes.go), and watches the clock only to tell
// whether they are faster than one; it returns once both are done, and
// its Plan is the one a single goroutine makes.
//
// The core is a time profile per node: a step function of the free
// resource vector (cores, memory, GPUs) from now on, built from the
// running jobs' expected ends (start + walltime; a job without a walltime
// never ends, one past it ends OverrunGrace from now). A reservation
// takes its vector from its start to its end; a maintenance window or
// drain deadline (Snapshot.Windows) takes the whole node, so nothing is
// started or reserved across it; the earliest fit of a request is found
// by one forward scan from a binary search. On a Conservative pass over
// many nodes, a profile also summarises its steps by blocks (minimum and
// maximum free vector, and the best free vector sustained over a few
// window lengths), so the scan passes blocks where the request cannot
// start (profile.go); and each class of nodes keeps a start index, a B+
// tree of all its nodes' steps in time order whose subtrees carry upper
// bounds of what can start in them for a set of walltime windows, so
// that a job's earliest fit is found by walking the candidate starts
// from the earliest, skipping what cannot hold it, instead of scanning
// every node (startindex.go). Such a pass gives each class to one of two
// lanes, goroutines that own their classes and walk the queue together,
// meeting over the jobs that may use classes of both (lanes.go).
//
// The cluster model (types.go): nodes with CPU ids by NUMA node, memory,
// GPUs with NVLink links and NUMA nodes, features, a cost weight, switch
// and rack labels, and a state; jobs of Tasks tasks with per-task cores,
// memory and GPUs (of a model, with a minimum memory), a span (one node,
// N tasks per node, exactly K nodes), exclusivity, queue, user, group,
// submit time, boost and eligibility. Pass by pass:
//
//   - Nodes are grouped into classes of interchangeable nodes (nodes.go);
//     each class has a segment tree of its nodes' free-now vectors, so the
//     first node where a request fits now costs O(log n), and whether a
//     job may ever use a class is decided once per class.
//
//   - Placement order (gang.go): the cheapest weight first (AWS Batch's
//     best fit over instance types), then snapshot order; a gang (a job
//     on several nodes) takes all its nodes at once or none, and its
//     reservation holds every node over one window; a gang is packed
//     into as few switches (else racks) as possible.
//
//   - Inside a node (place.go): the GPUs that join the most NVLink pairs,
//     then span the fewest NUMA nodes; the job's CPUs on those NUMA nodes.
//
//   - Queue order (priority.go): as given, or the documented multifactor
//     priority (queue, age, two-level fair share, size, boost) with each
//     job's factors in the Plan.
//
//   - Preemption (preempt.go): a queue may preempt others; victims lose
//     the least elapsed run time, a gang on all its nodes together,
//     requeued or suspended per the preempting queue.
//
//   - Limits (limits.go) and reasons: every waiting job says why (Reason).
//
//     snapshot ──▶ profiles (running jobs' ends) ──▶ policy walk in queue order ──▶ plan
//     ├─ FCFS: start while it fits; reserve the head; stop
//     ├─ EASY: start while it fits; reserve the head;
//     │        backfill whatever fits now without touching it
//     └─ Conservative: keep held reservations (compress once
//     if asked), reserve every other job at its earliest
//     fit; start those reserved at now
//
// A backfilled job never delays a reservation, because it is only started
// when it fits in the profile that already holds the reservation. For a
// single pool this is exactly EASY's classic rule (end by the shadow time,
// or use only the extra processors, which it consumes). A gang at the
// head is reserved on all its nodes over one window, which no later job
// may touch, so a stream of small jobs cannot starve it; and since no
// pass ever holds part of a gang, two gangs cannot deadlock.
//
// The live server holds nothing between passes: each pass recomputes
// every reservation from the snapshot (for Conservative, a full re-plan in
// queue order). The replayer carries Conservative's reservations from one
// Plan to the next Snapshot and asks for compression when a job ends
// early, which gives the literature's event semantics; see package sim.
package sched
