package noded

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/gpu"
	"github.com/gantry-hpc/gantry/noded/discover"
	"github.com/gantry-hpc/gantry/noded/runner"
)

func TestNUMANodesOf(t *testing.T) {
	topo := &discover.Topology{NUMANodes: []discover.NUMANode{
		{ID: 0, CPUs: []int{0, 1, 2, 3}},
		{ID: 1, CPUs: []int{4, 5, 6, 7}},
		{ID: 2}, // memory only
	}}
	tests := []struct {
		name string
		cpus []int
		want []int
	}{
		{"one node", []int{1, 2}, []int{0}},
		{"second node", []int{6}, []int{1}},
		{"spanning", []int{3, 4}, []int{0, 1}},
		{"no cpus", nil, nil},
		{"unknown cpu", []int{99}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := numaNodesOf(topo, tt.cpus); !slices.Equal(got, tt.want) {
				t.Errorf("numaNodesOf(%v) = %v, want %v", tt.cpus, got, tt.want)
			}
		})
	}
}

// gpuTopology discovers a two-socket fixture node with four fake GPUs,
// the way the daemon does with `--gpu-backend=fake`.
func gpuTopology(t *testing.T) *discover.Topology {
	t.Helper()
	topo, err := discover.Discover(t.Context(), discover.Options{
		SysRoot: filepath.Join("..", "testdata", "sysfs", "2s-64cpu-smt"), Hostname: "gpu01", GPU: gpu.NewFakeHost(4)})
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.GPUs) != 4 {
		t.Fatalf("discovered %d gpus, want 4", len(topo.GPUs))
	}
	return topo
}

func TestGPUsOf(t *testing.T) {
	topo := gpuTopology(t)
	noMinor := *topo
	noMinor.GPUs = slices.Clone(topo.GPUs)
	noMinor.GPUs[2].Minor = -1
	tests := []struct {
		name    string
		topo    *discover.Topology
		idx     []int
		want    []runner.GPU
		wantErr string
	}{
		{name: "none", topo: topo, idx: nil, want: nil},
		{name: "two, sorted by index", topo: topo, idx: []int{3, 1}, want: []runner.GPU{
			{Index: 1, UUID: "GPU-fake-0001", Minor: 1}, {Index: 3, UUID: "GPU-fake-0003", Minor: 3}}},
		{name: "unknown index", topo: topo, idx: []int{0, 4}, wantErr: "gpu 4 assigned, but this node has gpus 0,1,2,3 only"},
		{name: "no gpus on node", topo: &discover.Topology{}, idx: []int{0}, wantErr: "gpu 0 assigned, but this node has no gpus"},
		{name: "twice", topo: topo, idx: []int{2, 2}, wantErr: "gpu 2 assigned twice"},
		{name: "minor unknown", topo: &noMinor, idx: []int{2}, wantErr: "gpu 2 (GPU-fake-0002): device minor number unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gpusOf(tt.topo, tt.idx)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("gpusOf = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

// TestStartMapsGPUs: an assignment's GPU indices reach the supervisor's
// spec.json as the node's devices; an index the node lacks fails the job
// with an error naming it, and nothing is started for it.
func TestStartMapsGPUs(t *testing.T) {
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "jobs"), 0o700); err != nil {
		t.Fatal(err)
	}
	d := &Daemon{
		cfg: Config{Name: "gpu01", StateDir: state, PidsLimit: 64,
			// A supervisor that exits at once: the test reads spec.json.
			Launcher: runner.Launcher{Exe: "/bin/true"}},
		log:    slog.New(slog.DiscardHandler),
		topo:   gpuTopology(t),
		jobs:   make(map[int64]*localJob),
		report: make(chan struct{}, 1),
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	as := api.Assignment{JobID: 7, Command: []string{"nvidia-smi"}, Cwd: "/", UID: 1000, GID: 1000,
		Stdout: "/tmp/o", Stderr: "/tmp/o", CPUs: []int{0}, GPUs: []int{2, 0}}
	d.start(ctx, as)
	b, err := os.ReadFile(filepath.Join(d.jobDir(7, 1), runner.SpecFile))
	if err != nil {
		t.Fatal(err)
	}
	var spec runner.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatal(err)
	}
	want := []runner.GPU{{Index: 0, UUID: "GPU-fake-0000", Minor: 0}, {Index: 2, UUID: "GPU-fake-0002", Minor: 2}}
	if !slices.Equal(spec.GPUs, want) {
		t.Errorf("spec gpus %v, want %v", spec.GPUs, want)
	}

	as.JobID, as.GPUs = 8, []int{1, 5}
	d.start(ctx, as)
	d.mu.Lock()
	j := d.jobs[8]
	d.mu.Unlock()
	if j == nil || j.result == nil || j.result.ExitCode != 1 || !strings.Contains(j.result.Error, "gpu 5 assigned, but this node has gpus 0,1,2,3 only") {
		t.Fatalf("job 8 = %+v, want a failed result naming gpu 5", j)
	}
	if _, err := os.Stat(d.jobDir(8, 1)); !os.IsNotExist(err) {
		t.Errorf("job dir of the failed job exists (%v): a supervisor was started", err)
	}
}

func TestRunNames(t *testing.T) {
	for _, tt := range []struct {
		id      int64
		attempt int
		name    string
	}{{42, 1, "42"}, {42, 0, "42"}, {42, 3, "42.3"}} {
		if got := runName(tt.id, tt.attempt); got != tt.name {
			t.Errorf("runName(%d, %d) = %q, want %q", tt.id, tt.attempt, got, tt.name)
		}
		id, attempt, ok := parseRunName(tt.name)
		if !ok || id != tt.id || attempt != max(tt.attempt, 1) {
			t.Errorf("parseRunName(%q) = %d %d %v", tt.name, id, attempt, ok)
		}
	}
	for _, bad := range []string{"", "x", "0", "42.1", "42.x", "-3", "42.3.4"} {
		if _, _, ok := parseRunName(bad); ok {
			t.Errorf("parseRunName(%q) succeeded", bad)
		}
	}
	d := &Daemon{cfg: Config{Name: "n-1", StateDir: "/var/lib/gantry/node"}}
	p := d.cgroupPrefix()
	if !strings.HasPrefix(p, "n-1-") || len(p) != len("n-1-")+7 {
		t.Errorf("cgroup prefix %q", p)
	}
	if got := d.containerID(42, 2); got != p+"42.2" {
		t.Errorf("containerID = %q", got)
	}
	other := &Daemon{cfg: Config{Name: "n-1", StateDir: "/tmp/other"}}
	for name, want := range map[string]bool{p + "42": true, p + "42.2": true, p + "x": false, "n-1-42": false,
		other.containerID(42, 1): false, p + "42.2.1": false} {
		if got := d.ownsCgroup(name); got != want {
			t.Errorf("ownsCgroup(%q) = %v", name, got)
		}
	}
}

// TestDialTTYWaitsForListen: a job's terminal socket exists from bind(2)
// on but refuses connections until listen(2); dialTTY, which the daemon
// uses once it sees the file, waits for the listen instead of failing
// the client that is already attached.
func TestDialTTYWaitsForListen(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "tty.sock")
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no unix sockets: %v", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: sock}); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("unix", sock); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial before listen: %v, want ECONNREFUSED (the window dialTTY covers)", err)
	}
	listened := make(chan error, 1)
	go func() {
		time.Sleep(100 * time.Millisecond)
		listened <- unix.Listen(fd, 1)
	}()
	c, err := dialTTY(t.Context(), sock)
	if err != nil {
		t.Fatalf("dialTTY: %v", err)
	}
	c.Close()
	if err := <-listened; err != nil {
		t.Fatal(err)
	}
}
