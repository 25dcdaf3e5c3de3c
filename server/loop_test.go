package server

import (
	"net/http"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/sched"
)

func TestFullAfter(t *testing.T) {
	up := func(name string, cpus ...int) sched.Node { return sched.Node{Name: name, CPUs: cpus} }
	running := func(node string, cpus ...int) sched.Allocation { return sched.Allocation{Node: node, CPUs: cpus} }
	tests := []struct {
		name string
		snap sched.Snapshot
		plan sched.Plan
		want bool
	}{
		{name: "no nodes", want: true},
		{name: "an idle node", snap: sched.Snapshot{Nodes: []sched.Node{up("n1", 0, 1)}}},
		{name: "a node with a core free", snap: sched.Snapshot{Nodes: []sched.Node{up("n1", 0, 1)}, Running: []sched.Allocation{running("n1", 0)}}},
		{name: "every core held", snap: sched.Snapshot{Nodes: []sched.Node{up("n1", 0, 1), up("n2", 0)},
			Running: []sched.Allocation{running("n1", 0), running("n1", 1), running("n2", 0)}}, want: true},
		{name: "the plan takes the last cores", snap: sched.Snapshot{Nodes: []sched.Node{up("n1", 0, 1)}, Running: []sched.Allocation{running("n1", 0)}},
			plan: sched.Plan{Starts: []sched.Allocation{running("n1", 1)}}, want: true},
		{name: "free cores only on a node that takes nothing", snap: sched.Snapshot{
			Nodes:   []sched.Node{up("n1", 0), {Name: "n2", CPUs: []int{0, 1}, State: sched.NodeDraining}, {Name: "n3", CPUs: []int{0}, State: sched.NodeDown}},
			Running: []sched.Allocation{running("n1", 0)}}, want: true},
		{name: "a suspended job's cores", snap: sched.Snapshot{Nodes: []sched.Node{up("n1", 0)},
			Running: []sched.Allocation{{Node: "n1", CPUs: []int{0}, Suspended: true}}}},
		{name: "anonymous cores", snap: sched.Snapshot{Nodes: []sched.Node{{Name: "n1", Cores: 4}}, Running: []sched.Allocation{{Node: "n1", Cores: 3}}}},
		{name: "a queue may preempt", snap: sched.Snapshot{Queues: []sched.Queue{{Name: "high", Preempts: []string{"low"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fullAfter(tt.snap, tt.plan); got != tt.want {
				t.Errorf("fullAfter = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestPauseWhenFull: after a long pass that left nothing free,
// submissions do not end the wait before the next pass; anything else
// does, and the wake-up is still there for the loop.
func TestPauseWhenFull(t *testing.T) {
	s := newTestServer(t)
	s.fullWait = time.Hour
	s.full = true
	done := make(chan bool)
	go func() { done <- s.pause(t.Context(), 10*time.Millisecond) }()
	for range 3 {
		s.kickSubmit()
		time.Sleep(30 * time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("a submission ended the wait after a pass that left nothing free")
	default:
	}
	s.kick() // say, a job ended
	if !<-done {
		t.Fatal("pause returned false")
	}
	wantWake(t, s)
}

// TestPauseNotFull: after a long pass that left cores free, a
// submission's pass waits only the usual while (twice the pass).
func TestPauseNotFull(t *testing.T) {
	s := newTestServer(t)
	s.fullWait = time.Hour
	s.kickSubmit()
	if !s.pause(t.Context(), 10*time.Millisecond) {
		t.Fatal("pause returned false")
	}
	wantWake(t, s)
}

// wantWake fails unless a wake-up waits for the scheduling loop.
func wantWake(t *testing.T, s *Server) {
	t.Helper()
	select {
	case <-s.wake:
	default:
		t.Fatal("the wake-up was lost")
	}
}

// TestSubmitOnFullCluster: with no node, a pass leaves nothing free; a
// node's registration then makes room.
func TestSubmitOnFullCluster(t *testing.T) {
	s := newTestServer(t)
	if code := call(t, s, alice, "POST", "/v1/jobs", `{"command":["true"],"cwd":"/tmp"}`, nil); code != http.StatusCreated {
		t.Fatalf("submit: %d", code)
	}
	if err := s.schedulePass(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !s.full {
		t.Fatal("a pass with no node left room")
	}
	s.changed.Store(false)
	if code := call(t, s, root, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0,1],"memory_bytes":1073741824}`, nil); code != http.StatusOK {
		t.Fatalf("register: %d", code)
	}
	if !s.changed.Load() {
		t.Fatal("a node's registration did not mark a change")
	}
	if err := s.schedulePass(t.Context()); err != nil {
		t.Fatal(err)
	}
	if s.full {
		t.Fatal("a pass that started the job on a node with two cores left nothing free")
	}
}
