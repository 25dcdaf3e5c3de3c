package sched

import (
	"runtime"
	"testing"
)

// TestLanesSamePlan checks that a Conservative pass that goes on in two
// lanes makes the plan it would make alone: the random clusters and
// replays of samePlans, with start indexes kept on every pass and lanes
// on every pass that has two classes or more (or on none); then with the
// lanes stopped every few shared jobs, as on a busy machine (laneClock).
func TestLanesSamePlan(t *testing.T) {
	if runtime.GOMAXPROCS(0) < 2 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	}
	for _, min := range indexMins {
		old := *min
		defer func() { *min = old }()
		*min = 0
	}
	t.Run("lanes", func(t *testing.T) { samePlans(t, []*int{&laneMinJobs}) })
	t.Run("stopped", func(t *testing.T) {
		defer func(stretch int, wait, switches float64) {
			laneStretch, laneMaxWait, laneMaxSwitches = stretch, wait, switches
		}(laneStretch, laneMaxWait, laneMaxSwitches)
		laneStretch, laneMaxWait, laneMaxSwitches = 3, -1, -1
		samePlans(t, []*int{&laneMinJobs})
	})
}
