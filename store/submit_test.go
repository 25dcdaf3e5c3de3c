package store

import (
	"sync"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

// TestSubmitToken: a submission that repeats its user's submit token is
// the first job again, whether it comes later or in the same group
// commit; another user's token, or no token, makes a new job.
func TestSubmitToken(t *testing.T) {
	type sub struct {
		uid   uint32
		token string
	}
	tests := []struct {
		name string
		subs []sub
		// wantSame[i] is the index of the submission whose id
		// submission i gets (itself for a new job).
		wantSame []int
	}{
		{"same user, same token", []sub{{1000, "a"}, {1000, "a"}}, []int{0, 0}},
		{"different tokens", []sub{{1000, "a"}, {1000, "b"}}, []int{0, 1}},
		{"another user's token", []sub{{1000, "a"}, {1001, "a"}}, []int{0, 1}},
		{"no token", []sub{{1000, ""}, {1000, ""}}, []int{0, 1}},
		{"repeated after others", []sub{{1000, "a"}, {1000, "b"}, {1001, "a"}, {1000, "a"}, {1001, "a"}}, []int{0, 1, 2, 0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTestStore(t)
			ids := make([]int64, len(tt.subs))
			for i, sb := range tt.subs {
				j := newJob(1)
				j.UID, j.Spec.SubmitToken = sb.uid, sb.token
				id, err := s.SubmitJob(t.Context(), j)
				if err != nil {
					t.Fatal(err)
				}
				ids[i] = id
			}
			for i := range ids {
				for k := range ids {
					if same := tt.wantSame[i] == tt.wantSame[k]; (ids[i] == ids[k]) != same {
						t.Errorf("ids %v: submissions %d and %d the same job: %v, want %v", ids, i, k, !same, same)
					}
				}
			}
			jobs, err := s.Jobs(t.Context(), JobFilter{})
			if err != nil {
				t.Fatal(err)
			}
			if want := distinct(tt.wantSame); len(jobs) != want {
				t.Errorf("%d jobs stored, want %d", len(jobs), want)
			}
		})
	}
}

// TestSubmitTokenConcurrent: many submissions with one token at once
// (they share group commits) make one job, and all get its id.
func TestSubmitTokenConcurrent(t *testing.T) {
	s := openTestStore(t)
	const n = 32
	ids := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			j := newJob(1)
			j.Spec.SubmitToken = "same"
			id, err := s.SubmitJob(t.Context(), j)
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("ids %v: want one job", ids)
		}
	}
	jobs, err := s.Jobs(t.Context(), JobFilter{States: []api.JobState{api.StateRunnable}})
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Jobs = %d jobs, %v; want 1", len(jobs), err)
	}
	pending, _, err := s.ScheduleInput(t.Context())
	if err != nil || len(pending) != 1 {
		t.Fatalf("ScheduleInput = %d pending, %v; want 1", len(pending), err)
	}
}

func distinct(same []int) int {
	n := 0
	for i, k := range same {
		if i == k {
			n++
		}
	}
	return n
}
