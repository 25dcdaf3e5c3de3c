package sched

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

// reasonOf is the reason text of job id in plan, "" if none.
func reasonOf(plan Plan, id int64) string {
	for _, w := range plan.Waiting {
		if w.Job == id {
			return w.Reason
		}
	}
	return ""
}

// stampAt is at as a Stamp, for a Job's times.
func stampAt(s int) Stamp { return StampOf(at(s)) }

func sec(s int) time.Duration { return time.Duration(s) * time.Second }

// pool is one node of n anonymous processors, like the trace replayer's.
func pool(n int) []Node { return []Node{{Name: "pool", Cores: n}} }

// run is a running job of cores processors on the pool, expected to end at
// end seconds (it started at -1 s).
func run(id int64, cores, end int) Allocation {
	return Allocation{Job: id, Node: "pool", Cores: cores, Start: at(-1), Walltime: sec(end + 1)}
}

func job(id int64, cores int32, walltime int) *Job {
	return &Job{ID: id, Cores: cores, Walltime: sec(walltime)}
}

// outcome is a compact view of a Plan for hand-made cases: who starts now,
// and each reservation's start (seconds from now).
type outcome struct {
	starts   []int64
	reserved map[int64]int
}

func summarize(p Plan) outcome {
	o := outcome{reserved: map[int64]int{}}
	for _, a := range p.Starts {
		o.starts = append(o.starts, a.Job)
	}
	for _, r := range p.Reservations {
		o.reserved[r.Job] = int(r.Start.Sub(t0) / time.Second)
	}
	return o
}

// TestPolicies are hand-made cases whose schedule is obvious.
func TestPolicies(t *testing.T) {
	tests := []struct {
		name string
		snap Snapshot
		want map[Policy]outcome
	}{
		{
			// 4 processors, 3 busy until 100. Job 1 needs all 4; job 2
			// needs 1 for 10 s, done long before job 1 can start.
			name: "head-of-line blocking, and backfill before the shadow time",
			snap: Snapshot{Nodes: pool(4), Running: []Allocation{run(9, 3, 100)},
				Pending: []*Job{job(1, 4, 50), job(2, 1, 10)}},
			want: map[Policy]outcome{
				FCFS:         {reserved: map[int64]int{1: 100}},
				EASY:         {starts: []int64{2}, reserved: map[int64]int{1: 100}},
				Conservative: {starts: []int64{2}, reserved: map[int64]int{1: 100}},
			},
		},
		{
			// The same, but job 2 runs past the shadow time and the head
			// leaves no processor over: it must wait.
			name: "no backfill past the shadow time without extra processors",
			snap: Snapshot{Nodes: pool(4), Running: []Allocation{run(9, 3, 100)},
				Pending: []*Job{job(1, 4, 50), job(2, 1, 101)}},
			want: map[Policy]outcome{
				FCFS:         {reserved: map[int64]int{1: 100}},
				EASY:         {reserved: map[int64]int{1: 100}},
				Conservative: {reserved: map[int64]int{1: 100, 2: 150}},
			},
		},
		{
			// 8 processors, 4 busy until 100. The head needs 6 at 100,
			// which leaves 2 extra. Job 2 (2 procs, long) takes them;
			// job 3 (1 proc, long) then finds none left; job 4 ends
			// before the shadow time and fits in the 2 still free now.
			name: "backfill on the extra processors, which it consumes",
			snap: Snapshot{Nodes: pool(8), Running: []Allocation{run(9, 4, 100)},
				Pending: []*Job{job(1, 6, 50), job(2, 2, 1000), job(3, 1, 1000), job(4, 2, 100)}},
			want: map[Policy]outcome{
				FCFS:         {reserved: map[int64]int{1: 100}},
				EASY:         {starts: []int64{2, 4}, reserved: map[int64]int{1: 100}},
				Conservative: {starts: []int64{2, 4}, reserved: map[int64]int{1: 100, 3: 150}},
			},
		},
		{
			// 4 processors, 2 busy until 10. Head (3 procs) at 10, with
			// 1 extra; job 2 needs all 4 after it, at 20. Job 3 (1 proc
			// for 25 s) fits now on the extra processor: EASY starts it,
			// delaying job 2 (which it does not protect); conservative
			// protects job 2 and puts job 3 after it.
			name: "EASY and conservative diverge",
			snap: Snapshot{Nodes: pool(4), Running: []Allocation{run(9, 2, 10)},
				Pending: []*Job{job(1, 3, 10), job(2, 4, 10), job(3, 1, 25)}},
			want: map[Policy]outcome{
				FCFS:         {reserved: map[int64]int{1: 10}},
				EASY:         {starts: []int64{3}, reserved: map[int64]int{1: 10}},
				Conservative: {reserved: map[int64]int{1: 10, 2: 20, 3: 30}},
			},
		},
		{
			// A running job past its expected end is expected to end at
			// any moment (OverrunGrace), not never.
			name: "over-running job",
			snap: Snapshot{Nodes: pool(4), Running: []Allocation{{Job: 9, Node: "pool", Cores: 4, Start: at(-200), Walltime: sec(100)}},
				Pending: []*Job{job(1, 4, 10), job(2, 1, 5)}},
			want: map[Policy]outcome{
				FCFS:         {reserved: map[int64]int{1: 1}},
				EASY:         {reserved: map[int64]int{1: 1}},
				Conservative: {reserved: map[int64]int{1: 1, 2: 11}},
			},
		},
		{
			// A running job without a walltime never gives its
			// processors back: nothing can be reserved on them, and a job
			// without a walltime can only take what no reservation needs.
			name: "no walltime",
			snap: Snapshot{Nodes: pool(4), Running: []Allocation{{Job: 9, Node: "pool", Cores: 2, Start: at(-5)}, run(8, 1, 50)},
				Pending: []*Job{job(1, 4, 10), job(2, 2, 10), {ID: 3, Cores: 1}}},
			want: map[Policy]outcome{
				FCFS: {reserved: map[int64]int{}},
				EASY: {starts: []int64{3}, reserved: map[int64]int{}},
				// Job 3 holds its processor for ever: at 50 job 2 needs it.
				Conservative: {reserved: map[int64]int{2: 50, 3: 60}},
			},
		},
	}
	for _, tt := range tests {
		for _, p := range []Policy{FCFS, EASY, Conservative} {
			t.Run(tt.name+"/"+p.String(), func(t *testing.T) {
				snap := tt.snap
				snap.Now, snap.Policy = t0, p
				got := summarize(checkedSchedule(t, snap))
				if !reflect.DeepEqual(got, tt.want[p]) {
					t.Errorf("got %+v, want %+v", got, tt.want[p])
				}
			})
		}
	}
}

// TestCompression: a job ended early (it is gone from Running) and the
// held reservations move up once, in queue order, when asked.
func TestCompression(t *testing.T) {
	// 4 processors. Held: job 2 (all 4, 15 s) at 5, job 1 (all 4, 10 s)
	// at 20; the job expected to run until 5 has just ended.
	base := Snapshot{Now: t0, Policy: Conservative, Nodes: pool(4),
		Pending: []*Job{job(1, 4, 10), job(2, 4, 15), job(3, 1, 5)},
		Reservations: []Reservation{
			{Job: 1, Node: "pool", Start: at(20), End: at(30), Cores: 4},
			{Job: 2, Node: "pool", Start: at(5), End: at(20), Cores: 4},
		}}
	tests := []struct {
		name     string
		compress bool
		want     outcome
	}{
		// Kept where they are; the new job 3 fits before job 2.
		{"held", false, outcome{starts: []int64{3}, reserved: map[int64]int{1: 20, 2: 5}}},
		// Job 1 first: job 2 still sits at 5, so job 1 cannot move.
		// Job 2 then moves to now and starts. One pass, not to a fixed
		// point: job 1 stays at 20 although 15 is now free. Job 3 is
		// placed last, after them.
		{"compressed once", true, outcome{starts: []int64{2}, reserved: map[int64]int{1: 20, 3: 15}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			snap := base
			snap.Compress = tt.compress
			if got := summarize(checkedSchedule(t, snap)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("invalid held reservations are placed afresh", func(t *testing.T) {
		snap := base
		snap.Reservations = []Reservation{
			{Job: 1, Node: "gone", Start: at(20), Cores: 4},
			{Job: 2, Node: "pool", Start: at(-5), Cores: 4},
		}
		want := outcome{starts: []int64{1}, reserved: map[int64]int{2: 10, 3: 25}}
		if got := summarize(checkedSchedule(t, snap)); !reflect.DeepEqual(got, want) {
			t.Errorf("got %+v, want %+v", got, want)
		}
	})
}

// TestLiveNodes covers what the live server relies on: exact CPU ids,
// memory, several nodes, reasons.
func TestLiveNodes(t *testing.T) {
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
			name: "first fit in queue order, lowest free ids",
			snap: Snapshot{Nodes: twoNodes, Pending: []*Job{{ID: 1, Cores: 3}, {ID: 2, Cores: 2}, {ID: 3, Cores: 1}}},
			want: Plan{Starts: []Allocation{
				{Job: 1, Node: "a", CPUs: []int{0, 1, 2}, Cores: 3, Tasks: 1, Start: t0},
				{Job: 2, Node: "b", CPUs: []int{4, 5}, Cores: 2, Tasks: 1, Start: t0},
				{Job: 3, Node: "a", CPUs: []int{3}, Cores: 1, Tasks: 1, Start: t0},
			}, Waiting: []JobReason{}},
		},
		{
			name: "running allocations hold their cores and memory",
			snap: Snapshot{
				Nodes:   twoNodes,
				Running: []Allocation{{Job: 9, Node: "a", CPUs: []int{1, 2}, MemoryBytes: 7 << 30}},
				Pending: []*Job{{ID: 1, Cores: 1, MemoryBytes: 2 << 30}, {ID: 2, Cores: 2}},
			},
			want: Plan{Starts: []Allocation{
				{Job: 1, Node: "b", CPUs: []int{4}, Cores: 1, MemoryBytes: 2 << 30, Tasks: 1, Start: t0},
				{Job: 2, Node: "a", CPUs: []int{0, 3}, Cores: 2, Tasks: 1, Start: t0},
			}, Waiting: []JobReason{}},
		},
		{
			name: "zero cores means one",
			snap: Snapshot{Nodes: twoNodes[:1], Pending: []*Job{{ID: 1}}},
			want: Plan{Starts: []Allocation{{Job: 1, Node: "a", CPUs: []int{0}, Cores: 1, Tasks: 1, Start: t0}}, Waiting: []JobReason{}},
		},
		{
			name: "too large for any node",
			snap: Snapshot{Nodes: twoNodes, Pending: []*Job{{ID: 1, Cores: 5}}},
			want: Plan{Waits: []Wait{{Job: 1, Reason: ReasonTooLarge}},
				Waiting: []JobReason{{Job: 1, Reason: "no node is large enough: 5 cores requested"}}},
		},
		{
			name: "busy, with a predicted start on the node that frees first",
			snap: Snapshot{
				Nodes: twoNodes,
				Running: []Allocation{
					{Job: 8, Node: "a", CPUs: []int{0, 1, 2, 3}, Start: at(-10), Walltime: sec(70)},
					{Job: 9, Node: "b", CPUs: []int{4, 5, 6, 7}, Start: at(-10), Walltime: sec(40)},
				},
				Pending: []*Job{{ID: 1, Cores: 1, MemoryBytes: 1 << 30, Walltime: sec(60)}},
			},
			want: Plan{
				Reservations: []Reservation{{Job: 1, Node: "b", Start: at(30), End: at(90), Cores: 1, MemoryBytes: 1 << 30}},
				Waits:        []Wait{{Job: 1, Reason: ReasonResources, Start: at(30), Node: "b"}},
				Waiting:      []JobReason{{Job: 1, Reason: "waiting for resources: 1 core, 1 GiB memory"}},
			},
		},
		{
			name: "memory is a resource like cores",
			snap: Snapshot{Nodes: twoNodes, Pending: []*Job{{ID: 1, Cores: 1, MemoryBytes: 12 << 30}, {ID: 2, Cores: 1, MemoryBytes: 6 << 30}}},
			want: Plan{Starts: []Allocation{
				{Job: 1, Node: "b", CPUs: []int{4}, Cores: 1, MemoryBytes: 12 << 30, Tasks: 1, Start: t0},
				{Job: 2, Node: "a", CPUs: []int{0}, Cores: 1, MemoryBytes: 6 << 30, Tasks: 1, Start: t0},
			}, Waiting: []JobReason{}},
		},
		{
			name: "no nodes",
			snap: Snapshot{Pending: []*Job{{ID: 1}}},
			want: Plan{Waits: []Wait{{Job: 1, Reason: ReasonNoNodes}}, Waiting: []JobReason{{Job: 1, Reason: "no node is up"}}},
		},
		{
			name: "allocation on a node that is gone is ignored",
			snap: Snapshot{
				Nodes:   twoNodes[:1],
				Running: []Allocation{{Job: 9, Node: "gone", CPUs: []int{0}}},
				Pending: []*Job{{ID: 1}},
			},
			want: Plan{Starts: []Allocation{{Job: 1, Node: "a", CPUs: []int{0}, Cores: 1, Tasks: 1, Start: t0}}, Waiting: []JobReason{}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.snap.Now = t0
			got := checkedSchedule(t, tt.snap)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Schedule() mismatch\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

func TestParsePolicy(t *testing.T) {
	for _, p := range []Policy{FCFS, EASY, Conservative} {
		if got, err := ParsePolicy(p.String()); err != nil || got != p {
			t.Errorf("ParsePolicy(%q) = %v, %v", p, got, err)
		}
	}
	if _, err := ParsePolicy("sjf"); err == nil {
		t.Error("ParsePolicy(sjf) succeeded")
	}
}

// checkedSchedule runs Schedule and checks what every pass must satisfy:
// the snapshot is not mutated, the same snapshot gives the same plan, and
// the plan is valid (see checkPlan).
func checkedSchedule(t *testing.T, snap Snapshot) Plan {
	t.Helper()
	before := deepCopy(snap)
	got := Schedule(snap)
	if !reflect.DeepEqual(snap, before) {
		t.Fatalf("Schedule mutated its snapshot")
	}
	if again := Schedule(snap); !reflect.DeepEqual(again, got) {
		t.Fatalf("Schedule is not deterministic:\n%+v\n%+v", got, again)
	}
	if err := checkPlan(snap, got); err != nil {
		t.Fatal(err)
	}
	return got
}

func deepCopy(s Snapshot) Snapshot {
	return deepValue(reflect.ValueOf(s)).Interface().(Snapshot)
}

// deepValue copies v and everything it points to (exported fields;
// unexported ones, as time.Time's, are copied shallowly).
func deepValue(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		c := reflect.New(v.Type().Elem())
		c.Elem().Set(deepValue(v.Elem()))
		return c
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(deepValue(v.Index(i)))
		}
		return c
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		c := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			c.SetMapIndex(it.Key(), deepValue(it.Value()))
		}
		return c
	case reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		c.Set(v)
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				c.Field(i).Set(deepValue(v.Field(i)))
			}
		}
		return c
	}
	return v
}

// wantMembers is how many nodes job j spans (see Job), written
// independently of the engine.
func wantMembers(j *Job) int {
	t, per := int(max(j.Tasks, 1)), int(j.TasksPerNode)
	switch {
	case j.Nodes > 0:
		return int(j.Nodes)
	case per > 0:
		return (t + per - 1) / per
	}
	return 1
}

// checkPlan checks a plan independently of the engine's data structures:
// at every instant, on every node, what running jobs (until their expected
// end), started jobs, reservations and maintenance windows hold fits the
// node's capacity (cores, memory, GPUs); the CPU ids and GPUs of started
// jobs are the node's, free, and not shared; no job starts or is
// reserved across a window; a job starts or is reserved on all the nodes
// its span needs, distinct, over one window, or on none; jobs start only
// on up nodes; preempted jobs are running and give back what they hold.
func checkPlan(snap Snapshot, p Plan) error {
	type hold struct {
		node     string
		from, to time.Time // to zero: for ever
		cores    int
		mem      int64
		gpus     int
		what     string
	}
	var holds []hold
	caps := map[string][3]int64{}
	up := map[string]bool{}
	ids := map[string]map[int]string{}
	gids := map[string]map[int]string{}
	for _, n := range snap.Nodes {
		cores := int64(n.Cores)
		if len(n.CPUs) > 0 {
			cores = int64(len(n.CPUs))
			ids[n.Name] = map[int]string{}
			for _, c := range n.CPUs {
				ids[n.Name][c] = ""
			}
		}
		gids[n.Name] = map[int]string{}
		for _, g := range n.GPUs {
			gids[n.Name][g.Index] = ""
		}
		caps[n.Name] = [3]int64{cores, n.MemoryBytes, int64(len(n.GPUs))}
		up[n.Name] = n.State == NodeUp
	}
	preempted := map[int64]PreemptAction{}
	for _, v := range p.Preemptions {
		preempted[v.Job] = v.Action
		found := false
		for _, a := range snap.Running {
			found = found || a.Job == v.Job && !a.Suspended
		}
		if !found {
			return fmt.Errorf("job %d is preempted but does not run", v.Job)
		}
	}
	for _, a := range snap.Running {
		if _, ok := caps[a.Node]; !ok {
			continue
		}
		what := fmt.Sprintf("running job %d", a.Job)
		action, gone := preempted[a.Job]
		h := hold{node: a.Node, from: snap.Now, mem: a.MemoryBytes, what: what}
		if !a.Suspended && !gone {
			h.cores, h.gpus = a.Cores, len(a.GPUs)
			if len(a.CPUs) > 0 {
				h.cores = len(a.CPUs)
				for _, c := range a.CPUs {
					ids[a.Node][c] = what
				}
			}
			for _, g := range a.GPUs {
				gids[a.Node][g] = what
			}
		}
		if gone && action == Requeue {
			continue
		}
		if a.Walltime > 0 && !a.Suspended {
			start := a.Start
			if start.IsZero() {
				start = snap.Now
			}
			h.to = start.Add(a.Walltime)
			if !h.to.After(snap.Now) {
				h.to = snap.Now.Add(OverrunGrace)
			}
		}
		holds = append(holds, h)
	}
	windows := map[string][][2]time.Time{}
	for _, w := range snap.Windows {
		if !w.End.IsZero() && !w.End.After(snap.Now) {
			continue
		}
		from := w.Start
		if from.Before(snap.Now) {
			from = snap.Now
		}
		names := w.Nodes
		if len(names) == 0 {
			for _, n := range snap.Nodes {
				names = append(names, n.Name)
			}
		}
		for _, name := range names {
			windows[name] = append(windows[name], [2]time.Time{from, w.End})
		}
	}
	crosses := func(node string, from, to time.Time) bool {
		for _, w := range windows[node] {
			if (to.IsZero() || to.After(w[0])) && (w[1].IsZero() || w[1].After(from)) {
				return true
			}
		}
		return false
	}
	jobs := map[int64]*Job{}
	for _, j := range snap.Pending {
		jobs[j.ID] = j
	}
	type span struct {
		nodes    map[string]bool
		from, to time.Time
	}
	started := map[int64]*span{}
	for _, a := range p.Starts {
		if !a.Start.Equal(snap.Now) {
			return fmt.Errorf("job %d starts at %v, not now", a.Job, a.Start)
		}
		if !up[a.Node] {
			return fmt.Errorf("job %d starts on node %s, which is not up", a.Job, a.Node)
		}
		h := hold{node: a.Node, from: snap.Now, cores: a.Cores, mem: a.MemoryBytes, gpus: len(a.GPUs), what: fmt.Sprintf("started job %d", a.Job)}
		if a.Walltime > 0 {
			h.to = snap.Now.Add(a.Walltime)
		}
		if crosses(a.Node, h.from, h.to) {
			return fmt.Errorf("job %d starts on %s across a maintenance window", a.Job, a.Node)
		}
		if m := ids[a.Node]; m != nil {
			if len(a.CPUs) != a.Cores {
				return fmt.Errorf("job %d: %d CPU ids for %d cores", a.Job, len(a.CPUs), a.Cores)
			}
			for _, c := range a.CPUs {
				owner, ok := m[c]
				if !ok || owner != "" {
					return fmt.Errorf("job %d gets CPU %d of node %s, which is not free (%q)", a.Job, c, a.Node, owner)
				}
				m[c] = h.what
			}
		}
		j := jobs[a.Job]
		if len(a.GPUs) < int(max(j.GPUs, 0))*max(a.Tasks, 1) {
			return fmt.Errorf("job %d gets %d GPUs on %s for %d tasks of %d", a.Job, len(a.GPUs), a.Node, a.Tasks, j.GPUs)
		}
		for _, g := range a.GPUs {
			owner, ok := gids[a.Node][g]
			if !ok || owner != "" {
				return fmt.Errorf("job %d gets GPU %d of node %s, which is not free (%q)", a.Job, g, a.Node, owner)
			}
			gids[a.Node][g] = h.what
			for _, d := range snap.Nodes {
				for _, dev := range d.GPUs {
					if d.Name == a.Node && dev.Index == g && !j.Exclusive && !gpuMatches(j, &dev) {
						return fmt.Errorf("job %d gets GPU %d (%s) of the wrong kind", a.Job, g, dev.Model)
					}
				}
			}
		}
		s := started[a.Job]
		if s == nil {
			s = &span{nodes: map[string]bool{}}
			started[a.Job] = s
		}
		if s.nodes[a.Node] {
			return fmt.Errorf("job %d starts twice on %s", a.Job, a.Node)
		}
		s.nodes[a.Node] = true
		holds = append(holds, h)
	}
	for id, s := range started {
		if want := wantMembers(jobs[id]); len(s.nodes) != want {
			return fmt.Errorf("job %d starts on %d nodes, wants %d", id, len(s.nodes), want)
		}
	}
	reserved := map[int64]*span{}
	for _, r := range p.Reservations {
		if r.Start.Before(snap.Now) {
			return fmt.Errorf("job %d reserved in the past", r.Job)
		}
		if crosses(r.Node, r.Start, r.End) {
			return fmt.Errorf("job %d reserved on %s across a maintenance window", r.Job, r.Node)
		}
		s := reserved[r.Job]
		if s == nil {
			s = &span{nodes: map[string]bool{}, from: r.Start, to: r.End}
			reserved[r.Job] = s
		}
		if s.nodes[r.Node] || !s.from.Equal(r.Start) || !s.to.Equal(r.End) {
			return fmt.Errorf("job %d: reservations not one window on distinct nodes", r.Job)
		}
		s.nodes[r.Node] = true
		if !up[r.Node] {
			return fmt.Errorf("job %d reserved on node %s, which is not up", r.Job, r.Node)
		}
		holds = append(holds, hold{node: r.Node, from: r.Start, to: r.End, cores: r.Cores, mem: r.MemoryBytes, gpus: r.GPUs, what: fmt.Sprintf("reservation of job %d", r.Job)})
	}
	for id, s := range reserved {
		if want := wantMembers(jobs[id]); len(s.nodes) != want {
			return fmt.Errorf("job %d reserved on %d nodes, wants %d", id, len(s.nodes), want)
		}
		if started[id] != nil {
			return fmt.Errorf("job %d both starts and is reserved", id)
		}
	}
	for _, h := range holds {
		// Usage is highest at the start of some hold: check each.
		var cores, mem, gpus int64
		for _, o := range holds {
			if o.node == h.node && !o.from.After(h.from) && (o.to.IsZero() || o.to.After(h.from)) {
				cores += int64(o.cores)
				mem += o.mem
				gpus += int64(o.gpus)
			}
		}
		c := caps[h.node]
		if cores > c[0] || mem > c[1] || gpus > c[2] {
			return fmt.Errorf("node %s over-committed at %v (%s starts): %d cores, %d bytes, %d GPUs of %d, %d, %d",
				h.node, h.from, h.what, cores, mem, gpus, c[0], c[1], c[2])
		}
	}
	return nil
}

// TestNoWaits: a server's snapshot leaves out the Waits, and nothing
// else changes.
func TestNoWaits(t *testing.T) {
	snap := Snapshot{Now: t0, Nodes: pool(4), Running: []Allocation{run(9, 3, 100)},
		Pending: []*Job{job(1, 4, 50), job(2, 4, 50), job(3, 1, 10)}}
	full := Schedule(snap)
	snap.NoWaits = true
	brief := Schedule(snap)
	if brief.Waits != nil || len(full.Waits) == 0 {
		t.Fatalf("Waits: %v with NoWaits, %v without", brief.Waits, full.Waits)
	}
	full.Waits = nil
	if !reflect.DeepEqual(brief, full) {
		t.Fatalf("NoWaits changed the plan:\n got %+v\nwant %+v", brief, full)
	}
	if len(brief.Waiting) != 2 {
		t.Fatalf("waiting: %v", brief.Waiting)
	}
}

// TestReasonInsideWindow: a job kept off the only node by a window that
// has begun waits for the window, not for resources.
func TestReasonInsideWindow(t *testing.T) {
	now := time.Unix(1700000000, 0)
	snap := Snapshot{Now: now, Nodes: []Node{{Name: "n1", CPUs: []int{0, 1}, MemoryBytes: 1 << 30}},
		Pending: []*Job{{ID: 1, Cores: 1, Walltime: time.Hour}},
		Windows: []Window{{Name: "reservation 1 (firmware)", Nodes: []string{"n1"}, Start: now.Add(-time.Minute), End: now.Add(time.Hour)}}}
	for _, p := range []Policy{EASY, Conservative} {
		snap.Policy = p
		plan := Schedule(snap)
		if len(plan.Starts) != 0 || len(plan.Waits) != 1 || plan.Waits[0].Reason != ReasonMaintenance {
			t.Errorf("%v: starts %v, waits %+v", p, plan.Starts, plan.Waits)
		}
	}
}

// TestReasonUnmatchedFeatures: a job whose labels or host list no node
// has says so, not that no node is large enough.
func TestReasonUnmatchedFeatures(t *testing.T) {
	now := time.Unix(1700000000, 0)
	node := Node{Name: "n1", CPUs: []int{0, 1}, MemoryBytes: 1 << 30, Features: []string{"kind=cpu"}}
	for _, tt := range []struct {
		job  *Job
		want string
	}{
		{&Job{ID: 1, Cores: 1, Features: []string{"kind=gpu"}}, "no node has what it selects (kind=gpu): 1 core requested"},
		{&Job{ID: 2, Cores: 1, Features: []string{"hosts:n7,n9"}}, "no node has what it selects (one of n7,n9): 1 core requested"},
		{&Job{ID: 3, Cores: 4, Features: []string{"kind=gpu"}}, "no node is large enough: 4 cores"},
	} {
		plan := Schedule(Snapshot{Now: now, Nodes: []Node{node}, Pending: []*Job{tt.job}})
		if got := reasonOf(plan, tt.job.ID); !strings.HasPrefix(got, tt.want) {
			t.Errorf("job %d: %q, want %q...", tt.job.ID, got, tt.want)
		}
	}
}
