package sched

import (
	"reflect"
	"testing"
	"time"
)

func ids(from, to int) []int {
	var out []int
	for c := from; c < to; c++ {
		out = append(out, c)
	}
	return out
}

// pairs is a 4-GPU node whose GPUs are NVLinked in pairs (0-1, 2-3), one
// pair per NUMA node; CPUs 0-3 are NUMA node 0, 4-7 NUMA node 1.
func pairs(name string) Node {
	g := func(k, peer, numa int) GPU {
		return GPU{Index: k, Model: "NVIDIA H100", MemoryMiB: 81920, NUMANode: numa, Links: []GPULink{{Peer: peer, NVLinks: 18}}}
	}
	return Node{Name: name, CPUs: ids(0, 8), MemoryBytes: 64 << 30,
		GPUs: []GPU{g(0, 1, 0), g(1, 0, 0), g(2, 3, 1), g(3, 2, 1)},
		NUMA: []NUMANode{{ID: 0, CPUs: ids(0, 4)}, {ID: 1, Socket: 1, CPUs: ids(4, 8)}}}
}

// TestPlacement: hand-made cases whose placement is obvious.
func TestPlacement(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		want []Allocation // Job, Node, CPUs, GPUs of the starts
	}{
		{
			// GPU 0 is busy: the 2-GPU job gets the intact NVLink pair
			// 2-3 (not 1-2, which are lower but not linked), and CPUs on
			// their NUMA node 1.
			name: "NVLink pair and its NUMA node",
			snap: Snapshot{Nodes: []Node{pairs("g")},
				Running: []Allocation{{Job: 9, Node: "g", CPUs: []int{0}, GPUs: []int{0}}},
				Pending: []*Job{{ID: 1, Cores: 2, GPUs: 2}}},
			want: []Allocation{{Job: 1, Node: "g", CPUs: []int{4, 5}, GPUs: []int{2, 3}}},
		},
		{
			// One GPU: GPU 1 pairs with busy GPU 0... any GPU is as good
			// by links, so NUMA: the job's cores follow its GPU.
			name: "cores on the GPU's NUMA node",
			snap: Snapshot{Nodes: []Node{pairs("g")},
				Running: []Allocation{{Job: 9, Node: "g", CPUs: []int{0, 1, 2, 3}, GPUs: []int{0, 1, 2}}},
				Pending: []*Job{{ID: 1, Cores: 3, GPUs: 1}}},
			want: []Allocation{{Job: 1, Node: "g", CPUs: []int{4, 5, 6}, GPUs: []int{3}}},
		},
		{
			// A CPU job that fits in one NUMA node gets the fullest one
			// that still fits (best fit), keeping NUMA node 0 whole.
			name: "CPU job inside one NUMA node",
			snap: Snapshot{Nodes: []Node{pairs("g")},
				Running: []Allocation{{Job: 9, Node: "g", CPUs: []int{4, 5}}},
				Pending: []*Job{{ID: 1, Cores: 2}}},
			want: []Allocation{{Job: 1, Node: "g", CPUs: []int{6, 7}}},
		},
		{
			// Three node types; each job lands on the cheapest that fits.
			name: "cheapest fitting node type",
			snap: Snapshot{Nodes: []Node{
				{Name: "big", CPUs: ids(0, 8), MemoryBytes: 64 << 30, Weight: 10, GPUs: pairs("").GPUs},
				{Name: "cpu", CPUs: ids(0, 8), MemoryBytes: 64 << 30, Weight: 1},
				{Name: "small", CPUs: ids(0, 8), MemoryBytes: 64 << 30, Weight: 5, GPUs: pairs("").GPUs[:2]},
			}, Pending: []*Job{{ID: 1, Cores: 4}, {ID: 2, Cores: 1, GPUs: 2}, {ID: 3, Cores: 1, GPUs: 4}}},
			want: []Allocation{
				{Job: 1, Node: "cpu", CPUs: ids(0, 4)},
				{Job: 2, Node: "small", CPUs: []int{0}, GPUs: []int{0, 1}},
				{Job: 3, Node: "big", CPUs: []int{0}, GPUs: []int{0, 1, 2, 3}},
			},
		},
		{
			// A GPU model and memory filter.
			name: "GPU model",
			snap: Snapshot{Nodes: []Node{
				{Name: "a100", CPUs: ids(0, 8), GPUs: []GPU{{Index: 0, Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960}}},
				{Name: "h100", CPUs: ids(0, 8), GPUs: []GPU{{Index: 0, Model: "NVIDIA H100 80GB HBM3", MemoryMiB: 81920}}},
			}, Pending: []*Job{{ID: 1, GPUs: 1, GPUModel: "h100"}, {ID: 2, GPUs: 1, GPUMemoryMiB: 40000}}},
			want: []Allocation{{Job: 1, Node: "h100", CPUs: []int{0}, GPUs: []int{0}}, {Job: 2, Node: "a100", CPUs: []int{0}, GPUs: []int{0}}},
		},
		{
			// A gang of 2 nodes × 2 tasks, within one switch although
			// the first nodes in order are on two switches.
			name: "gang within one switch",
			snap: Snapshot{Nodes: []Node{
				{Name: "n1", Cores: 4, Switch: "s1"}, {Name: "n2", Cores: 4, Switch: "s2"},
				{Name: "n3", Cores: 4, Switch: "s2"},
			}, Pending: []*Job{{ID: 1, Cores: 2, Tasks: 4, TasksPerNode: 2}}},
			want: []Allocation{{Job: 1, Node: "n2"}, {Job: 1, Node: "n3"}},
		},
		{
			// Exclusive takes the whole node.
			name: "exclusive",
			snap: Snapshot{Nodes: []Node{pairs("g")}, Pending: []*Job{{ID: 1, Exclusive: true}, {ID: 2}}},
			want: []Allocation{{Job: 1, Node: "g", CPUs: ids(0, 8), GPUs: []int{0, 1, 2, 3}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.snap.Now = t0
			var got []Allocation
			for _, a := range checkedSchedule(t, tt.snap).Starts {
				got = append(got, Allocation{Job: a.Job, Node: a.Node, CPUs: a.CPUs, GPUs: a.GPUs})
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestGangReservation: four 4-core nodes, two busy until 100. A gang
// needs all four nodes for 50 s: it is reserved at 100 on all four, and
// small jobs backfill around it only where they end by 100 — so the
// gang's reservation is the same with or without them (it is not
// starved), under EASY and conservative.
func TestGangReservation(t *testing.T) {
	nodes := []Node{{Name: "n1", Cores: 4}, {Name: "n2", Cores: 4}, {Name: "n3", Cores: 4}, {Name: "n4", Cores: 4}}
	running := []Allocation{
		{Job: 8, Node: "n1", Cores: 4, Start: at(-10), Walltime: sec(110)},
		{Job: 9, Node: "n2", Cores: 4, Start: at(-10), Walltime: sec(110)},
	}
	gang := &Job{ID: 1, Cores: 4, Nodes: 4, Walltime: sec(50)}
	var small []*Job
	for k := range 6 {
		small = append(small, &Job{ID: int64(10 + k), Cores: 1, Walltime: sec(90)}) // ends by 100
	}
	small = append(small, &Job{ID: 20, Cores: 1, Walltime: sec(200)}) // would cross 100
	for _, p := range []Policy{EASY, Conservative} {
		t.Run(p.String(), func(t *testing.T) {
			alone := checkedSchedule(t, Snapshot{Now: t0, Policy: p, Nodes: nodes, Running: running, Pending: []*Job{gang}})
			snap := Snapshot{Now: t0, Policy: p, Nodes: nodes, Running: running, Pending: append([]*Job{gang}, small...)}
			plan := checkedSchedule(t, snap)
			var gangRes []Reservation
			for _, r := range plan.Reservations {
				if r.Job == 1 {
					gangRes = append(gangRes, r)
				}
			}
			if len(gangRes) != 4 || !gangRes[0].Start.Equal(at(100)) || !reflect.DeepEqual(gangRes, alone.Reservations) {
				t.Fatalf("gang reserved %+v, alone %+v", gangRes, alone.Reservations)
			}
			var started []int64
			for _, a := range plan.Starts {
				started = append(started, a.Job)
			}
			if want := []int64{10, 11, 12, 13, 14, 15}; !reflect.DeepEqual(started, want) {
				t.Errorf("started %v, want %v", started, want)
			}
			w := plan.Waits[len(plan.Waits)-1]
			if w.Job != 20 || (p == EASY && (w.Reason != ReasonPriority || w.BlockedBy != 1)) {
				t.Errorf("job 20 waits %+v (%s)", w, reasonOf(plan, 20))
			}
		})
	}
}

// TestMaintenance: a window on the node from 100 to 200. A 50 s job
// starts; a 150 s job would cross the window: it waits for it and is
// reserved after it; a job without walltime never starts there.
func TestMaintenance(t *testing.T) {
	snap := Snapshot{Now: t0, Nodes: []Node{{Name: "n", Cores: 4}},
		Windows: []Window{{Name: "bios", Nodes: []string{"n"}, Start: at(100), End: at(200)}},
		Pending: []*Job{{ID: 1, Cores: 1, Walltime: sec(150)}, {ID: 2, Cores: 1, Walltime: sec(50)}, {ID: 3, Cores: 1}}}
	for _, p := range []Policy{EASY, Conservative} {
		snap.Policy = p
		plan := checkedSchedule(t, snap)
		if len(plan.Starts) != 1 || plan.Starts[0].Job != 2 {
			t.Errorf("%v: starts %+v", p, plan.Starts)
		}
		if w := plan.Waits[0]; w.Job != 1 || w.Reason != ReasonMaintenance || !w.Start.Equal(at(200)) {
			t.Errorf("%v: job 1 waits %+v (%s)", p, w, reasonOf(plan, 1))
		}
	}
	// A drain deadline: the window never ends.
	snap.Windows = []Window{{Name: "drain", Start: at(100)}}
	snap.Policy = EASY
	plan := checkedSchedule(t, snap)
	if len(plan.Starts) != 1 || plan.Starts[0].Job != 2 || len(plan.Reservations) != 0 {
		t.Errorf("drain deadline: %+v", plan)
	}
}

// TestPreemptGang: nodes a and b (4 cores each) are full of low-queue
// jobs: gang 9 (2 cores on each, running 500 s), job 7 on a (10 s) and
// job 6 on b (20 s). A high-queue job needing 2 cores preempts the job
// that loses least (7, on a); a high-queue gang needing both nodes
// whole preempts all of them, gang 9 on both nodes together.
func TestPreemptGang(t *testing.T) {
	base := Snapshot{Now: t0,
		Nodes: []Node{{Name: "a", CPUs: ids(0, 4)}, {Name: "b", CPUs: ids(0, 4)}},
		Running: []Allocation{
			{Job: 9, Node: "a", CPUs: []int{0, 1}, Start: at(-500), Walltime: sec(1000), Queue: "low"},
			{Job: 9, Node: "b", CPUs: []int{0, 1}, Start: at(-500), Walltime: sec(1000), Queue: "low"},
			{Job: 7, Node: "a", CPUs: []int{2, 3}, Start: at(-10), Walltime: sec(1000), Queue: "low"},
			{Job: 6, Node: "b", CPUs: []int{2, 3}, Start: at(-20), Walltime: sec(1000), Queue: "low"},
		},
		Queues: []Queue{{Name: "low"}, {Name: "high", Priority: 10, Preempts: []string{"low"}}},
	}
	tests := []struct {
		name    string
		job     *Job
		mode    PreemptAction
		want    []Preemption
		wantRun []Allocation
	}{
		{"least lost work", &Job{ID: 1, Cores: 2, Walltime: sec(60), Queue: "high"}, Requeue,
			[]Preemption{{Job: 7, Nodes: []string{"a"}, By: 1, Lost: sec(10)}},
			[]Allocation{{Job: 1, Node: "a", CPUs: []int{2, 3}}}},
		{"a gang on all its nodes", &Job{ID: 1, Cores: 4, Nodes: 2, Walltime: sec(60), Queue: "high"}, Suspend,
			[]Preemption{
				{Job: 6, Nodes: []string{"b"}, Action: Suspend, By: 1, Lost: sec(20)},
				{Job: 7, Nodes: []string{"a"}, Action: Suspend, By: 1, Lost: sec(10)},
				{Job: 9, Nodes: []string{"a", "b"}, Action: Suspend, By: 1, Lost: sec(500)},
			},
			[]Allocation{{Job: 1, Node: "a", CPUs: ids(0, 4)}, {Job: 1, Node: "b", CPUs: ids(0, 4)}}},
	}
	for _, tt := range tests {
		for _, p := range []Policy{EASY, Conservative} {
			t.Run(tt.name+"/"+p.String(), func(t *testing.T) {
				snap := base
				snap.Policy = p
				snap.Queues = []Queue{base.Queues[0], base.Queues[1]}
				snap.Queues[1].PreemptMode = tt.mode
				snap.Pending = []*Job{tt.job, {ID: 2, Cores: 1, Queue: "low", Walltime: sec(10)}}
				plan := checkedSchedule(t, snap)
				if !reflect.DeepEqual(plan.Preemptions, tt.want) {
					t.Errorf("preemptions %+v\nwant %+v", plan.Preemptions, tt.want)
				}
				var got []Allocation
				for _, a := range plan.Starts {
					got = append(got, Allocation{Job: a.Job, Node: a.Node, CPUs: a.CPUs})
				}
				if !reflect.DeepEqual(got, tt.wantRun) {
					t.Errorf("starts %+v\nwant %+v", got, tt.wantRun)
				}
			})
		}
	}
}

// TestReasons: every kind of wait says why.
func TestReasons(t *testing.T) {
	snap := Snapshot{Now: t0, Policy: EASY,
		Nodes:  []Node{{Name: "a", Cores: 4}, {Name: "gpu", Cores: 4, GPUs: []GPU{{Index: 0}}, State: NodeDrained}},
		Queues: []Queue{{Name: "q", MaxRunningPerUser: 1}},
		Pending: []*Job{
			{ID: 1, Held: true},
			{ID: 2, Dependency: true},
			{ID: 3, Begin: stampAt(60)},
			{ID: 4, Queue: "q", User: "u", Walltime: sec(10)},
			{ID: 5, Queue: "q", User: "u", Walltime: sec(10)},
			{ID: 6, GPUs: 1},
			{ID: 7, Cores: 8},
			{ID: 8, Tasks: 1, Nodes: 2},
		}}
	plan := checkedSchedule(t, snap)
	want := map[int64]Reason{1: ReasonHeld, 2: ReasonDependency, 3: ReasonBeginTime, 5: ReasonLimit, 6: ReasonDrained,
		7: ReasonTooLarge, 8: ReasonInvalid}
	got := map[int64]Reason{}
	for _, w := range plan.Waits {
		got[w.Job] = w.Reason
		if reasonOf(plan, w.Job) == "" {
			t.Errorf("job %d has no reason text", w.Job)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("reasons %v, want %v; %v", got, want, plan.Waiting)
	}
}

// TestPriority: the multifactor order and its visible factors.
func TestPriority(t *testing.T) {
	snap := Snapshot{Now: t0, Nodes: []Node{{Name: "a", Cores: 8}},
		Queues: []Queue{{Name: "normal", Priority: 10}, {Name: "urgent", Priority: 100}},
		Priority: &PriorityConfig{Queue: 1000, Age: 100, FairShare: 500, Size: 10, MaxAge: 100 * time.Second,
			HalfLife: time.Hour,
			Usage:    []Usage{{User: "heavy", Group: "g", Value: 1000, At: t0.Add(-time.Hour)}}},
		Pending: []*Job{
			{ID: 1, Queue: "normal", User: "heavy", Group: "g", Submit: stampAt(-50)},
			{ID: 2, Queue: "normal", User: "light", Group: "g", Submit: stampAt(-50)},
			{ID: 3, Queue: "urgent", User: "heavy", Group: "g", Submit: stampAt(0)},
			{ID: 4, Queue: "normal", User: "light", Group: "g", Submit: stampAt(-50), Boost: 10000},
		}}
	plan := checkedSchedule(t, snap)
	var order []int64
	for _, p := range plan.Priorities {
		order = append(order, p.Job)
	}
	if want := []int64{4, 3, 2, 1}; !reflect.DeepEqual(order, want) {
		t.Fatalf("order %v, want %v: %+v", order, want, plan.Priorities)
	}
	p := plan.Priorities[2] // job 2: light user in a group alone
	if p.Queue != 0.1 || p.Age != 0.5 || p.FairShare <= plan.Priorities[3].FairShare || p.Size != 1.0/8 {
		t.Errorf("factors %+v", p)
	}
	if plan.Starts[0].Job != 4 {
		t.Errorf("starts %+v not in priority order", plan.Starts)
	}
}
