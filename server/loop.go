package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/sched"
)

// scheduleLoop runs a pass whenever it is woken, and every SchedulePeriod.
func (s *Server) scheduleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.SchedulePeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
		}
		if err := s.schedulePass(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("scheduling pass", "err", err)
		}
	}
}

// schedulePass snapshots the store, asks sched for a plan and commits it.
func (s *Server) schedulePass(ctx context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil { // a bug in a pass must not take the server down
			err = fmt.Errorf("scheduling pass panicked (please report this bug): %v", r)
		}
	}()
	start := time.Now()
	snap, err := s.snapshot(ctx)
	if err != nil {
		return err
	}
	if len(snap.Pending) == 0 {
		return nil
	}
	plan := sched.Schedule(snap)
	started, err := s.store.ApplyPlan(ctx, plan, s.now())
	if err != nil {
		return err
	}
	if len(started) > 0 {
		s.assign.bump()
	}
	if s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.Debug("scheduling pass", "pending", len(snap.Pending), "started", started, "took", time.Since(start))
	}
	return nil
}

// snapshot builds the scheduler's input: UP nodes by name, allocations of
// placed jobs, pending jobs in submission order.
func (s *Server) snapshot(ctx context.Context) (sched.Snapshot, error) {
	nodes, err := s.store.Nodes(ctx)
	if err != nil {
		return sched.Snapshot{}, err
	}
	pending, running, err := s.store.ScheduleInput(ctx)
	if err != nil {
		return sched.Snapshot{}, err
	}
	snap := sched.Snapshot{Now: s.now(), Pending: pending, Running: running}
	for _, n := range nodes {
		if n.State == api.NodeUp {
			snap.Nodes = append(snap.Nodes, sched.Node{Name: n.Name, CPUs: n.CPUs, MemoryBytes: n.MemoryBytes})
		}
	}
	return snap, nil
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
		down, err := s.store.MarkSilentNodesDown(ctx, s.now().Add(-s.cfg.HeartbeatTimeout))
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("node watchdog", "err", err)
			}
			continue
		}
		for _, n := range down {
			s.log.Warn("node down: no heartbeat", "node", n, "timeout", s.cfg.HeartbeatTimeout)
		}
	}
}
