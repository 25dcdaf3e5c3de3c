package sched

import (
	"reflect"
	"testing"
)

func TestSchedule(t *testing.T) {
	twoNodes := []Node{
		{Name: "a", CPUs: []int{0, 1, 2, 3}, MemoryBytes: 8 << 30},
		{Name: "b", CPUs: []int{4, 5, 6, 7}, MemoryBytes: 16 << 30},
	}
	tests := []struct {
		name string
		snap Snapshot
		want Plan
	}{
		{
			name: "first fit in queue order",
			snap: Snapshot{Nodes: twoNodes, Pending: []Job{{ID: 1, Cores: 3}, {ID: 2, Cores: 2}, {ID: 3, Cores: 1}}},
			want: Plan{Starts: []Allocation{
				{Job: 1, Node: "a", CPUs: []int{0, 1, 2}},
				{Job: 2, Node: "b", CPUs: []int{4, 5}},
				{Job: 3, Node: "a", CPUs: []int{3}},
			}, Waiting: map[int64]string{}},
		},
		{
			name: "running allocations hold their cores and memory",
			snap: Snapshot{
				Nodes:   twoNodes,
				Running: []Allocation{{Job: 9, Node: "a", CPUs: []int{1, 2}, MemoryBytes: 7 << 30}},
				Pending: []Job{{ID: 1, Cores: 1, MemoryBytes: 2 << 30}, {ID: 2, Cores: 2}},
			},
			want: Plan{Starts: []Allocation{
				{Job: 1, Node: "b", CPUs: []int{4}, MemoryBytes: 2 << 30},
				{Job: 2, Node: "a", CPUs: []int{0, 3}},
			}, Waiting: map[int64]string{}},
		},
		{
			name: "zero cores means one",
			snap: Snapshot{Nodes: twoNodes[:1], Pending: []Job{{ID: 1}}},
			want: Plan{Starts: []Allocation{{Job: 1, Node: "a", CPUs: []int{0}}}, Waiting: map[int64]string{}},
		},
		{
			name: "too large for any node",
			snap: Snapshot{Nodes: twoNodes, Pending: []Job{{ID: 1, Cores: 5}}},
			want: Plan{Waiting: map[int64]string{1: "no node is large enough: 5 cores, no memory requested"}},
		},
		{
			name: "busy",
			snap: Snapshot{
				Nodes:   twoNodes[:1],
				Running: []Allocation{{Job: 9, Node: "a", CPUs: []int{0, 1, 2, 3}}},
				Pending: []Job{{ID: 1, Cores: 1, MemoryBytes: 1 << 30}},
			},
			want: Plan{Waiting: map[int64]string{1: "waiting for resources: 1 cores, 1024 MiB memory"}},
		},
		{
			name: "no nodes",
			snap: Snapshot{Pending: []Job{{ID: 1}}},
			want: Plan{Waiting: map[int64]string{1: "no node is up"}},
		},
		{
			name: "allocation on a node that is gone is ignored",
			snap: Snapshot{
				Nodes:   twoNodes[:1],
				Running: []Allocation{{Job: 9, Node: "gone", CPUs: []int{0}}},
				Pending: []Job{{ID: 1}},
			},
			want: Plan{Starts: []Allocation{{Job: 1, Node: "a", CPUs: []int{0}}}, Waiting: map[int64]string{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := deepCopy(tt.snap)
			got := Schedule(tt.snap)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Schedule() mismatch\n got: %+v\nwant: %+v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.snap, before) {
				t.Errorf("Schedule mutated its snapshot")
			}
			if again := Schedule(tt.snap); !reflect.DeepEqual(again, got) {
				t.Errorf("Schedule is not deterministic")
			}
		})
	}
}

func deepCopy(s Snapshot) Snapshot {
	c := s
	c.Nodes = nil
	for _, n := range s.Nodes {
		n.CPUs = append([]int(nil), n.CPUs...)
		c.Nodes = append(c.Nodes, n)
	}
	c.Running = nil
	for _, a := range s.Running {
		a.CPUs = append([]int(nil), a.CPUs...)
		c.Running = append(c.Running, a)
	}
	c.Pending = append([]Job(nil), s.Pending...)
	return c
}
