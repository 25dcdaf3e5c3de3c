//go:build linux && cgo

package runner

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	devconfig "github.com/opencontainers/cgroups/devices/config"
	"github.com/opencontainers/runc/libcontainer/configs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"tags.cncf.io/container-device-interface/pkg/cdi"
)

// How a job's GPUs reach its container.
//
// Built in: the device node of each GPU (/dev/nvidiaN, char 195:N), the
// driver's control node /dev/nvidiactl (195:255) and, when the host has
// them, /dev/nvidia-uvm, /dev/nvidia-uvm-tools (dynamic major, read from
// the host node) and /dev/nvidia-modeset (195:254) are created in the
// job's fresh /dev with the host node's numbers, mode and owner, and
// exactly these are allowed by the job's device cgroup (default deny):
// the node's other GPUs are neither in the job's /dev nor openable from
// its cgroup. In image mode the driver's user-space libraries and
// nvidia-smi are bound read-only from the host below /run/gantry/nvidia.
//
// CDI: when the CDI spec directories describe nvidia.com/gpu devices, the
// job's GPUs are resolved as nvidia.com/gpu=<uuid> (else =<index>) and the
// spec's edits (device nodes with their cgroup rules, mounts, environment)
// are applied instead of the built-in list.

// nvidiaMajor is the character major of /dev/nvidiaN and /dev/nvidiactl.
const nvidiaMajor = 195

// nvidiaRunDir is where image mode binds the host's driver files.
const nvidiaRunDir = "/run/gantry/nvidia"

// gpuSetup is what a job's GPUs add to its container.
type gpuSetup struct {
	nodes  []*devconfig.Device // device nodes in the container's /dev
	rules  []*devconfig.Rule   // device cgroup allow rules
	mounts []*configs.Mount
	env    []string // KEY=VALUE, replacing the job's own
	// libDir and binDir, when set, are appended to the job's
	// LD_LIBRARY_PATH and PATH (image mode: the host's driver files).
	libDir, binDir string
	via            string   // "cdi ..." or "builtin", for the log
	warn           []string // things the supervisor should log
}

// applyEnv returns the job's environment with the GPU variables.
func (s *gpuSetup) applyEnv(env []string) []string {
	env = setEnv(env, s.env)
	for _, p := range []struct{ key, dir string }{{"LD_LIBRARY_PATH", s.libDir}, {"PATH", s.binDir}} {
		if p.dir == "" {
			continue
		}
		v := p.dir
		for _, kv := range env {
			if old, ok := strings.CutPrefix(kv, p.key+"="); ok && old != "" {
				v = old + ":" + p.dir
			}
		}
		env = setEnv(env, []string{p.key + "=" + v})
	}
	return env
}

// setupGPUs resolves spec.GPUs into device nodes, cgroup rules, mounts and
// environment. imageMode adds the host's driver files (built-in path).
func setupGPUs(spec *Spec, imageMode bool) (*gpuSetup, error) {
	if len(spec.GPUs) == 0 {
		return &gpuSetup{}, nil
	}
	s, err := cdiSetup(spec)
	if err != nil {
		return nil, err
	}
	if s != nil && imageMode {
		// CDI's hooks (update-ldcache) are not run: the image's rootfs is
		// shared and read-only. The directories CDI mounts libraries
		// into go on the job's LD_LIBRARY_PATH instead, so the image's
		// programs find libcuda and friends.
		s.libDir = cdiLibDirs(s.mounts)
	}
	if s == nil {
		if s, err = builtinSetup(spec, imageMode); err != nil {
			return nil, err
		}
	}
	s.env = append(s.env, gpuEnv(spec.GPUs)...)
	return s, nil
}

// gpuEnv are the variables that name the job's GPUs. The device cgroup
// and the job's /dev hide every other GPU, so CUDA enumerates exactly the
// job's GPUs as devices 0..k-1: CUDA_VISIBLE_DEVICES says so (integer
// indices, which every framework parses, unlike UUIDs), and
// CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA's device i the job's i-th GPU in
// node index order. NVIDIA_VISIBLE_DEVICES carries the UUIDs, as NVIDIA's
// container toolkit uses them (for containers the job starts itself);
// GANTRY_GPUS and SLURM_JOB_GPUS the node-local indices.
func gpuEnv(gpus []GPU) []string {
	var local, idx, uuids []string
	for i, g := range gpus {
		local = append(local, strconv.Itoa(i))
		idx = append(idx, strconv.Itoa(g.Index))
		uuids = append(uuids, g.UUID)
	}
	return []string{
		"CUDA_VISIBLE_DEVICES=" + strings.Join(local, ","),
		"CUDA_DEVICE_ORDER=PCI_BUS_ID",
		"NVIDIA_VISIBLE_DEVICES=" + strings.Join(uuids, ","),
		"GANTRY_GPUS=" + strings.Join(idx, ","),
		"SLURM_JOB_GPUS=" + strings.Join(idx, ","),
		"GPU_DEVICE_ORDINAL=" + strings.Join(local, ","),
	}
}

// setEnv returns env with each KEY=VALUE of set replacing any earlier
// value of KEY; other variables keep their order.
func setEnv(env, set []string) []string {
	keys := make(map[string]bool, len(set))
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		keys[k] = true
	}
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !keys[k] {
			out = append(out, kv)
		}
	}
	// Later entries of set win over earlier ones.
	seen := map[string]int{}
	for _, kv := range set {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := seen[k]; ok {
			out[i] = kv
			continue
		}
		seen[k] = len(out)
		out = append(out, kv)
	}
	return out
}

// hostCharDevice describes host node path as the container node dst,
// with a cgroup rule allowing read and write.
func hostCharDevice(path, dst string) (*devconfig.Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return nil, fmt.Errorf("%s: not a character device", path)
	}
	return &devconfig.Device{
		Rule: devconfig.Rule{
			Type: devconfig.CharDevice, Major: int64(unix.Major(st.Rdev)), Minor: int64(unix.Minor(st.Rdev)),
			Permissions: "rw", Allow: true,
		},
		Path:     dst,
		FileMode: os.FileMode(st.Mode & 0o777),
		Uid:      st.Uid,
		Gid:      st.Gid,
	}, nil
}

// builtinSetup is the device list of the NVIDIA driver without CDI.
func builtinSetup(spec *Spec, imageMode bool) (*gpuSetup, error) {
	dir := spec.DevDir
	if dir == "" {
		dir = "/dev"
	}
	s := &gpuSetup{via: "builtin"}
	add := func(name string, required bool) error {
		d, err := hostCharDevice(filepath.Join(dir, name), "/dev/"+name)
		if err != nil {
			if !required && errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		s.nodes = append(s.nodes, d)
		s.rules = append(s.rules, &d.Rule)
		return nil
	}
	for _, g := range spec.GPUs {
		if err := add(fmt.Sprintf("nvidia%d", g.Minor), true); err != nil {
			return nil, fmt.Errorf("gpu %d (%s): %w", g.Index, g.UUID, err)
		}
		if m := s.nodes[len(s.nodes)-1].Major; m != nvidiaMajor {
			return nil, fmt.Errorf("gpu %d (%s): %s/nvidia%d has major %d, want %d", g.Index, g.UUID, dir, g.Minor, m, nvidiaMajor)
		}
	}
	if err := add("nvidiactl", true); err != nil {
		return nil, fmt.Errorf("gpu driver control device: %w", err)
	}
	for _, name := range []string{"nvidia-uvm", "nvidia-uvm-tools", "nvidia-modeset"} {
		if err := add(name, false); err != nil {
			return nil, fmt.Errorf("gpu driver device: %w", err)
		}
	}
	if imageMode {
		mounts, libDir, binDir, err := driverFiles()
		if err != nil {
			return nil, err
		}
		if len(mounts) == 0 {
			s.warn = append(s.warn, "no NVIDIA driver libraries found on the host (ldconfig -p): the image must bring its own")
		}
		s.mounts, s.libDir, s.binDir = mounts, libDir, binDir
	}
	return s, nil
}

// driverLibs are the name prefixes of the driver's user-space libraries
// a CUDA, OpenCL or NVML program loads (as NVIDIA's container toolkit
// lists them for the compute and utility capabilities).
var driverLibs = []string{
	"libcuda.so", "libcudadebugger.so", "libnvidia-ml.so", "libnvidia-ptxjitcompiler.so",
	"libnvidia-nvvm.so", "libnvidia-opencl.so", "libnvidia-cfg.so", "libnvidia-allocator.so",
	"libnvidia-gpucomp.so", "libnvidia-pkcs11.so", "libnvidia-pkcs11-openssl3.so",
	"libnvidia-nscq.so", "libnvidia-encode.so", "libnvidia-opticalflow.so", "libnvcuvid.so",
}

// driverBins are the driver's utilities bound into images.
var driverBins = []string{"nvidia-smi", "nvidia-debugdump"}

// ldconfigCache lists the host's shared library cache (ldconfig -p);
// tests replace it.
var ldconfigCache = func() ([]byte, error) {
	for _, p := range []string{"/sbin/ldconfig", "/usr/sbin/ldconfig", "/sbin/ldconfig.real"} {
		if _, err := os.Stat(p); err == nil {
			return exec.Command(p, "-p").Output()
		}
	}
	return nil, errors.New("ldconfig not found")
}

// binDirs are searched for driverBins; tests replace them.
var binDirs = []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin", "/usr/local/bin"}

// ldconfigArch is how ldconfig -p marks libraries of this architecture.
func ldconfigArch() string {
	return map[string]string{"amd64": "x86-64", "arm64": "AArch64", "ppc64le": "64bit"}[runtime.GOARCH]
}

// driverFiles returns read-only binds of the host's driver libraries (to
// nvidiaRunDir/lib, under their sonames) and utilities (nvidiaRunDir/bin),
// and those two directories ("" when nothing went there). Nothing when
// the host has no driver libraries.
func driverFiles() (mounts []*configs.Mount, libDir, binDir string, err error) {
	out, err := ldconfigCache()
	if err != nil {
		return nil, "", "", fmt.Errorf("list host libraries for the gpu driver: %w", err)
	}
	libs := parseLdconfig(out, driverLibs, ldconfigArch())
	bind := func(src, dst string) error {
		real, err := filepath.EvalSymlinks(src)
		if err != nil {
			return fmt.Errorf("gpu driver file %s: %w", src, err)
		}
		mounts = append(mounts, &configs.Mount{Source: real, Destination: dst, Device: "bind", Flags: roBindFlags &^ unix.MS_REC})
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(libs)) {
		if err := bind(libs[name], nvidiaRunDir+"/lib/"+name); err != nil {
			return nil, "", "", err
		}
	}
	if len(mounts) == 0 {
		return nil, "", "", nil
	}
	libDir = nvidiaRunDir + "/lib"
	for _, b := range driverBins {
		for _, d := range binDirs {
			p := filepath.Join(d, b)
			if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
				if err := bind(p, nvidiaRunDir+"/bin/"+b); err != nil {
					return nil, "", "", err
				}
				binDir = nvidiaRunDir + "/bin"
				break
			}
		}
	}
	return mounts, libDir, binDir, nil
}

// parseLdconfig picks from ldconfig -p output the libraries whose name
// starts with one of prefixes followed by a version ("libcuda.so.1"),
// for architecture arch (the marker in the parentheses; "" takes any):
// name -> path, the first entry of a name winning, as for the loader.
func parseLdconfig(out []byte, prefixes []string, arch string) map[string]string {
	libs := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		lhs, path, ok := strings.Cut(line, " => ")
		if !ok {
			continue
		}
		name, tags, _ := strings.Cut(lhs, " ")
		if arch != "" && !strings.Contains(tags, arch) {
			continue
		}
		match := false
		for _, p := range prefixes {
			if strings.HasPrefix(name, p+".") {
				match = true
				break
			}
		}
		if _, dup := libs[name]; match && !dup && filepath.IsAbs(path) {
			libs[name] = path
		}
	}
	return libs
}

// cdiVendorClass is the CDI kind of NVIDIA GPUs (nvidia-ctk cdi generate).
const cdiVendorClass = "nvidia.com/gpu"

// cdiSetup applies the CDI specs' edits for the job's GPUs. It returns
// nil, nil when the spec directories describe no nvidia.com/gpu device at
// all (the built-in list is then used), and an error naming the GPU when
// they describe some but not one of the job's.
func cdiSetup(spec *Spec) (*gpuSetup, error) {
	dirs := spec.CDISpecDirs
	if dirs == nil {
		dirs = cdi.DefaultSpecDirs
	}
	var warn []string
	cache, err := cdi.NewCache(cdi.WithSpecDirs(dirs...), cdi.WithAutoRefresh(false))
	if cache == nil {
		return nil, fmt.Errorf("read cdi specs in %v: %w", dirs, err)
	}
	if err != nil {
		// Broken spec files elsewhere must not stop the job.
		warn = append(warn, fmt.Sprintf("cdi specs in %v: %v", dirs, err))
	}
	known := false
	for _, d := range cache.ListDevices() {
		if strings.HasPrefix(d, cdiVendorClass+"=") {
			known = true
			break
		}
	}
	if !known {
		return nil, nil
	}
	var names []string
	for _, g := range spec.GPUs {
		byUUID, byIndex := cdiVendorClass+"="+g.UUID, cdiVendorClass+"="+strconv.Itoa(g.Index)
		switch {
		case cache.GetDevice(byUUID) != nil:
			names = append(names, byUUID)
		case cache.GetDevice(byIndex) != nil:
			names = append(names, byIndex)
		default:
			return nil, fmt.Errorf("gpu %d (%s): cdi specs in %v have neither %s nor %s (regenerate them: nvidia-ctk cdi generate)",
				g.Index, g.UUID, dirs, byUUID, byIndex)
		}
	}
	oci := &specs.Spec{Process: &specs.Process{}, Linux: &specs.Linux{}}
	if _, err := cache.InjectDevices(oci, names...); err != nil {
		return nil, fmt.Errorf("apply cdi devices %v: %w", names, err)
	}
	s := &gpuSetup{via: "cdi " + strings.Join(names, ","), warn: warn, env: oci.Process.Env}
	for _, d := range oci.Linux.Devices {
		n, err := ociDevice(d)
		if err != nil {
			return nil, fmt.Errorf("cdi device %v: %w", names, err)
		}
		s.nodes = append(s.nodes, n)
	}
	if oci.Linux.Resources != nil {
		for _, r := range oci.Linux.Resources.Devices {
			rule, err := ociRule(r)
			if err != nil {
				return nil, fmt.Errorf("cdi device %v: %w", names, err)
			}
			s.rules = append(s.rules, rule)
		}
	}
	for _, m := range oci.Mounts {
		s.mounts = append(s.mounts, ociMount(m))
	}
	// Any hook at all (every field of specs.Hooks is omitempty).
	if b, _ := json.Marshal(oci.Hooks); oci.Hooks != nil && string(b) != "{}" {
		s.warn = append(s.warn, fmt.Sprintf("cdi devices %v: hooks are not run (gantry applies device nodes, mounts and environment; in image mode the library directories go on LD_LIBRARY_PATH)", names))
	}
	return s, nil
}

// cdiLibDirs returns the directories, colon-separated in mount order, that
// mounts put shared libraries (*.so*) into.
func cdiLibDirs(mounts []*configs.Mount) string {
	var dirs []string
	for _, m := range mounts {
		base := filepath.Base(m.Destination)
		if strings.Contains(base, ".so") && strings.HasPrefix(base, "lib") {
			if d := filepath.Dir(m.Destination); !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return strings.Join(dirs, ":")
}

// ociDevice converts a device node of an OCI spec to libcontainer's.
func ociDevice(d specs.LinuxDevice) (*devconfig.Device, error) {
	if len(d.Type) != 1 || !strings.Contains("cbup", d.Type) {
		return nil, fmt.Errorf("%s: device type %q", d.Path, d.Type)
	}
	n := &devconfig.Device{
		Rule: devconfig.Rule{Type: devconfig.Type(d.Type[0]), Major: d.Major, Minor: d.Minor, Permissions: "rw", Allow: true},
		Path: d.Path, FileMode: 0o666,
	}
	if n.Type == 'u' {
		n.Type = devconfig.CharDevice
	}
	if d.FileMode != nil {
		n.FileMode = *d.FileMode & 0o777
	}
	if d.UID != nil {
		n.Uid = *d.UID
	}
	if d.GID != nil {
		n.Gid = *d.GID
	}
	return n, nil
}

// ociRule converts a device cgroup rule of an OCI spec; a missing type,
// major or minor is the wildcard.
func ociRule(r specs.LinuxDeviceCgroup) (*devconfig.Rule, error) {
	rule := &devconfig.Rule{Type: devconfig.WildcardDevice, Major: devconfig.Wildcard, Minor: devconfig.Wildcard,
		Permissions: devconfig.Permissions(r.Access), Allow: r.Allow}
	if r.Type != "" {
		rule.Type = devconfig.Type(r.Type[0])
	}
	if r.Major != nil {
		rule.Major = *r.Major
	}
	if r.Minor != nil {
		rule.Minor = *r.Minor
	}
	if !r.Allow {
		// The job's device cgroup denies everything it does not allow.
		return nil, fmt.Errorf("deny rule %+v: not supported", r)
	}
	if rule.Major == devconfig.Wildcard || rule.Type == devconfig.WildcardDevice {
		return nil, fmt.Errorf("rule %+v allows every device of a kind: refused", r)
	}
	return rule, nil
}

// ociMount converts an OCI mount (bind or another file system type) to
// libcontainer's, mapping the usual options to mount flags.
func ociMount(m specs.Mount) *configs.Mount {
	flagOf := map[string]uintptr{
		"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV, "noexec": unix.MS_NOEXEC,
		"bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC, "relatime": unix.MS_RELATIME,
		"noatime": unix.MS_NOATIME, "strictatime": unix.MS_STRICTATIME,
	}
	out := &configs.Mount{Source: m.Source, Destination: m.Destination, Device: m.Type}
	var data []string
	for _, o := range m.Options {
		switch f, ok := flagOf[o]; {
		case ok:
			out.Flags |= int(f)
		case o == "rw":
		default:
			data = append(data, o)
		}
	}
	if out.Flags&unix.MS_BIND != 0 {
		out.Device = "bind"
	}
	out.Data = strings.Join(data, ",")
	return out
}
