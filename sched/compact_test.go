package sched

import (
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestStamp(t *testing.T) {
	for _, tt := range []struct {
		name string
		t    time.Time
		want Stamp
	}{
		{"zero is none", time.Time{}, 0},
		{"epoch plus one", time.Unix(0, 1), 1},
		{"now-ish", time.Date(2026, 11, 27, 1, 2, 3, 4, time.UTC), Stamp(time.Date(2026, 11, 27, 1, 2, 3, 4, time.UTC).UnixNano())},
		{"before 1678 saturates", time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC), math.MinInt64},
		{"after 2262 saturates", time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC), math.MaxInt64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := StampOf(tt.t); got != tt.want {
				t.Fatalf("StampOf(%v) = %d, want %d", tt.t, got, tt.want)
			}
		})
	}
	if !Stamp(0).Time().IsZero() {
		t.Errorf("the zero Stamp is not the zero time")
	}
	now := time.Date(2026, 11, 27, 1, 2, 3, 4, time.UTC)
	if back := StampOf(now).Time(); !back.Equal(now) {
		t.Errorf("round trip: %v, want %v", back, now)
	}
}

func TestCount32(t *testing.T) {
	for _, tt := range []struct {
		n    int
		want int32
	}{{0, 0}, {7, 7}, {-3, -3}, {math.MaxInt32, math.MaxInt32}, {math.MaxInt32 + 1, math.MaxInt32},
		{math.MaxInt, math.MaxInt32}, {math.MinInt, math.MinInt32}} {
		if got := Count32(tt.n); got != tt.want {
			t.Errorf("Count32(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestPermute(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for n := range 50 {
		s := make([]int, n)
		for k := range s {
			s[k] = 100 + k
		}
		order := rng.Perm(n)
		want := make([]int, n)
		for k, from := range order {
			want[k] = s[from]
		}
		saved := slices.Clone(order)
		permute(s, order)
		if !slices.Equal(s, want) {
			t.Fatalf("n=%d order %v: got %v, want %v", n, saved, s, want)
		}
		if !slices.Equal(order, saved) {
			t.Fatalf("n=%d: order changed: %v, was %v", n, order, saved)
		}
	}
}

// TestQueueFeatures: a queue's node selector (Queue.Features) acts as if
// each of its jobs asked for those features after its own, and leaves the
// jobs as they are.
func TestQueueFeatures(t *testing.T) {
	nodes := []Node{
		{Name: "a", Cores: 4},
		{Name: "b", Cores: 4, Features: []string{"ib"}},
		{Name: "c", Cores: 2, Features: []string{"ib", "kind=gpu"}},
	}
	for _, tt := range []struct {
		name string
		jobs []*Job
	}{
		{"selected nodes only", []*Job{{ID: 1, Cores: 1, Queue: "sel"}, {ID: 2, Cores: 4, Queue: "sel"}, {ID: 3, Cores: 4, Queue: "sel", Walltime: sec(60)}}},
		{"with the job's own", []*Job{{ID: 1, Cores: 2, Queue: "sel", Features: []string{"kind=gpu"}}, {ID: 2, Cores: 4, Queue: "sel", Features: []string{"kind=gpu"}}}},
		{"unmatched", []*Job{{ID: 1, Cores: 1, Queue: "sel", Features: []string{"kind=cpu"}}}},
		{"other queues unaffected", []*Job{{ID: 1, Cores: 4, Queue: "other"}, {ID: 2, Cores: 4, Queue: "other"}}},
	} {
		for _, p := range []Policy{EASY, Conservative} {
			t.Run(tt.name+"/"+p.String(), func(t *testing.T) {
				queues := []Queue{{Name: "sel", Features: []string{"ib"}}, {Name: "other"}}
				snap := Snapshot{Now: t0, Policy: p, Nodes: nodes, Queues: queues, Pending: tt.jobs}
				got := checkedSchedule(t, snap)
				// The same jobs asking for the selector themselves.
				var asked []*Job
				for _, j := range tt.jobs {
					c := *j
					if j.Queue == "sel" {
						c.Features = append(slices.Clip(c.Features), "ib")
					}
					asked = append(asked, &c)
				}
				want := checkedSchedule(t, Snapshot{Now: t0, Policy: p, Nodes: nodes,
					Queues: []Queue{{Name: "sel"}, {Name: "other"}}, Pending: asked})
				if !reflect.DeepEqual(got, want) {
					t.Errorf("with the queue's selector:\n%+v\nwith the jobs':\n%+v", got, want)
				}
			})
		}
	}
}
