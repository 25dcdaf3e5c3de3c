//go:build linux && cgo

package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Without a GPU, the device nodes are fakes: character devices with the
// driver's numbers made with mknod. Opening one fails with ENXIO (no
// driver behind the major) when the device cgroup allows it, and with
// EPERM when the cgroup denies it; that difference is what the tests
// check. On a host with the driver the same numbers reach it: a GPU that
// is there opens, a minor without one gives ENODEV; reached counts both
// as ENXIO, so that the tests run there too.

// reached is what opening a node gave, with ok and ENODEV (the driver
// answered) counted as ENXIO: the open got past the device cgroup.
func reached(got string) string {
	if got == "ok" || got == "ENODEV" {
		return "ENXIO"
	}
	return got
}

// fakeUVMMajor returns a character major no driver of this kernel has
// registered, standing in for nvidia-uvm's dynamic major.
func fakeUVMMajor(t *testing.T) uint32 {
	t.Helper()
	b, err := os.ReadFile("/proc/devices")
	if err != nil {
		t.Skipf("no /proc/devices: %v", err)
	}
	used := map[uint32]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) == 2 {
			if n, err := strconv.ParseUint(f[0], 10, 32); err == nil {
				used[uint32(n)] = true
			}
		}
	}
	for m := uint32(260); m < 384; m++ {
		if !used[m] {
			return m
		}
	}
	t.Skip("no free character major for a fake nvidia-uvm")
	return 0
}

// fakeDevDir makes a directory standing in for the /dev of a 4-GPU node:
// nvidia0-3 (195:0-3), nvidiactl (195:255), nvidia-modeset (195:254),
// nvidia-uvm and nvidia-uvm-tools (a free major, minors 0 and 1), all
// 0666 like the driver's. It skips when nodes cannot be made or opened
// here (not root, a container's own device cgroup).
func fakeDevDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mknod fake GPU device nodes")
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	uvm := fakeUVMMajor(t)
	nodes := map[string][2]uint32{
		"nvidia0": {195, 0}, "nvidia1": {195, 1}, "nvidia2": {195, 2}, "nvidia3": {195, 3},
		"nvidiactl": {195, 255}, "nvidia-modeset": {195, 254},
		"nvidia-uvm": {uvm, 0}, "nvidia-uvm-tools": {uvm, 1},
	}
	for name, mm := range nodes {
		p := filepath.Join(dir, name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(mm[0], mm[1]))); err != nil {
			t.Skipf("cannot mknod %s: %v", p, err)
		}
		if err := os.Chmod(p, 0o666); err != nil { // umask
			t.Fatal(err)
		}
	}
	// Outside any job cgroup every node must be reached, or the
	// EPERM/ENXIO test below proves nothing.
	for name := range nodes {
		if got := reached(openErrno(filepath.Join(dir, name))); got != "ENXIO" {
			t.Skipf("opening the fake %s outside a job gives %s, want ENXIO (this process's own device cgroup or mount forbids it)", name, got)
		}
	}
	return dir
}

// openErrno opens p read-write and returns "ok" or the errno's name.
func openErrno(p string) string {
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err == nil {
		unix.Close(fd)
		return "ok"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		return unix.ErrnoName(errno)
	}
	return err.Error()
}

// gpuProbeMain is the test binary's "gpu-probe PROCS DEV..." mode: it
// joins the cgroup whose cgroup.procs file is PROCS ("-" for none) and
// prints "DEV ERRNO" for each device it opens.
func gpuProbeMain(args []string) int {
	if len(args) < 1 {
		return 2
	}
	if args[0] != "-" {
		if err := os.WriteFile(args[0], []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	for _, p := range args[1:] {
		fmt.Printf("%s %s\n", filepath.Base(p), openErrno(p))
	}
	return 0
}

// probeInCgroup opens each device of devDir from a process placed in the
// job's device cgroup (the devices hierarchy on v1, the job's cgroup2
// directory on v2, where the eBPF filter is attached) and returns
// name -> errno name.
func probeInCgroup(t *testing.T, jobID, devDir string, names []string) map[string]string {
	t.Helper()
	host := requireRunner(t)
	j, err := host.Job(jobID)
	if err != nil {
		t.Fatal(err)
	}
	paths := j.Paths()
	dir, ok := paths["devices"]
	if !ok {
		dir = paths[""]
	}
	if dir == "" {
		t.Fatalf("job %s has no devices cgroup: %v", jobID, paths)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"gpu-probe", filepath.Join(dir, "cgroup.procs")}
	for _, n := range names {
		args = append(args, filepath.Join(devDir, n))
	}
	out, err := exec.Command(exe, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("gpu-probe in %s: %v\n%s", dir, err, out)
	}
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if n, e, ok := strings.Cut(l, " "); ok {
			got[n] = reached(e)
		}
	}
	return got
}

var allNodes = []string{"nvidia0", "nvidia1", "nvidia2", "nvidia3", "nvidiactl", "nvidia-modeset", "nvidia-uvm", "nvidia-uvm-tools"}

// gpuJobScript reports, inside the container, each NVIDIA node as
// "name: missing" or "name: <open error>", the GPU variables and the CDI
// test mount, then waits for the test to create "done" in its cwd so that
// the test can probe the job's cgroup meanwhile.
const gpuJobScript = `
for n in ` + "nvidia0 nvidia1 nvidia2 nvidia3 nvidiactl nvidia-modeset nvidia-uvm nvidia-uvm-tools" + `; do
	if [ ! -e /dev/$n ]; then echo "$n: missing"; continue; fi
	r=$( (: <>/dev/$n) 2>&1 ) && echo "$n: opened" || echo "$n: ${r##*: }"
done > report.txt
{
echo "CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
echo "CUDA_DEVICE_ORDER=$CUDA_DEVICE_ORDER"
echo "NVIDIA_VISIBLE_DEVICES=$NVIDIA_VISIBLE_DEVICES"
echo "GANTRY_GPUS=$GANTRY_GPUS"
echo "SLURM_JOB_GPUS=$SLURM_JOB_GPUS"
echo "GANTRY_CDI_TEST=$GANTRY_CDI_TEST"
cat /run/cdi-test/info.txt 2>/dev/null || echo "no cdi mount"
} >> report.txt
echo started
i=0; while [ ! -e done ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
`

// runGPUJob runs gpuJobScript with spec's GPUs, probes the job's device
// cgroup while it runs, and returns the in-container report and the
// probe's results.
func runGPUJob(t *testing.T, spec Spec) (report string, probe map[string]string) {
	t.Helper()
	host := requireRunner(t)
	h := start(t, spec)
	waitRunning(t, host, spec)
	probe = probeInCgroup(t, spec.JobID, spec.DevDir, allNodes)
	if err := os.WriteFile(filepath.Join(spec.Cwd, "done"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res := wait(t, h)
	if res.ExitCode != 0 || res.Error != "" {
		b, _ := os.ReadFile(filepath.Join(h.Dir(), LogFile))
		t.Fatalf("result %+v\nstderr: %s\nsupervisor.log:\n%s", res, readFile(t, spec.Stderr), b)
	}
	// The driver's answers, on a host that has one, as a fake's.
	report = readFile(t, filepath.Join(spec.Cwd, "report.txt"))
	for _, reachedText := range []string{": opened\n", ": No such device\n"} {
		report = strings.ReplaceAll(report, reachedText, ": No such device or address\n")
	}
	return report, probe
}

// TestGPUDevices runs a job given GPUs 1 and 3 of a fake 4-GPU node: its
// /dev holds exactly their nodes and the driver's control nodes, which
// its cgroup allows (ENXIO: no driver); GPUs 0 and 2 are absent from its
// /dev and denied to its cgroup (EPERM).
func TestGPUDevices(t *testing.T) {
	requireRunner(t)
	devDir := fakeDevDir(t)
	// Not parallel: in the slow cgroup v2 VM, extra load upsets the
	// timing tests that run in parallel.
	spec := baseSpec(t, "sh", "-c", gpuJobScript)
	spec.DevDir, spec.CDISpecDirs = devDir, []string{filepath.Join(t.TempDir(), "no-cdi")}
	spec.GPUs = []GPU{{Index: 1, UUID: "GPU-fake-0001", Minor: 1}, {Index: 3, UUID: "GPU-fake-0003", Minor: 3}}
	// A variable from the submit host must not leak through.
	spec.Env = append(spec.Env, "CUDA_VISIBLE_DEVICES=0,1,2,3")
	report, probe := runGPUJob(t, spec)
	want := strings.Join([]string{
		"nvidia0: missing",
		"nvidia1: No such device or address",
		"nvidia2: missing",
		"nvidia3: No such device or address",
		"nvidiactl: No such device or address",
		"nvidia-modeset: No such device or address",
		"nvidia-uvm: No such device or address",
		"nvidia-uvm-tools: No such device or address",
		"CUDA_VISIBLE_DEVICES=0,1",
		"CUDA_DEVICE_ORDER=PCI_BUS_ID",
		"NVIDIA_VISIBLE_DEVICES=GPU-fake-0001,GPU-fake-0003",
		"GANTRY_GPUS=1,3",
		"SLURM_JOB_GPUS=1,3",
		"GANTRY_CDI_TEST=",
		"no cdi mount",
		""}, "\n")
	if report != want {
		t.Errorf("inside the job:\n%s\nwant:\n%s", report, want)
	}
	wantProbe := map[string]string{
		"nvidia0": "EPERM", "nvidia1": "ENXIO", "nvidia2": "EPERM", "nvidia3": "ENXIO",
		"nvidiactl": "ENXIO", "nvidia-modeset": "ENXIO", "nvidia-uvm": "ENXIO", "nvidia-uvm-tools": "ENXIO",
	}
	if !mapsEqual(probe, wantProbe) {
		t.Errorf("opening the host nodes from the job's cgroup: %v, want %v", probe, wantProbe)
	}
}

// TestGPUDevicesNone: a job without GPUs on the same node gets no NVIDIA
// node and its cgroup denies them all.
func TestGPUDevicesNone(t *testing.T) {
	requireRunner(t)
	devDir := fakeDevDir(t)
	// Not parallel: in the slow cgroup v2 VM, extra load upsets the
	// timing tests that run in parallel.
	spec := baseSpec(t, "sh", "-c", gpuJobScript)
	spec.DevDir = devDir
	report, probe := runGPUJob(t, spec)
	for _, n := range allNodes {
		if !strings.Contains(report, n+": missing\n") {
			t.Errorf("%s present in a job without GPUs:\n%s", n, report)
		}
		if probe[n] != "EPERM" {
			t.Errorf("%s from a job without GPUs: %s, want EPERM", n, probe[n])
		}
	}
	if !strings.Contains(report, "CUDA_VISIBLE_DEVICES=\n") {
		t.Errorf("CUDA_VISIBLE_DEVICES set for a job without GPUs:\n%s", report)
	}
}

// writeCDISpec writes a CDI spec for nvidia.com/gpu with device "0": the
// fake nvidia0 node, a variable and a read-only bind of a directory to
// /run/cdi-test; nvidiactl comes from the spec-wide edits.
func writeCDISpec(t *testing.T, devDir string) string {
	t.Helper()
	dir := t.TempDir()
	files := filepath.Join(t.TempDir(), "cdi-files")
	if err := os.MkdirAll(files, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(files, "info.txt"), []byte("from the cdi mount\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{filepath.Dir(files), filepath.Dir(filepath.Dir(files))} {
		_ = os.Chmod(d, 0o755)
	}
	spec := map[string]any{
		"cdiVersion": "0.5.0",
		"kind":       "nvidia.com/gpu",
		"devices": []any{map[string]any{
			"name": "0",
			"containerEdits": map[string]any{
				"deviceNodes": []any{map[string]any{"path": "/dev/nvidia0", "hostPath": filepath.Join(devDir, "nvidia0")}},
				"env":         []string{"GANTRY_CDI_TEST=gpu0"},
			},
		}},
		"containerEdits": map[string]any{
			"deviceNodes": []any{map[string]any{"path": "/dev/nvidiactl", "hostPath": filepath.Join(devDir, "nvidiactl")}},
			"env":         []string{"NVIDIA_VISIBLE_DEVICES=void"},
			"mounts": []any{map[string]any{"hostPath": files, "containerPath": "/run/cdi-test",
				"options": []string{"ro", "nosuid", "nodev", "bind"}}},
		},
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nvidia.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestGPUCDI: with a CDI spec for nvidia.com/gpu=0, the job gets what the
// spec says (its device nodes, variable and mount), not the built-in list:
// no nvidia-uvm, which the spec does not name.
func TestGPUCDI(t *testing.T) {
	requireRunner(t)
	devDir := fakeDevDir(t)
	// Not parallel: in the slow cgroup v2 VM, extra load upsets the
	// timing tests that run in parallel.
	spec := baseSpec(t, "sh", "-c", gpuJobScript)
	spec.DevDir, spec.CDISpecDirs = devDir, []string{writeCDISpec(t, devDir)}
	spec.GPUs = []GPU{{Index: 0, UUID: "GPU-fake-0000", Minor: 0}}
	report, probe := runGPUJob(t, spec)
	want := strings.Join([]string{
		"nvidia0: No such device or address",
		"nvidia1: missing",
		"nvidia2: missing",
		"nvidia3: missing",
		"nvidiactl: No such device or address",
		"nvidia-modeset: missing",
		"nvidia-uvm: missing",
		"nvidia-uvm-tools: missing",
		"CUDA_VISIBLE_DEVICES=0",
		"CUDA_DEVICE_ORDER=PCI_BUS_ID",
		"NVIDIA_VISIBLE_DEVICES=GPU-fake-0000",
		"GANTRY_GPUS=0",
		"SLURM_JOB_GPUS=0",
		"GANTRY_CDI_TEST=gpu0",
		"from the cdi mount",
		""}, "\n")
	if report != want {
		t.Errorf("inside the job:\n%s\nwant:\n%s", report, want)
	}
	for _, n := range allNodes {
		want := "EPERM"
		if n == "nvidia0" || n == "nvidiactl" {
			want = "ENXIO"
		}
		if probe[n] != want {
			t.Errorf("%s from the job's cgroup: %s, want %s", n, probe[n], want)
		}
	}
}

func TestSetupGPUsErrors(t *testing.T) {
	devDir := fakeDevDir(t)
	noCDI := []string{filepath.Join(t.TempDir(), "none")}
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"missing node", Spec{DevDir: devDir, CDISpecDirs: noCDI, GPUs: []GPU{{Index: 7, UUID: "GPU-x", Minor: 7}}},
			"gpu 7 (GPU-x): stat " + devDir + "/nvidia7: no such file or directory"},
		{"wrong major", Spec{DevDir: devDir, CDISpecDirs: noCDI, GPUs: []GPU{{Index: 0, UUID: "GPU-x", Minor: 0}}},
			""}, // placeholder replaced below
		{"not in cdi", Spec{DevDir: devDir, CDISpecDirs: []string{writeCDISpec(t, devDir)}, GPUs: []GPU{{Index: 2, UUID: "GPU-two", Minor: 2}}},
			"gpu 2 (GPU-two): cdi specs in"},
	}
	// A node for GPU 0 whose major is not the driver's.
	bad := t.TempDir()
	if err := unix.Mknod(filepath.Join(bad, "nvidia0"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	tests[1].spec.DevDir, tests[1].want = bad, "nvidia0 has major 1, want 195"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := setupGPUs(&tt.spec, false)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// Without nvidiactl the driver is not usable.
	noctl := t.TempDir()
	if err := unix.Mknod(filepath.Join(noctl, "nvidia0"), unix.S_IFCHR|0o666, int(unix.Mkdev(195, 0))); err != nil {
		t.Fatal(err)
	}
	if _, err := setupGPUs(&Spec{DevDir: noctl, CDISpecDirs: noCDI, GPUs: []GPU{{Index: 0, UUID: "GPU-x"}}}, false); err == nil || !strings.Contains(err.Error(), "nvidiactl") {
		t.Fatalf("without nvidiactl: err = %v", err)
	}
}

// TestBuiltinSetupRules checks the exact allow list: one rule per node,
// with the host node's numbers, read-write only.
func TestBuiltinSetupRules(t *testing.T) {
	devDir := fakeDevDir(t)
	s, err := setupGPUs(&Spec{DevDir: devDir, CDISpecDirs: []string{t.TempDir()}, GPUs: []GPU{{Index: 2, UUID: "GPU-b", Minor: 2}}}, false)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, r := range s.rules {
		got = append(got, fmt.Sprintf("%s %s", s.nodes[i].Path, r.CgroupString()))
	}
	uvm := unixMajor(t, filepath.Join(devDir, "nvidia-uvm"))
	want := []string{
		"/dev/nvidia2 c 195:2 rw",
		"/dev/nvidiactl c 195:255 rw",
		fmt.Sprintf("/dev/nvidia-uvm c %d:0 rw", uvm),
		fmt.Sprintf("/dev/nvidia-uvm-tools c %d:1 rw", uvm),
		"/dev/nvidia-modeset c 195:254 rw",
	}
	if !slices.Equal(got, want) {
		t.Errorf("rules\n%v\nwant\n%v", got, want)
	}
	for _, n := range s.nodes {
		if n.FileMode != 0o666 || n.Uid != 0 || n.Gid != 0 {
			t.Errorf("%s: mode %v owner %d:%d, want the host node's 0666 0:0", n.Path, n.FileMode, n.Uid, n.Gid)
		}
	}
	if len(s.mounts) != 0 {
		t.Errorf("host mode got mounts %v", s.mounts)
	}
}

func unixMajor(t *testing.T, p string) uint32 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	return unix.Major(st.Rdev)
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestGPUEnv(t *testing.T) {
	env := []string{"PATH=/bin", "CUDA_VISIBLE_DEVICES=3", "HOME=/h", "NVIDIA_VISIBLE_DEVICES=all"}
	s := &gpuSetup{env: []string{"NVIDIA_VISIBLE_DEVICES=void", "FROM_CDI=1"}}
	s.env = append(s.env, gpuEnv([]GPU{{Index: 4, UUID: "GPU-a", Minor: 4}, {Index: 6, UUID: "GPU-b", Minor: 6}})...)
	got := s.applyEnv(env)
	want := []string{"PATH=/bin", "HOME=/h", "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b", "FROM_CDI=1",
		"CUDA_VISIBLE_DEVICES=0,1", "CUDA_DEVICE_ORDER=PCI_BUS_ID", "GANTRY_GPUS=4,6", "SLURM_JOB_GPUS=4,6", "GPU_DEVICE_ORDINAL=0,1"}
	if !slices.Equal(got, want) {
		t.Errorf("env\n%q\nwant\n%q", got, want)
	}
	// Image mode: the driver's directories are appended.
	s = &gpuSetup{libDir: "/run/gantry/nvidia/lib", binDir: "/run/gantry/nvidia/bin"}
	got = s.applyEnv([]string{"PATH=/usr/bin:/bin", "LD_LIBRARY_PATH="})
	want = []string{"LD_LIBRARY_PATH=/run/gantry/nvidia/lib", "PATH=/usr/bin:/bin:/run/gantry/nvidia/bin"}
	if !slices.Equal(got, want) {
		t.Errorf("image env %q, want %q", got, want)
	}
}

const ldconfigSample = `1234 libs found in cache ` + "`/etc/ld.so.cache'" + `
	libnvidia-ml.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libnvidia-ml.so.1
	libnvidia-ml.so.1 (libc6) => /lib/i386-linux-gnu/libnvidia-ml.so.1
	libnvidia-ml.so (libc6,x86-64) => /lib/x86_64-linux-gnu/libnvidia-ml.so
	libcuda.so.1 (libc6,x86-64) => /usr/lib/x86_64-linux-gnu/libcuda.so.1
	libcuda.so.1 (libc6,x86-64) => /usr/local/cuda/compat/libcuda.so.1
	libcudart.so.12 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.12
	libnvidia-ptxjitcompiler.so.1 (libc6,x86-64) => /lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1
	libc.so.6 (libc6,x86-64, OS ABI: Linux 3.2.0) => /lib/x86_64-linux-gnu/libc.so.6
Cache generated by: ldconfig (GNU libc) stable release version 2.36
`

func TestParseLdconfig(t *testing.T) {
	got := parseLdconfig([]byte(ldconfigSample), driverLibs, "x86-64")
	want := map[string]string{
		"libnvidia-ml.so.1":             "/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
		"libcuda.so.1":                  "/usr/lib/x86_64-linux-gnu/libcuda.so.1",
		"libnvidia-ptxjitcompiler.so.1": "/lib/x86_64-linux-gnu/libnvidia-ptxjitcompiler.so.1",
	}
	if !mapsEqual(got, want) {
		t.Errorf("parseLdconfig = %v, want %v", got, want)
	}
}

// TestDriverFiles: image mode binds the driver libraries found by
// ldconfig -p and nvidia-smi read-only below /run/gantry/nvidia.
func TestDriverFiles(t *testing.T) {
	root := t.TempDir()
	lib := filepath.Join(root, "lib")
	bin := filepath.Join(root, "bin")
	for _, d := range []string{lib, bin} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"lib/libcuda.so.550.54.15", "lib/libnvidia-ml.so.550.54.15", "bin/nvidia-smi"} {
		if err := os.WriteFile(filepath.Join(root, f), nil, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{"libcuda.so.1": "libcuda.so.550.54.15", "libnvidia-ml.so.1": "libnvidia-ml.so.550.54.15"} {
		if err := os.Symlink(target, filepath.Join(lib, link)); err != nil {
			t.Fatal(err)
		}
	}
	out := fmt.Sprintf("\tlibcuda.so.1 (libc6,%[2]s) => %[1]s/libcuda.so.1\n\tlibnvidia-ml.so.1 (libc6,%[2]s) => %[1]s/libnvidia-ml.so.1\n", lib, ldconfigArch())
	oldLd, oldBins := ldconfigCache, binDirs
	t.Cleanup(func() { ldconfigCache, binDirs = oldLd, oldBins })
	ldconfigCache = func() ([]byte, error) { return []byte(out), nil }
	binDirs = []string{filepath.Join(root, "nobin"), bin}

	mounts, libDir, binDir, err := driverFiles()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range mounts {
		got = append(got, fmt.Sprintf("%s -> %s ro=%v", m.Source, m.Destination, m.Flags&unix.MS_RDONLY != 0))
	}
	want := []string{
		lib + "/libcuda.so.550.54.15 -> /run/gantry/nvidia/lib/libcuda.so.1 ro=true",
		lib + "/libnvidia-ml.so.550.54.15 -> /run/gantry/nvidia/lib/libnvidia-ml.so.1 ro=true",
		bin + "/nvidia-smi -> /run/gantry/nvidia/bin/nvidia-smi ro=true",
	}
	if !slices.Equal(got, want) || libDir != "/run/gantry/nvidia/lib" || binDir != "/run/gantry/nvidia/bin" {
		t.Errorf("mounts\n%v\nwant\n%v\nlib %q bin %q", got, want, libDir, binDir)
	}
	// A host without the driver's libraries binds nothing.
	ldconfigCache = func() ([]byte, error) { return []byte(ldconfigSample[:40]), nil }
	if mounts, libDir, _, err := driverFiles(); err != nil || len(mounts) != 0 || libDir != "" {
		t.Errorf("no driver: %v %q %v", mounts, libDir, err)
	}
}

// TestCDIHooksAndWildcards: hooks in a CDI spec are reported, not run; a
// spec whose device rule would allow a whole device kind is refused.
func TestCDIHooksAndWildcards(t *testing.T) {
	devDir := fakeDevDir(t)
	write := func(extra string) []string {
		dir := t.TempDir()
		spec := fmt.Sprintf(`{"cdiVersion":"0.5.0","kind":"nvidia.com/gpu","devices":[{"name":"0","containerEdits":{
			"deviceNodes":[{"path":"/dev/nvidia0","hostPath":%q}]}}]%s}`, filepath.Join(devDir, "nvidia0"), extra)
		if err := os.WriteFile(filepath.Join(dir, "nvidia.json"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		return []string{dir}
	}
	gpus := []GPU{{Index: 0, UUID: "GPU-fake-0000", Minor: 0}}
	s, err := setupGPUs(&Spec{DevDir: devDir, GPUs: gpus, CDISpecDirs: write(`,"containerEdits":{"hooks":[{"hookName":"createContainer","path":"/usr/bin/nvidia-cdi-hook","args":["nvidia-cdi-hook","update-ldcache"]}]}`)}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.warn) != 1 || !strings.Contains(s.warn[0], "hooks are not run") || !strings.HasPrefix(s.via, "cdi nvidia.com/gpu=0") {
		t.Errorf("via %q warnings %q, want one about hooks", s.via, s.warn)
	}
	if len(s.rules) != 1 || s.rules[0].CgroupString() != "c 195:0 rwm" {
		t.Errorf("rules %v, want c 195:0 rwm", s.rules)
	}
	if _, err := ociRule(specsDeviceCgroup(true, "c", nil)); err == nil || !strings.Contains(err.Error(), "every device") {
		t.Errorf("wildcard major: err = %v", err)
	}
}

func specsDeviceCgroup(allow bool, typ string, major *int64) specs.LinuxDeviceCgroup {
	return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: major, Access: "rw"}
}

func TestCDILibDirs(t *testing.T) {
	mounts := []*configs.Mount{
		{Destination: "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"},
		{Destination: "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.550.54.15"},
		{Destination: "/usr/bin/nvidia-smi"},
		{Destination: "/usr/lib/firmware/nvidia/550.54.15/gsp_ga10x.bin"},
		{Destination: "/usr/lib64/libnvidia-ptxjitcompiler.so.1"},
		{Destination: "/run/nvidia-persistenced/socket"},
	}
	if got := cdiLibDirs(mounts); got != "/usr/lib/x86_64-linux-gnu:/usr/lib64" {
		t.Errorf("cdiLibDirs = %q", got)
	}
	if got := cdiLibDirs(nil); got != "" {
		t.Errorf("cdiLibDirs(nil) = %q", got)
	}
}
