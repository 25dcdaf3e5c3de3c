// Package server is Gantry's controller: the HTTP/JSON API under /v1 (on a
// Unix socket, and optionally TCP), the node registry, the scheduling loop
// and the dispatch of jobs to node daemons.
//
// The server owns no state outside the store. A scheduling pass takes a
// snapshot from the store, hands it to sched.Schedule, and commits the
// resulting plan in one transaction; node daemons learn their desired state
// by long-polling their assignments, and report what runs and how jobs
// ended. A submission, a finished job or a returning node wakes the loop at
// once; the periodic pass is only a safety net.
package server
