// Package sim replays a Standard Workload Format log through the
// scheduling engine (package sched) on a virtual clock. It is the same
// engine the live server calls: the replayer only builds a Snapshot at
// each instant something happens and applies the Plan.
//
// Conventions, from the literature, so that results compare with other
// simulators:
//
//   - One pool of identical processors: one anonymous node of M cores
//     (Config.Procs, else the header's MaxProcs, else MaxNodes); memory
//     is ignored.
//   - A job's processors are the requested ones (field 8), else the
//     allocated ones (field 5). Its run time is field 4, truncated to the
//     requested time (field 9) when it exceeds it. Its estimate is the
//     requested time (the run time where that is missing), or the run time
//     itself with EstimatesActual.
//   - Config.Jobs takes the first N records of the file, before the skip
//     rules; records with run time <= 0, processors <= 0, or more
//     processors than the machine has are skipped and counted.
//   - The queue is ordered by submit time, then job number. At one
//     instant, completions are processed first, then arrivals, then one
//     scheduling pass.
//   - Conservative: the replayer carries each pass's reservations into
//     the next Snapshot, so a reservation, once made, stays; when a job
//     ends before its estimate it sets Snapshot.Compress, and the engine
//     moves every held reservation once, in queue order, to its earliest
//     fit before placing newly arrived jobs. The replayer wakes at the
//     earliest reservation start, so a job starts at its reservation time
//     even when nothing else happens then.
//   - EASY and FCFS carry nothing: their one reservation (the head's) is
//     recomputed at every pass, and a pass between events could not
//     change it.
//
// With Config.Nodes (gantry sim --nodes SPEC, see ParseNodes) the pool is
// replaced by a heterogeneous cluster, and each job gets a shape derived
// deterministically from its record (see Shape): some become GPU jobs, by
// a hash of the job number, and jobs larger than a node become gangs.
// Utilization is then over the cluster's cores, and the summary adds GPU
// utilization and the waits of GPU jobs, CPU jobs and gangs.
//
// Metrics: makespan from the first submit to the last end; utilization
// sum(procs × run) / (M × makespan); bounded slowdown
// max(1, (wait + run) / max(run, 10)).
package sim
