package cgroups

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	occgroups "github.com/opencontainers/cgroups"
)

// fakeMode makes opencontainers' file helpers accept a plain directory
// tree as cgroupfs for the duration of the test.
func fakeMode(t *testing.T) {
	t.Helper()
	old := occgroups.TestMode
	occgroups.TestMode = true
	t.Cleanup(func() { occgroups.TestMode = old })
}

// writeTree creates files (and their directories) below root; a key ending
// in "/" is a directory, a value starting with "->" a symlink.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// This host's /proc/self/cgroup, verbatim but for the memory cgroup id.
const hybridSelf = `9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/e507
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
`

// A typical co-mounted layout (cpu,cpuacct with symlinks), as on Debian.
const comountedSelf = `5:cpu,cpuacct:/batch
4:memory:/batch/mem
3:name=systemd:/system.slice/gantry.service
2:perf_event:/
1:net_cls,net_prio:/
`

func TestJobPaths(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		self    string
		tree    map[string]string
		mounts  func(root string) []Mount
		id      string
		want    func(root string) map[string]string
		wantErr string
	}{
		{
			name: "hybrid, memory below process_api",
			mode: Hybrid,
			self: hybridSelf,
			tree: map[string]string{
				"systemd/": "", "pids/": "", "blkio/": "", "freezer/": "", "devices/": "",
				"memory/process_api/e507/": "", "cpuset/": "", "cpuacct/": "", "cpu/": "", "unified/": "",
			},
			id: "j1",
			want: func(r string) map[string]string {
				return map[string]string{
					"name=systemd": r + "/systemd/gantry/j1",
					"pids":         r + "/pids/gantry/j1",
					"blkio":        r + "/blkio/gantry/j1",
					"freezer":      r + "/freezer/gantry/j1",
					"devices":      r + "/devices/gantry/j1",
					"memory":       r + "/memory/process_api/e507/gantry/j1",
					"cpuset":       r + "/cpuset/gantry/j1",
					"cpuacct":      r + "/cpuacct/gantry/j1",
					"cpu":          r + "/cpu/gantry/j1",
					"":             r + "/unified/gantry/j1",
				}
			},
		},
		{
			name: "legacy, co-mounted controllers via symlinks, named hierarchy",
			mode: Legacy,
			self: comountedSelf,
			tree: map[string]string{
				"cpu,cpuacct/batch/": "", "cpu": "->cpu,cpuacct", "cpuacct": "->cpu,cpuacct",
				"memory/batch/mem/": "", "systemd/system.slice/gantry.service/": "",
				"perf_event/": "", "net_cls,net_prio/": "",
			},
			id: "a.b-c_9",
			want: func(r string) map[string]string {
				return map[string]string{
					"cpu":          r + "/cpu,cpuacct/batch/gantry/a.b-c_9",
					"cpuacct":      r + "/cpu,cpuacct/batch/gantry/a.b-c_9",
					"memory":       r + "/memory/batch/mem/gantry/a.b-c_9",
					"name=systemd": r + "/systemd/system.slice/gantry.service/gantry/a.b-c_9",
					"perf_event":   r + "/perf_event/gantry/a.b-c_9",
					"net_cls":      r + "/net_cls,net_prio/gantry/a.b-c_9",
					"net_prio":     r + "/net_cls,net_prio/gantry/a.b-c_9",
				}
			},
		},
		{
			name: "legacy inside a container without cgroupns: mount root stripped",
			mode: Legacy,
			self: "2:memory:/docker/abc/inner\n1:cpu:/docker/abc\n",
			tree: map[string]string{"m/inner/": "", "c/": ""},
			mounts: func(r string) []Mount {
				return []Mount{
					{Dir: r + "/m", Root: "/docker/abc", Controllers: []string{"memory"}},
					{Dir: r + "/c", Root: "/docker/abc", Controllers: []string{"cpu"}},
				}
			},
			id: "x",
			want: func(r string) map[string]string {
				return map[string]string{"memory": r + "/m/inner/gantry/x", "cpu": r + "/c/gantry/x"}
			},
		},
		{
			name: "v2, daemon not yet in its leaf",
			mode: Unified, self: "0::/gantry.service\n", id: "j",
			want: func(r string) map[string]string { return map[string]string{"": r + "/gantry.service/jobs/j"} },
		},
		{
			name: "v2, supervisor in O/daemon",
			mode: Unified, self: "0::/gantry.service/daemon\n", id: "j",
			want: func(r string) map[string]string { return map[string]string{"": r + "/gantry.service/jobs/j"} },
		},
		{
			name: "v2, root cgroup",
			mode: Unified, self: "0::/\n", id: "j",
			want: func(r string) map[string]string { return map[string]string{"": r + "/jobs/j"} },
		},
		{name: "bad id", mode: Unified, self: "0::/\n", id: "../x", wantErr: `job id "../x"`},
		{name: "dot id", mode: Unified, self: "0::/\n", id: "..", wantErr: `job id ".."`},
		{name: "v2 without 0:: line", mode: Unified, self: "1:cpu:/\n", id: "j", wantErr: "no 0:: line"},
		{name: "malformed line", mode: Legacy, self: "garbage\n", id: "j", wantErr: `"garbage"`},
		{
			name: "own cgroup outside the mount root",
			mode: Legacy, self: "1:cpu:/other\n", tree: map[string]string{"c/": ""},
			mounts: func(r string) []Mount { return []Mount{{Dir: r + "/c", Root: "/docker", Controllers: []string{"cpu"}}} },
			id:     "j", wantErr: "outside the mount's root",
		},
		{name: "v1 with nothing mounted", mode: Legacy, self: "1:cpu:/\n", id: "j", wantErr: "no mounted cgroup v1 hierarchy"},
		{name: "unsupported mode", mode: Unsupported, self: "0::/\n", id: "j", wantErr: "unsupported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.tree)
			o := Options{Root: root, Mode: tt.mode, ProcSelfCgroup: []byte(tt.self)}
			if tt.mounts != nil {
				o.Mounts = tt.mounts(root)
			}
			h, err := New(o)
			var got map[string]string
			if err == nil {
				got, err = h.JobPaths(tt.id)
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := tt.want(root); !reflect.DeepEqual(got, want) {
				t.Errorf("JobPaths(%q)\n got %v\nwant %v", tt.id, got, want)
			}
			// Every job path lies below the matching base path.
			own := h.BasePaths()
			for k, p := range got {
				if !strings.HasPrefix(p, own[k]+"/") {
					t.Errorf("path %q = %s is not below own %s", k, p, own[k])
				}
			}
		})
	}
}

func TestUsage(t *testing.T) {
	fakeMode(t)
	tests := []struct {
		name    string
		mode    Mode
		self    string
		files   map[string]string // relative to the job dir(s), per key
		want    Usage
		wantErr string
	}{
		{
			name: "v1 oom",
			mode: Legacy,
			self: "3:memory:/m\n2:cpuacct:/\n",
			files: map[string]string{
				"memory/m/gantry/j/memory.max_usage_in_bytes": "67104768\n",
				"memory/m/gantry/j/memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
				"cpuacct/gantry/j/cpuacct.usage":              "534000123\n",
			},
			want: Usage{PeakMemoryBytes: 67104768, CPUTime: 534000123, OOMKills: 1},
		},
		{
			name: "v1 old kernel without oom_kill line",
			mode: Legacy,
			self: "3:memory:/\n",
			files: map[string]string{
				"memory/gantry/j/memory.max_usage_in_bytes": "4096\n",
				"memory/gantry/j/memory.oom_control":        "oom_kill_disable 0\nunder_oom 0\n",
			},
			want: Usage{PeakMemoryBytes: 4096},
		},
		{
			name: "v1 missing file is reported, rest returned",
			mode: Legacy,
			self: "3:memory:/\n2:cpuacct:/\n",
			files: map[string]string{
				"memory/gantry/j/memory.max_usage_in_bytes": "4096\n",
				"memory/gantry/j/memory.oom_control":        "oom_kill 0\n",
				"cpuacct/gantry/j/":                         "",
			},
			want:    Usage{PeakMemoryBytes: 4096},
			wantErr: "cpuacct.usage",
		},
		{
			name: "v2",
			mode: Unified,
			self: "0::/svc/daemon\n",
			files: map[string]string{
				"svc/jobs/j/memory.peak":   "1048576\n",
				"svc/jobs/j/cpu.stat":      "usage_usec 250000\nuser_usec 200000\nsystem_usec 50000\n",
				"svc/jobs/j/memory.events": "low 0\nhigh 0\nmax 21\noom 1\noom_kill 2\n",
			},
			want: Usage{PeakMemoryBytes: 1048576, CPUTime: 250 * time.Millisecond, OOMKills: 2},
		},
		{
			name: "v2 kernel before 5.19 has no memory.peak",
			mode: Unified,
			self: "0::/svc\n",
			files: map[string]string{
				"svc/jobs/j/cpu.stat":      "usage_usec 7\n",
				"svc/jobs/j/memory.events": "oom_kill 0\n",
			},
			want: Usage{CPUTime: 7 * time.Microsecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			h, err := New(Options{Root: root, Mode: tt.mode, ProcSelfCgroup: []byte(tt.self)})
			if err != nil {
				t.Fatal(err)
			}
			j, err := h.Job("j")
			if err != nil {
				t.Fatal(err)
			}
			got, err := j.Usage()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Usage: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Usage err = %v, want it to contain %q", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("Usage = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestResources(t *testing.T) {
	fakeMode(t)
	tests := []struct {
		name    string
		mode    Mode
		self    string
		files   map[string]string
		lim     Limits
		check   func(t *testing.T, r *occgroups.Resources)
		wantErr string
	}{
		{
			name:  "v1 with swap accounting: memsw = memory",
			mode:  Legacy,
			self:  "2:memory:/\n1:cpuset:/\n",
			files: map[string]string{"memory/memory.memsw.limit_in_bytes": "9223372036854771712\n", "cpuset/cpuset.effective_cpus": "0-3\n"},
			lim:   Limits{CPUs: []int{3, 1}, MemoryBytes: 64 << 20, PidsLimit: 10},
			check: func(t *testing.T, r *occgroups.Resources) {
				if r.Memory != 64<<20 || r.MemorySwap != 64<<20 {
					t.Errorf("memory %d swap %d, want both %d", r.Memory, r.MemorySwap, 64<<20)
				}
				if r.CpusetCpus != "1,3" || r.CpuQuota != 200000 || r.CpuPeriod != 100000 {
					t.Errorf("cpus %q quota %d period %d", r.CpusetCpus, r.CpuQuota, r.CpuPeriod)
				}
				if r.PidsLimit != 10 || !r.SkipDevices {
					t.Errorf("pids %d skipDevices %v", r.PidsLimit, r.SkipDevices)
				}
			},
		},
		{
			name:  "v1 without swap accounting: no memsw",
			mode:  Legacy,
			self:  "2:memory:/\n",
			files: map[string]string{"memory/": ""},
			lim:   Limits{MemoryBytes: 1 << 20},
			check: func(t *testing.T, r *occgroups.Resources) {
				if r.MemorySwap != 0 {
					t.Errorf("MemorySwap = %d, want 0", r.MemorySwap)
				}
			},
		},
		{
			name:  "v2 swap max 0",
			mode:  Unified,
			self:  "0::/svc\n",
			files: map[string]string{"svc/cpuset.cpus.effective": "0-1\n"},
			lim:   Limits{CPUs: []int{0, 1}, MemoryBytes: 1 << 20},
			check: func(t *testing.T, r *occgroups.Resources) {
				if r.MemorySwap != r.Memory || r.CpuQuota != 200000 {
					t.Errorf("swap %d memory %d quota %d", r.MemorySwap, r.Memory, r.CpuQuota)
				}
			},
		},
		{
			name:    "cpu outside the daemon's cpuset",
			mode:    Legacy,
			self:    "1:cpuset:/\n",
			files:   map[string]string{"cpuset/cpuset.effective_cpus": "0-1\n"},
			lim:     Limits{CPUs: []int{1, 5}},
			wantErr: "cpu 5 is not in the daemon's cpuset 0-1",
		},
		{
			name:    "negative memory",
			mode:    Unified,
			self:    "0::/\n",
			lim:     Limits{MemoryBytes: -1},
			wantErr: "memory limit -1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			writeTree(t, root, tt.files)
			h, err := New(Options{Root: root, Mode: tt.mode, ProcSelfCgroup: []byte(tt.self)})
			if err != nil {
				t.Fatal(err)
			}
			r, err := h.Resources(tt.lim)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

// fakeHost writes files below a fresh root and returns the root and a
// Host of mode there whose process's cgroup is self (/proc/self/cgroup).
func fakeHost(t *testing.T, mode Mode, self string, files map[string]string) (string, *Host) {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, files)
	h, err := New(Options{Root: root, Mode: mode, ProcSelfCgroup: []byte(self)})
	if err != nil {
		t.Fatal(err)
	}
	return root, h
}

func TestPrepareV2(t *testing.T) {
	fakeMode(t)
	t.Run("moves nothing when O is empty, enables controllers, creates jobs", func(t *testing.T) {
		root, h := fakeHost(t, Unified, "0::/svc\n", map[string]string{
			"svc/cgroup.controllers":      "cpuset cpu io memory hugetlb pids\n",
			"svc/cgroup.procs":            "",
			"svc/jobs/cgroup.controllers": "cpuset cpu memory pids\n",
		})
		if err := h.Prepare(); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		for _, f := range []string{"svc/cgroup.subtree_control", "svc/jobs/cgroup.subtree_control"} {
			b, err := os.ReadFile(filepath.Join(root, f))
			if err != nil {
				t.Fatal(err)
			}
			if got := string(b); got != "+cpuset +cpu +memory +pids" {
				t.Errorf("%s = %q", f, got)
			}
		}
		if st, err := os.Stat(filepath.Join(root, "svc/daemon")); err != nil || !st.IsDir() {
			t.Errorf("daemon leaf not created: %v", err)
		}
		if got := h.OwnPaths()[""]; got != filepath.Join(root, "svc/daemon") {
			t.Errorf("own after Prepare = %s, want .../svc/daemon", got)
		}
		p, _ := h.JobPaths("j")
		if p[""] != filepath.Join(root, "svc/jobs/j") {
			t.Errorf("job path after Prepare = %s", p[""])
		}
		if err := h.Prepare(); err != nil {
			t.Errorf("second Prepare: %v", err)
		}
		if miss, err := h.Missing(); err != nil || len(miss) != 0 {
			t.Errorf("Missing = %v, %v; want none", miss, err)
		}
	})
	t.Run("controllers not delegated to the daemon's cgroup are missing", func(t *testing.T) {
		_, h := fakeHost(t, Unified, "0::/svc\n", map[string]string{
			"svc/cgroup.controllers":      "memory io\n",
			"svc/cgroup.procs":            "",
			"svc/jobs/cgroup.controllers": "memory\n",
		})
		if _, err := h.Missing(); err == nil {
			t.Error("Missing before Prepare: no error")
		}
		if err := h.Prepare(); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		if miss, err := h.Missing(); err != nil || !slices.Equal(miss, []string{"cpuset", "cpu", "pids"}) {
			t.Errorf("Missing = %v, %v; want [cpuset cpu pids]", miss, err)
		}
	})
	t.Run("controllers the levels above hold back are passed down first", func(t *testing.T) {
		root, h := fakeHost(t, Unified, "0::/sandbox/svc\n", map[string]string{
			"cgroup.controllers":                  "cpuset cpu io memory pids\n",
			"cgroup.subtree_control":              "memory\n",
			"sandbox/cgroup.controllers":          "cpuset cpu io memory pids\n",
			"sandbox/cgroup.subtree_control":      "memory\n",
			"sandbox/svc/cgroup.controllers":      "memory\n",
			"sandbox/svc/cgroup.procs":            "",
			"sandbox/svc/jobs/cgroup.controllers": "memory\n",
		})
		if err := h.Prepare(); err != nil {
			t.Fatalf("Prepare: %v", err)
		}
		for _, f := range []string{"cgroup.subtree_control", "sandbox/cgroup.subtree_control"} {
			if b, err := os.ReadFile(filepath.Join(root, f)); err != nil || string(b) != "+cpuset +cpu +memory +pids" {
				t.Errorf("%s = %q, %v; want the four controllers enabled", f, b, err)
			}
		}
	})
	t.Run("processes that cannot be moved are reported", func(t *testing.T) {
		_, h := fakeHost(t, Unified, "0::/svc\n", map[string]string{
			"svc/cgroup.controllers": "memory\n",
			"svc/cgroup.procs":       "4242\n",
		})
		err := h.Prepare()
		if err == nil || !strings.Contains(err.Error(), "[4242] still there") {
			t.Fatalf("Prepare err = %v, want pids still there", err)
		}
	})
	t.Run("v1 is a no-op", func(t *testing.T) {
		root, h := fakeHost(t, Legacy, "1:memory:/\n", map[string]string{"memory/": ""})
		if err := h.Prepare(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(root, "memory", JobsDirV1)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Prepare created something on v1: %v", err)
		}
		if miss, err := h.Missing(); err != nil || !slices.Equal(miss, []string{"cpuset", "cpu", "pids"}) {
			t.Errorf("Missing on v1 with memory only = %v, %v; want [cpuset cpu pids]", miss, err)
		}
	})
}

func TestRemoveStaleFake(t *testing.T) {
	fakeMode(t)
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"memory/m/gantry/old1/": "", "memory/m/gantry/live/": "", "memory/m/gantry/old2/": "",
		"cpu/gantry/old1/": "", "cpu/gantry/live/": "",
		"memory/m/gantry/notes.txt":     "not a cgroup",
		"memory/m/gantry/other-node-1/": "",
	})
	h, err := New(Options{Root: root, Mode: Legacy, ProcSelfCgroup: []byte("2:memory:/m\n1:cpu:/\n")})
	if err != nil {
		t.Fatal(err)
	}
	removed, err := h.RemoveStale(nil, map[string]bool{"live": true, "other-node-1": true})
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	if want := []string{"old1", "old2"}; !reflect.DeepEqual(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if removed, _ := h.RemoveStale(func(id string) bool { return strings.HasPrefix(id, "this-node-") }, nil); len(removed) != 0 {
		t.Errorf("RemoveStale with a prefix removed %v, another node's job", removed)
	}
	for _, p := range []string{"memory/m/gantry/old1", "memory/m/gantry/old2", "cpu/gantry/old1"} {
		if _, err := os.Stat(filepath.Join(root, p)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	for _, p := range []string{"memory/m/gantry/live", "cpu/gantry/live", "memory/m/gantry/notes.txt"} {
		if _, err := os.Stat(filepath.Join(root, p)); err != nil {
			t.Errorf("%s removed: %v", p, err)
		}
	}
}
