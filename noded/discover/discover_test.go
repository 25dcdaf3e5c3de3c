package discover

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/gantry-hpc/gantry/gpu"
)

const (
	kB  = 1024
	GiB = 1 << 30
)

func fixture(name string) string { return filepath.Join("..", "..", "testdata", "sysfs", name) }

// summary is the comparable digest of a Topology used by the table tests:
// CPU lists as kernel list strings so that failures read like sysfs.
type summary struct {
	Hostname   string
	CPUModel   string
	Online     string
	Sockets    []socketSum
	Nodes      []nodeSum
	TotalBytes uint64
	CgroupMax  uint64
	AllocCPUs  string
	AllocBytes uint64
	GPUs       int
}

type socketSum struct {
	ID    int
	CPUs  string
	Cores int
}

type nodeSum struct {
	ID        int
	CPUs      string
	Bytes     uint64
	Distances []int
}

func summarize(t *Topology) summary {
	s := summary{Hostname: t.Hostname, CPUModel: t.CPUModel, TotalBytes: t.MemoryTotalBytes,
		CgroupMax: t.CgroupMemoryLimitBytes, AllocCPUs: cpuset.Format(t.Allocatable.CPUs),
		AllocBytes: t.Allocatable.MemoryBytes, GPUs: len(t.GPUs)}
	var ids []int
	for _, c := range t.CPUs {
		ids = append(ids, c.ID)
	}
	s.Online = cpuset.Format(ids)
	for _, k := range t.Sockets {
		s.Sockets = append(s.Sockets, socketSum{k.ID, cpuset.Format(k.CPUs), k.Cores})
	}
	for _, n := range t.NUMANodes {
		s.Nodes = append(s.Nodes, nodeSum{n.ID, cpuset.Format(n.CPUs), n.MemoryBytes, n.Distances})
	}
	return s
}

// cpuWant is one CPU's expected topology.
type cpuWant struct {
	ID, Socket, Core, Node int
	Siblings               string
}

func TestDiscoverFixtures(t *testing.T) {
	twoSocketNodes := []nodeSum{
		{ID: 0, CPUs: "0-15,32-47", Bytes: 131923456 * kB, Distances: []int{10, 21}},
		{ID: 1, CPUs: "16-31,48-63", Bytes: 132095604 * kB, Distances: []int{21, 10}},
	}
	tests := []struct {
		name     string
		fixture  string
		opts     Options
		want     summary
		wantCPUs []cpuWant
	}{
		{
			name:    "real 2-vCPU VM, hybrid v1, no limit",
			fixture: "vm-2cpu",
			want: summary{
				Hostname: "vm", CPUModel: "AMD EPYC", Online: "0-1",
				Sockets:    []socketSum{{ID: 0, CPUs: "0-1", Cores: 2}},
				Nodes:      []nodeSum{{ID: 0, CPUs: "0-1", Bytes: 4548824 * kB, Distances: []int{10}}},
				TotalBytes: 24684096 * kB, AllocCPUs: "0-1", AllocBytes: 24684096 * kB,
			},
			wantCPUs: []cpuWant{{ID: 0, Core: 0, Siblings: "0"}, {ID: 1, Core: 1, Siblings: "1"}},
		},
		{
			name:    "2 sockets x 16 cores x SMT2, cgroup v2 without limit",
			fixture: "2s-64cpu-smt",
			want: summary{
				Hostname: "node017", CPUModel: "Intel(R) Xeon(R) Gold 6142 CPU @ 2.60GHz", Online: "0-63",
				Sockets: []socketSum{{0, "0-15,32-47", 16}, {1, "16-31,48-63", 16}},
				Nodes:   twoSocketNodes, TotalBytes: 263564356 * kB,
				AllocCPUs: "0-63", AllocBytes: 263564356 * kB,
			},
			wantCPUs: []cpuWant{
				{ID: 0, Socket: 0, Core: 0, Node: 0, Siblings: "0,32"},
				{ID: 6, Socket: 0, Core: 8, Node: 0, Siblings: "6,38"},
				{ID: 16, Socket: 1, Core: 0, Node: 1, Siblings: "16,48"},
				{ID: 47, Socket: 0, Core: 20, Node: 0, Siblings: "15,47"},
				{ID: 63, Socket: 1, Core: 20, Node: 1, Siblings: "31,63"},
			},
		},
		{
			name:    "2 sockets, reserve 8 GiB",
			fixture: "2s-64cpu-smt",
			opts:    Options{ReserveMemoryBytes: 8 * GiB},
			want: summary{
				Hostname: "node017", CPUModel: "Intel(R) Xeon(R) Gold 6142 CPU @ 2.60GHz", Online: "0-63",
				Sockets: []socketSum{{0, "0-15,32-47", 16}, {1, "16-31,48-63", 16}},
				Nodes:   twoSocketNodes, TotalBytes: 263564356 * kB,
				AllocCPUs: "0-63", AllocBytes: 263564356*kB - 8*GiB,
			},
		},
		{
			name:    "2 sockets, operator gives socket 1 and 64 GiB, fake GPUs",
			fixture: "2s-64cpu-smt",
			opts: Options{CPUs: append(seq(16, 31), seq(48, 63)...), MemoryBytes: 64 * GiB,
				ReserveMemoryBytes: 8 * GiB, Hostname: "node017-b", GPU: gpu.NewFakeHost(4)},
			want: summary{
				Hostname: "node017-b", CPUModel: "Intel(R) Xeon(R) Gold 6142 CPU @ 2.60GHz", Online: "0-63",
				Sockets: []socketSum{{0, "0-15,32-47", 16}, {1, "16-31,48-63", 16}},
				Nodes:   twoSocketNodes, TotalBytes: 263564356 * kB,
				AllocCPUs: "16-31,48-63", AllocBytes: 64 * GiB, GPUs: 4,
			},
		},
		{
			name:    "restricted cpuset, CPU 63 offline, hierarchical v1 limit",
			fixture: "2s-64cpu-cpuset",
			opts:    Options{ReserveMemoryBytes: 1 * GiB},
			want: summary{
				Hostname: "node018", CPUModel: "Intel(R) Xeon(R) Gold 6142 CPU @ 2.60GHz", Online: "0-62",
				Sockets: []socketSum{{0, "0-15,32-47", 16}, {1, "16-31,48-62", 16}},
				Nodes: []nodeSum{
					{ID: 0, CPUs: "0-15,32-47", Bytes: 131923456 * kB, Distances: []int{10, 21}},
					{ID: 1, CPUs: "16-31,48-62", Bytes: 132095604 * kB, Distances: []int{21, 10}},
				},
				TotalBytes: 263564356 * kB, CgroupMax: 16 * GiB,
				AllocCPUs: "8-15,40-47", AllocBytes: 15 * GiB,
			},
			wantCPUs: []cpuWant{
				{ID: 31, Socket: 1, Core: 20, Node: 1, Siblings: "31"},
				{ID: 40, Socket: 0, Core: 10, Node: 0, Siblings: "8,40"},
			},
		},
		{
			name:    "container without topology, NUMA, mountinfo or status",
			fixture: "1s-4cpu-container",
			want: summary{
				Online:     "0-3",
				Sockets:    []socketSum{{ID: 0, CPUs: "0-3", Cores: 4}},
				Nodes:      []nodeSum{{ID: 0, CPUs: "0-3", Bytes: 16384000 * kB}},
				TotalBytes: 16384000 * kB, CgroupMax: 4 * GiB,
				AllocCPUs: "0-3", AllocBytes: 4 * GiB,
			},
			wantCPUs: []cpuWant{{ID: 2, Core: 2, Siblings: "2"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.SysRoot = fixture(tt.fixture)
			topo, err := Discover(t.Context(), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := summarize(topo); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Discover(%s):\n got %+v\nwant %+v", tt.fixture, got, tt.want)
			}
			byID := map[int]CPU{}
			for _, c := range topo.CPUs {
				byID[c.ID] = c
			}
			for _, w := range tt.wantCPUs {
				c, ok := byID[w.ID]
				if !ok {
					t.Errorf("cpu %d missing", w.ID)
					continue
				}
				got := cpuWant{ID: c.ID, Socket: c.Socket, Core: c.Core, Node: c.NUMANode, Siblings: cpuset.Format(c.Siblings)}
				if got != w {
					t.Errorf("cpu %d = %+v, want %+v", w.ID, got, w)
				}
			}
			if topo.GPUs == nil {
				t.Error("GPUs is nil, want an empty slice")
			}
		})
	}
}

// TestDiscoverErrors covers overrides that do not fit and malformed trees.
func TestDiscoverErrors(t *testing.T) {
	broken := t.TempDir()
	writeFile(t, broken, "sys/devices/system/cpu/online", "0-3,x\n")
	writeFile(t, broken, "proc/meminfo", "MemTotal: 1024 kB\n")

	noMeminfo := t.TempDir()
	writeFile(t, noMeminfo, "sys/devices/system/cpu/online", "0-3\n")

	badLimit := t.TempDir()
	writeFile(t, badLimit, "sys/devices/system/cpu/online", "0\n")
	writeFile(t, badLimit, "proc/meminfo", "MemTotal: 1024 kB\n")
	writeFile(t, badLimit, "proc/self/cgroup", "0::/job\n")
	writeFile(t, badLimit, "sys/fs/cgroup/cgroup.controllers", "memory\n")
	writeFile(t, badLimit, "sys/fs/cgroup/job/memory.max", "lots\n")

	tests := []struct {
		name    string
		opts    Options
		wantErr string
		wantIs  error
	}{
		{name: "missing root", opts: Options{SysRoot: filepath.Join(broken, "nope")}, wantIs: os.ErrNotExist},
		{name: "bad online list", opts: Options{SysRoot: broken}, wantErr: `online: parse cpu list "0-3,x`},
		{name: "no meminfo", opts: Options{SysRoot: noMeminfo}, wantErr: "proc/meminfo", wantIs: os.ErrNotExist},
		{name: "bad memory.max", opts: Options{SysRoot: badLimit}, wantErr: `job/memory.max: limit "lots" is not a number`},
		{name: "cpu override outside cpuset", opts: Options{SysRoot: fixture("2s-64cpu-cpuset"), CPUs: []int{7, 8, 9, 63}},
			wantErr: "override 7-9,63: cpus 7,63 are offline or outside this process's cpuset 8-15,40-47"},
		{name: "empty cpu override", opts: Options{SysRoot: fixture("2s-64cpu-smt"), CPUs: []int{}}, wantErr: "override is empty"},
		{name: "memory override above cgroup limit", opts: Options{SysRoot: fixture("2s-64cpu-cpuset"), MemoryBytes: 20 * GiB},
			wantErr: "override 21474836480 bytes exceeds the 17179869184 bytes available"},
		{name: "reserve eats everything", opts: Options{SysRoot: fixture("1s-4cpu-container"), ReserveMemoryBytes: 4 * GiB},
			wantErr: "reserve 4294967296 bytes leaves nothing"},
		{name: "gpus required, none", opts: Options{SysRoot: fixture("vm-2cpu"), RequireGPUs: true}, wantIs: gpu.ErrNoGPUs},
		{name: "gpu backend fails", opts: Options{SysRoot: fixture("vm-2cpu"), GPU: &gpu.Fake{Err: errors.New("xid 79")}},
			wantErr: "discover gpus: gpu inventory: xid 79"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Discover(t.Context(), tt.opts)
			if err == nil {
				t.Fatal("Discover succeeded, want an error")
			}
			if tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
		})
	}
}

// TestDiscoverNoDriverIsZeroGPUs: a backend without a driver is a node
// without GPUs, not a failure.
func TestDiscoverNoDriverIsZeroGPUs(t *testing.T) {
	topo, err := Discover(t.Context(), Options{SysRoot: fixture("vm-2cpu"), GPU: &gpu.Fake{Err: gpu.ErrNoDriver}})
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.GPUs) != 0 {
		t.Fatalf("GPUs = %v, want none", topo.GPUs)
	}
}

// TestDiscoverRealHost runs against this machine and checks Discover
// against independent sources: sched_getaffinity, /proc/meminfo, uname.
func TestDiscoverRealHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("discover reads Linux sysfs")
	}
	b, err := gpu.Detect(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	topo, err := Discover(t.Context(), Options{GPU: b})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("host %s: %q, %d cpus, allocatable %s, %d sockets, %d numa nodes, total %d B, cgroup limit %d B, allocatable %d B, %d gpus",
		topo.Hostname, topo.CPUModel, len(topo.CPUs), cpuset.Format(topo.Allocatable.CPUs), len(topo.Sockets),
		len(topo.NUMANodes), topo.MemoryTotalBytes, topo.CgroupMemoryLimitBytes, topo.Allocatable.MemoryBytes, len(topo.GPUs))

	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		t.Fatal(err)
	}
	var affinity []int
	for c := range cpuset.MaxCPUID {
		if set.IsSet(c) {
			affinity = append(affinity, c)
		}
	}
	// Go threads share the process affinity unless someone changed one.
	if got, want := cpuset.Format(topo.Allocatable.CPUs), cpuset.Format(affinity); got != want {
		t.Errorf("allocatable cpus %s, sched_getaffinity %s", got, want)
	}
	if len(topo.CPUs) < len(topo.Allocatable.CPUs) || len(topo.Allocatable.CPUs) == 0 {
		t.Errorf("%d online cpus, %d allocatable", len(topo.CPUs), len(topo.Allocatable.CPUs))
	}

	// gopsutil's total must agree with our own /proc/meminfo parser.
	own, err := reader{fsys: os.DirFS("/"), root: "/"}.procMemTotal()
	if err != nil {
		t.Fatal(err)
	}
	if topo.MemoryTotalBytes != own {
		t.Errorf("total memory %d (gopsutil), /proc/meminfo says %d", topo.MemoryTotalBytes, own)
	}
	if topo.Allocatable.MemoryBytes == 0 || topo.Allocatable.MemoryBytes > topo.MemoryTotalBytes {
		t.Errorf("allocatable memory %d of total %d", topo.Allocatable.MemoryBytes, topo.MemoryTotalBytes)
	}
	if h, _ := os.Hostname(); topo.Hostname != h {
		t.Errorf("hostname %q, os.Hostname %q", topo.Hostname, h)
	}
	if len(topo.NUMANodes) == 0 || len(topo.Sockets) == 0 {
		t.Errorf("no NUMA nodes or sockets: %+v %+v", topo.NUMANodes, topo.Sockets)
	}
	if _, err := os.Stat("/dev/nvidiactl"); err != nil && len(topo.GPUs) != 0 {
		t.Errorf("no /dev/nvidiactl but %d GPUs", len(topo.GPUs))
	}
}

func writeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}
