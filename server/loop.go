package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/noded/discover"
	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/store"
)

// scheduleLoop runs an eligibility pass and a scheduling pass whenever it
// is woken, when the earliest begin time of a pending job comes, and every
// SchedulePeriod.
func (s *Server) scheduleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SchedulePeriod)
	defer t.Stop()
	begin := time.NewTimer(time.Hour)
	defer begin.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		case <-begin.C:
		}
		res, err := s.store.Promote(ctx, s.now())
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("eligibility pass", "err", err)
			}
			continue
		}
		if len(res.Runnable)+len(res.Cancelled) > 0 {
			s.events.bump()
			for _, id := range res.Cancelled {
				s.log.Info("job cancelled: dependency can never be satisfied", "job_id", id)
			}
		}
		next := time.Hour
		if !res.NextBegin.IsZero() {
			next = max(res.NextBegin.Sub(s.now()), time.Millisecond)
		}
		begin.Reset(next)
		passStart := time.Now()
		s.changed.Store(false) // before the pass's snapshot: a later change counts
		if err := s.schedulePass(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduling pass", "err", err)
		}
		s.metrics.passDone(ctx, time.Since(passStart))
		if !s.pause(ctx, time.Since(passStart)) {
			return
		}
	}
}

// fullWait bounds the wait after a long pass that left no core free
// (Server.full): while only submissions come, the next pass waits this
// long; their jobs could not start anyway, and in the meantime they are
// held and listed, only without a pending reason. (Server.fullWait; tests
// change it.)
const fullWait = time.Second

// pause waits, after a pass that took took, before the next one; it
// returns false when ctx ends first. Under a storm of submissions passes
// would run back to back and starve the writers; after a long pass, let
// twice as long go by (at most 250ms), gathering the wake-ups. A quick
// pass (an idle or small cluster) adds no delay. (Four times as long
// saved little CPU under a storm, and on a loaded machine, where a pass
// over a few jobs can take over 5 ms, it delays the next job's start.)
// When the long pass left no core free, the wait goes on, up to
// Server.fullWait, until something but a submission wakes the loop (a job
// ended, a node came, a queue changed): each pass then plans every
// waiting job again for nothing but their reasons.
func (s *Server) pause(ctx context.Context, took time.Duration) bool {
	if took <= 5*time.Millisecond {
		return true
	}
	wait := min(2*took, 250*time.Millisecond)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
	}
	if !s.full || wait >= s.fullWait {
		return true
	}
	timer.Reset(s.fullWait - wait)
	woken := false
	for !s.changed.Load() {
		select {
		case <-ctx.Done():
			return false
		case <-s.wake:
			woken = true
			continue
		case <-timer.C:
		}
		break
	}
	if woken {
		s.kickSubmit() // the wake-up taken here is the loop's
	}
	return true
}

// schedulePass snapshots the store, asks sched for a plan and commits it.
func (s *Server) schedulePass(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil { // a bug in a pass must not take the server down
			err = fmt.Errorf("scheduling pass panicked (please report this bug): %v", r)
		}
	}()
	start := time.Now()
	s.full = false
	snap, rsvs, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	thawed, err := s.resumePreempted(ctx, &snap)
	if err != nil {
		return err
	}
	if thawed {
		s.assign.bump()
		s.events.bump()
		if snap, rsvs, err = s.snapshot(ctx); err != nil {
			return err
		}
	}
	if reserved := splitReserved(&snap); len(reserved) > 0 {
		started, err := s.reservationPasses(ctx, &snap, rsvs, reserved)
		if len(started) > 0 {
			s.assign.bump()
		}
		if err != nil {
			return err
		}
	}
	if len(snap.Pending) == 0 {
		return nil
	}
	plan := sched.Schedule(snap)
	s.full = fullAfter(snap, plan)
	s.keepPriorities(plan.Priorities)
	started, err := s.store.ApplyPlan(ctx, plan, s.now())
	if err != nil {
		return err
	}
	for _, p := range plan.Preemptions {
		s.log.Info("job preempted", "job_id", p.Job, "by", p.By, "action", p.Action, "nodes", p.Nodes)
	}
	if len(plan.Preemptions) > 0 {
		s.events.bump()
		s.assign.bump()
	}

	if len(started) > 0 {
		s.assign.bump()
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("scheduling pass", "pending", len(snap.Pending), "started", started, "took", time.Since(start))
	}
	return nil
}

// fullAfter reports whether plan, made from snap, leaves no core free on
// any node that takes jobs, with no queue allowed to preempt: then a job
// submitted now cannot start before something else changes (a job ends,
// a node comes up or is resumed), which wakes the loop anyway. Suspended
// jobs' cores count as free.
func fullAfter(snap sched.Snapshot, plan sched.Plan) bool {
	for _, q := range snap.Queues {
		if len(q.Preempts) > 0 {
			return false
		}
	}
	held := make(map[string]int, len(snap.Nodes))
	for _, a := range snap.Running {
		if !a.Suspended {
			held[a.Node] += max(len(a.CPUs), a.Cores)
		}
	}
	for _, a := range plan.Starts {
		held[a.Node] += max(len(a.CPUs), a.Cores)
	}
	for _, n := range snap.Nodes {
		if n.State == sched.NodeUp && held[n.Name] < max(len(n.CPUs), n.Cores) {
			return false
		}
	}
	return true
}

// snapshot builds the scheduler's input: every node with its state,
// allocations of placed jobs, pending jobs in submission order, windows,
// and the configured policy; and returns the reservations it read, for
// the advance reservations' passes. Nothing is held over between passes:
// each pass plans every pending job afresh (for Conservative, a full
// re-plan in queue order each time).
func (s *Server) snapshot(ctx context.Context) (sched.Snapshot, []api.Reservation, error) {
	nodes, err := s.store.Nodes(ctx)
	if err != nil {
		return sched.Snapshot{}, nil, err
	}
	pending, running, err := s.store.ScheduleInputInto(ctx, s.pending)
	if err != nil {
		return sched.Snapshot{}, nil, err
	}
	s.pending = pending
	topos, err := s.store.NodeTopologies(ctx)
	if err != nil {
		return sched.Snapshot{}, nil, err
	}
	snap := sched.Snapshot{Now: s.now(), Policy: s.cfg.Policy, Pending: pending, Running: running, NoWaits: true}
	if err := s.queueOrder(ctx, &snap); err != nil {
		return sched.Snapshot{}, nil, err
	}
	// Maintenance reservations, and drain deadlines (from which a node is
	// taken for good), are windows backfill never crosses.
	reservations, err := s.store.Reservations(ctx, snap.Now)
	if err != nil {
		return sched.Snapshot{}, nil, err
	}
	for _, r := range reservations {
		snap.Windows = append(snap.Windows, sched.Window{Name: fmt.Sprintf("reservation %d (%s)", r.ID, r.Reason), Nodes: r.Nodes, Start: r.Start, End: r.End})
	}
	for _, n := range nodes {
		if n.Drain != nil && n.Drain.Deadline != nil {
			snap.Windows = append(snap.Windows, sched.Window{Name: "drain of " + n.Name, Nodes: []string{n.Name}, Start: *n.Drain.Deadline})
		}
	}
	// Every node, up or not: a job that only nodes that are not up could
	// hold waits with that reason, not "no node is large enough".
	for _, n := range nodes {
		node := sched.Node{Name: n.Name, CPUs: n.CPUs, MemoryBytes: n.MemoryBytes, Features: nodeFeatures(n.Labels), State: nodeState(n.State)}
		node.GPUs, node.NUMA = s.nodeTopology(n.Name, topos[n.Name])
		snap.Nodes = append(snap.Nodes, node)
	}
	tagHostLists(&snap)
	return snap, reservations, nil
}

// tagHostLists gives each host list a pending job is limited to (bsub -m;
// the store's feature "hosts:a,b") as a feature to exactly the nodes it
// names: the job then fits any one of them and no other. Nodes named by no
// list keep their classes.
func tagHostLists(snap *sched.Snapshot) {
	var lists []string
	for i := range snap.Pending {
		for _, f := range snap.Pending[i].Features {
			if strings.HasPrefix(f, store.HostsFeaturePrefix) && !slices.Contains(lists, f) {
				lists = append(lists, f)
			}
		}
	}
	if len(lists) == 0 {
		return
	}
	byName := make(map[string]int, len(snap.Nodes))
	for i, n := range snap.Nodes {
		byName[n.Name] = i
	}
	for _, f := range lists {
		for _, name := range strings.Split(strings.TrimPrefix(f, store.HostsFeaturePrefix), ",") {
			if i, ok := byName[name]; ok {
				n := &snap.Nodes[i]
				n.Features = append(slices.Clip(n.Features), f)
			}
		}
	}
}

// topoEntry is a node's topology as the scheduler sees it, cached by the
// JSON it came from.
type topoEntry struct {
	raw  string
	gpus []sched.GPU
	numa []sched.NUMANode
}

// nodeTopology turns a node's reported topology into the scheduler's GPUs
// (with their NVLinks and NUMA nodes; MIG-partitioned GPUs are left out)
// and NUMA nodes. It decodes each node's JSON once, until it changes. Only
// the scheduling loop calls it.
func (s *Server) nodeTopology(name, raw string) ([]sched.GPU, []sched.NUMANode) {
	if e, ok := s.topos[name]; ok && e.raw == raw {
		return e.gpus, e.numa
	}
	var e topoEntry
	e.raw = raw
	var t discover.Topology
	if raw != "" && json.Unmarshal([]byte(raw), &t) == nil {
		for _, d := range t.GPUs {
			if d.MIGEnabled {
				continue
			}
			g := sched.GPU{Index: d.Index, Model: d.Model, MemoryMiB: int64(d.MemoryMiB), NUMANode: d.NUMANode}
			for _, l := range d.Links {
				if l.NVLinks > 0 {
					g.Links = append(g.Links, sched.GPULink{Peer: l.Peer, NVLinks: l.NVLinks})
				}
			}
			e.gpus = append(e.gpus, g)
		}
		sockets := map[int]int{}
		for _, c := range t.CPUs {
			sockets[c.NUMANode] = c.Socket
		}
		for _, nn := range t.NUMANodes {
			e.numa = append(e.numa, sched.NUMANode{ID: nn.ID, Socket: sockets[nn.ID], CPUs: nn.CPUs})
		}
	}
	if s.topos == nil {
		s.topos = map[string]topoEntry{}
	}
	s.topos[name] = e
	return e.gpus, e.numa
}

// watchNodes marks nodes DOWN when they stay silent past the heartbeat
// timeout.
func (s *Server) watchNodes(ctx context.Context) {
	t := time.NewTicker(max(s.cfg.HeartbeatTimeout/4, 100*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := s.now()
		down, lost, err := s.store.MarkSilentNodesDown(ctx, now.Add(-s.cfg.HeartbeatTimeout), now)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("node watchdog", "err", err)
			}
			continue
		}
		for _, n := range down {
			s.log.Warn("node down: no heartbeat", "node", n, "timeout", s.cfg.HeartbeatTimeout)
		}
		if len(lost) > 0 {
			s.log.Warn("jobs lost with their node: failed or requeued", "job_ids", lost)
			s.events.bump()
			s.assign.bump()
			s.kick()
		}
		stuck, err := s.store.RequeueStuckGangs(ctx, now.Add(-s.cfg.GangStartTimeout), now)
		if err != nil && ctx.Err() == nil {
			s.log.Error("gang start barrier", "err", err)
		}
		if len(stuck) > 0 {
			s.log.Warn("gangs requeued: not every part was ready in time", "job_ids", stuck, "timeout", s.cfg.GangStartTimeout)
			s.events.bump()
			s.assign.bump()
			s.kick()
		}
		killed, err := s.store.KillPastDrainDeadline(ctx, s.now())
		if err != nil && ctx.Err() == nil {
			s.log.Error("drain deadlines", "err", err)
		}
		if len(killed) > 0 {
			s.log.Info("killing jobs past their node's drain deadline", "job_ids", killed)
			s.assign.bump()
		}
	}
}

// usageWindow is how far back fair share looks: eight half-lives, after
// which usage weighs less than 0.4%.
const usageWindow = 8 * 7 * 24 * time.Hour

// queueOrder gives the pass what orders and limits the queue: the queues
// (priority, per-user limits; jobs of an inactive queue are left out, they
// do not start) and the multifactor priority with every user's recent
// usage for fair share, and which queues may preempt which (the pass
// chooses victims; ApplyPlan stops them).
func (s *Server) queueOrder(ctx context.Context, snap *sched.Snapshot) error {
	queues, err := s.store.QueueSpecs(ctx)
	if err != nil {
		return err
	}
	inactive := map[string]bool{}
	for _, q := range queues {
		if !q.Active {
			inactive[q.Name] = true
			continue
		}
		mode := sched.Requeue
		if q.PreemptMode == "suspend" {
			mode = sched.Suspend
		}
		// A queue's jobs run only on the nodes its selector's labels
		// match (the pending jobs are the store's: the pass adds the
		// queue's features to theirs, they are not changed).
		snap.Queues = append(snap.Queues, sched.Queue{Name: q.Name, Priority: q.Priority,
			MaxRunningPerUser: q.MaxRunningJobsPerUser, MaxCoresPerUser: q.MaxCoresPerUser, MaxGPUsPerUser: q.MaxGPUsPerUser,
			Preempts: q.Preempts, PreemptMode: mode, Features: labelFeatures(q.Nodes)})
	}
	if len(inactive) > 0 {
		snap.Pending = slices.DeleteFunc(snap.Pending, func(j *sched.Job) bool { return inactive[j.Queue] })
	}
	// Usage changes only as jobs end: read it at most once a minute.
	if s.usage == nil || snap.Now.Sub(s.usageAt) > time.Minute {
		days, err := s.store.DailyUsage(ctx, snap.Now.Add(-usageWindow))
		if err != nil {
			return err
		}
		s.usage, s.usageAt = s.usage[:0], snap.Now
		for _, d := range days {
			s.usage = append(s.usage, sched.Usage{User: d.User, Value: d.CoreSeconds, At: d.Day})
		}
	}
	prio := sched.DefaultPriority()
	prio.Usage = s.usage
	snap.Priority = prio
	return nil
}

// keepPriorities remembers the pass's job priorities for the API; array
// candidates (negative ids) count for their array. The slice is kept as
// it is: a map of a million priorities cost more memory, and building it
// more time, than the rare look-ups of priorityOf save.
func (s *Server) keepPriorities(prios []sched.JobPriority) {
	s.prioMu.Lock()
	s.priorities = prios
	s.prioMu.Unlock()
}

// priorityOf returns job id's priority at the last pass, if it waited.
// The priorities are highest first, so an array's is its best
// candidate's.
func (s *Server) priorityOf(id int64) *api.JobPriority {
	s.prioMu.Lock()
	defer s.prioMu.Unlock()
	for _, p := range s.priorities {
		if p.Job == id || p.Job < 0 && (-p.Job)>>20 == id {
			return &api.JobPriority{Priority: p.Priority, Queue: p.Queue, Age: p.Age, FairShare: p.FairShare, Size: p.Size, Boost: p.Boost}
		}
	}
	return nil
}

// labelFeatures turns a queue's node selector into the scheduler's
// features: "key=value", sorted. A selector's features must all be among
// a node's (nodeFeatures).
func labelFeatures(labels map[string]string) []string {
	if len(labels) == 0 {
		return nil
	}
	out := make([]string, 0, len(labels))
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// nodeFeatures are a node's labels as the scheduler's features:
// "key=value", and "key" alone for a job that needs the label with any
// value (bsub select[defined(key)]), sorted.
func nodeFeatures(labels map[string]string) []string {
	out := labelFeatures(labels)
	for k := range labels {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// nodeState is the scheduler's view of a node's state.
func nodeState(s api.NodeState) sched.NodeState {
	switch s {
	case api.NodeUp:
		return sched.NodeUp
	case api.NodeDraining:
		return sched.NodeDraining
	case api.NodeDrained:
		return sched.NodeDrained
	}
	return sched.NodeDown
}
