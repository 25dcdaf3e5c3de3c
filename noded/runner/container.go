//go:build linux && cgo

package runner

import (
	"debug/elf"
	"fmt"

	securejoin "github.com/cyphar/filepath-securejoin"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	devconfig "github.com/opencontainers/cgroups/devices/config"

	"github.com/gantry-hpc/gantry/cgroups"
	"github.com/gantry-hpc/gantry/noded/image"
)

// Host-root mode: the job sees the host's root filesystem read-only, with
// its own /proc, /dev, /sys, private tmpfs /tmp and /run, and its submit
// directory writable. libcontainer cannot use "/" as the rootfs (pivot_root
// fails with EBUSY, MS_MOVE loops, a mount on "/" is refused), so the
// rootfs is an empty staging directory that gets one recursive read-only
// bind per top-level host directory, and copies of the top-level symlinks
// (/bin -> usr/bin).

// replacedTop are the top-level directories the container gets fresh; the
// host's are not bound. The job cannot see the host's /tmp or /run.
var replacedTop = []string{"proc", "dev", "sys", "tmp", "run"}

// hostRunPaths are host paths below /run that jobs need and get read-only
// when they exist: the resolver's resolv.conf target on systemd hosts,
// munge's socket (HPC authentication) and nscd's socket.
var hostRunPaths = []string{"/run/systemd/resolve", "/run/munge", "/run/nscd"}

// hiddenInJob reports whether host path p is not what the job sees at p:
// it lies below a directory the container replaces and not below the
// writable bind of cwd.
func hiddenInJob(cwd string) func(string) bool {
	return func(p string) bool {
		if cwd != "/" && (p == cwd || strings.HasPrefix(p, cwd+"/")) {
			return false
		}
		first, _, _ := strings.Cut(strings.TrimPrefix(p, "/"), "/")
		return slices.Contains(replacedTop, first)
	}
}

const (
	roBindFlags = unix.MS_BIND | unix.MS_REC | unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV
	roAttr      = unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV
)

// stageRootfs fills the empty staging directory with the top-level
// symlinks of the host root and returns the mounts for the top-level
// directories and files.
func stageRootfs(staging string) ([]*configs.Mount, error) {
	if err := os.Mkdir(staging, 0o755); err != nil {
		return nil, fmt.Errorf("create staging rootfs %s: %w", staging, err)
	}
	ents, err := os.ReadDir("/")
	if err != nil {
		return nil, fmt.Errorf("read host root: %w", err)
	}
	var mounts []*configs.Mount
	for _, e := range ents {
		name := e.Name()
		if slices.Contains(replacedTop, name) {
			continue
		}
		src := "/" + name
		switch t := e.Type(); {
		case t&os.ModeSymlink != 0:
			target, err := os.Readlink(src)
			if err != nil {
				return nil, fmt.Errorf("read host symlink %s: %w", src, err)
			}
			if err := os.Symlink(target, filepath.Join(staging, name)); err != nil {
				return nil, fmt.Errorf("recreate symlink %s -> %s: %w", src, target, err)
			}
		case t.IsDir(), t.IsRegular():
			mounts = append(mounts, &configs.Mount{
				Source:      src,
				Destination: src,
				Device:      "bind",
				Flags:       roBindFlags,
				RecAttr:     &unix.MountAttr{Attr_set: roAttr},
			})
		}
	}
	return mounts, nil
}

// containerConfig builds the libcontainer configuration of the job,
// confined by job's cgroup: in host mode (img nil) the host root read-only,
// staged in staging; in image mode the image's unpacked rootfs read-only.
//
// The job's PID 1 is shimPrefix followed by ShimArg and the command.
func containerConfig(spec *Spec, staging string, job *cgroups.Job, img *image.Image, gpus *gpuSetup) (cfg *configs.Config, shimPrefix []string, err error) {
	shimPrefix = []string{shimPath}
	var mounts []*configs.Mount
	rootfs := staging
	if img == nil {
		if mounts, err = stageRootfs(staging); err != nil {
			return nil, nil, err
		}
	} else {
		rootfs = img.Rootfs
	}
	const std = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	mounts = append(mounts,
		&configs.Mount{Source: "proc", Destination: "/proc", Device: "proc", Flags: std},
		&configs.Mount{Source: "tmpfs", Destination: "/dev", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_STRICTATIME, Data: "mode=755,size=65536k"},
		&configs.Mount{Source: "devpts", Destination: "/dev/pts", Device: "devpts", Flags: unix.MS_NOSUID | unix.MS_NOEXEC, Data: "newinstance,ptmxmode=0666,mode=0620"},
		&configs.Mount{Source: "shm", Destination: "/dev/shm", Device: "tmpfs", Flags: std, Data: "mode=1777"},
		&configs.Mount{Source: "mqueue", Destination: "/dev/mqueue", Device: "mqueue", Flags: std},
		&configs.Mount{Source: "sysfs", Destination: "/sys", Device: "sysfs", Flags: std | unix.MS_RDONLY},
		&configs.Mount{Source: "tmpfs", Destination: "/tmp", Device: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
		&configs.Mount{Source: "tmpfs", Destination: "/run", Device: "tmpfs", Flags: std, Data: "mode=755"},
	)
	// The job shim (this executable) becomes the job's PID 1.
	self, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("find own executable for the job shim: %w", err)
	}
	mounts = append(mounts, &configs.Mount{Source: self, Destination: shimPath, Device: "bind", Flags: roBindFlags &^ unix.MS_REC})
	if img != nil {
		// The image has its own libraries, maybe none: a dynamically
		// linked shim is started through the host's loader, with the
		// host's library directories, all bound read-only below
		// /run/gantry. The job's command uses the image's.
		interp, libDirs, err := elfDeps(self)
		if err != nil {
			return nil, nil, err
		}
		if interp != "" {
			real, err := filepath.EvalSymlinks(interp)
			if err != nil {
				return nil, nil, fmt.Errorf("job shim loader %s: %w", interp, err)
			}
			mounts = append(mounts, &configs.Mount{Source: real, Destination: shimLoaderPath, Device: "bind", Flags: roBindFlags &^ unix.MS_REC})
			var libPath []string
			for i, d := range libDirs {
				dst := fmt.Sprintf("%s/lib%d", filepath.Dir(shimPath), i)
				mounts = append(mounts, &configs.Mount{Source: d, Destination: dst, Device: "bind", Flags: roBindFlags, RecAttr: &unix.MountAttr{Attr_set: roAttr}})
				libPath = append(libPath, dst)
			}
			shimPrefix = []string{shimLoaderPath, "--library-path", strings.Join(libPath, ":"), shimPath}
		}
	}
	for _, p := range hostRunPaths {
		if img != nil {
			break // the image brings its own /etc; host sockets may not fit it
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			mounts = append(mounts, &configs.Mount{Source: p, Destination: p, Device: "bind", Flags: roBindFlags, RecAttr: &unix.MountAttr{Attr_set: roAttr}})
		}
	}
	// The job's GPUs: driver files (image mode) or CDI mounts.
	if gpus != nil {
		mounts = append(mounts, gpus.mounts...)
	}
	// The user's home, writable, in host mode; before the submit
	// directory, which may lie below it.
	if img == nil {
		if home := userHome(spec); home != "" && home != spec.Cwd {
			mounts = append(mounts, &configs.Mount{
				Source: home, Destination: home, Device: "bind",
				Flags: unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV,
			})
		}
	}
	// The submit directory comes last: it may lie below a read-only bind
	// (/home/u/run) or below the fresh /tmp (/tmp/u/run), and mounts are
	// made in order. Its source is resolved in the container's mount
	// namespace before pivot_root, where the host's /tmp is still visible
	// (the tmpfs above went to <staging>/tmp).
	if spec.Cwd != "/" {
		mounts = append(mounts, &configs.Mount{
			Source: spec.Cwd, Destination: spec.Cwd, Device: "bind",
			Flags: unix.MS_BIND | unix.MS_REC | unix.MS_NOSUID | unix.MS_NODEV,
		})
	}

	// The standard device nodes (null, zero, full, tty, random, urandom,
	// ptmx), allowed by the devices controller; everything else denied.
	// libcontainer's list also has "mknod any device" wildcard rules,
	// which we leave out; rules without a Path (pts, ptmx) create no node.
	var nodes []*devconfig.Device
	cg := job.Cgroup()
	cg.Resources.Devices = nil
	for _, d := range specconv.AllowedDevices {
		if d.Major == devconfig.Wildcard {
			continue
		}
		if d.Path != "" {
			nodes = append(nodes, d)
		}
		cg.Resources.Devices = append(cg.Resources.Devices, &d.Rule)
	}
	// The job's GPUs and the driver's control devices, exactly; the
	// node's other GPUs stay denied and absent from the job's /dev.
	if gpus != nil {
		nodes = append(nodes, gpus.nodes...)
		cg.Resources.Devices = append(cg.Resources.Devices, gpus.rules...)
	}
	cg.Resources.SkipDevices = false

	ns := configs.Namespaces{
		{Type: configs.NEWNS},
		{Type: configs.NEWPID},
		{Type: configs.NEWIPC},
	}
	if _, err := os.Stat("/proc/self/ns/cgroup"); err == nil {
		ns = append(ns, configs.Namespace{Type: configs.NEWCGROUP})
	}
	zero := 0
	return &configs.Config{
		Rootfs:          rootfs,
		Readonlyfs:      true,
		RootPropagation: unix.MS_SLAVE | unix.MS_REC,
		Mounts:          mounts,
		Devices:         nodes,
		Namespaces:      ns,
		Cgroups:         cg,
		// No capabilities at all, and no way to gain any.
		Capabilities:    &configs.Capabilities{},
		NoNewPrivileges: true,
		// ParentDeathSignal stays 0: the job must outlive its supervisor's
		// parent, the node daemon.
		OomScoreAdj: &zero,
		MaskPaths: []string{
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
			"/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		},
		ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
	}, shimPrefix, nil
}

// imageEnv is the job's environment in image mode: the job's own
// variables, except that PATH comes from the image when the image sets one
// (the host's PATH names host directories), plus the image's variables the
// job does not set.
func imageEnv(jobEnv, imgEnv []string) []string {
	out := make([]string, 0, len(jobEnv)+len(imgEnv))
	set := make(map[string]bool)
	imgPath, hasPath := "", false
	for _, kv := range imgEnv {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			imgPath, hasPath = v, true
		}
	}
	for _, kv := range jobEnv {
		k, _, _ := strings.Cut(kv, "=")
		if k == "PATH" && hasPath {
			continue
		}
		set[k] = true
		out = append(out, kv)
	}
	if hasPath {
		out = append(out, "PATH="+imgPath)
		set["PATH"] = true
	}
	for _, kv := range imgEnv {
		k, _, _ := strings.Cut(kv, "=")
		if !set[k] {
			set[k] = true
			out = append(out, kv)
		}
	}
	return out
}

// lookPathInImage resolves a bare command name against PATH (from env)
// inside the image's rootfs, symlinks resolved within it; it returns the
// path as the job sees it. Names with a slash are returned as they are:
// the job shim reports one that cannot be run (exit 127).
func lookPathInImage(argv0 string, env []string, rootfs string) (string, error) {
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	path := defaultPath
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, d := range filepath.SplitList(path) {
		if !filepath.IsAbs(d) {
			continue
		}
		c := filepath.Join(d, argv0)
		hp, err := securejoin.SecureJoin(rootfs, c)
		if err != nil {
			continue
		}
		if st, err := os.Stat(hp); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return c, nil
		}
	}
	return "", fmt.Errorf("%w: %q in the image's PATH %q", errNotFound, argv0, path)
}

// shimLoaderPath is where a dynamically linked shim's ELF interpreter
// appears in an image-mode container.
const shimLoaderPath = "/run/gantry/ld.so"

// elfDeps returns the ELF interpreter of exe ("" for a static binary) and
// the host directories that hold its DT_NEEDED libraries.
func elfDeps(exe string) (interp string, dirs []string, err error) {
	f, err := elf.Open(exe)
	if err != nil {
		return "", nil, fmt.Errorf("read job shim %s: %w", exe, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b := make([]byte, p.Filesz)
			if _, err := p.ReadAt(b, 0); err != nil {
				return "", nil, fmt.Errorf("read job shim %s interpreter: %w", exe, err)
			}
			interp = strings.TrimRight(string(b), "\x00")
		}
	}
	if interp == "" {
		return "", nil, nil
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("read job shim %s libraries: %w", exe, err)
	}
	for _, l := range libs {
		found := false
		for _, d := range libSearchDirs() {
			if _, err := os.Stat(filepath.Join(d, l)); err == nil {
				if real, err := filepath.EvalSymlinks(d); err == nil {
					d = real
				}
				if !slices.Contains(dirs, d) {
					dirs = append(dirs, d)
				}
				found = true
				break
			}
		}
		if !found {
			return "", nil, fmt.Errorf("job shim %s: library %s not found in %v", exe, l, libSearchDirs())
		}
	}
	return interp, dirs, nil
}

// libSearchDirs are the system library directories, Debian multiarch first.
func libSearchDirs() []string {
	triplet := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu", "ppc64le": "powerpc64le-linux-gnu"}[runtime.GOARCH]
	var out []string
	if triplet != "" {
		out = append(out, "/lib/"+triplet, "/usr/lib/"+triplet)
	}
	return append(out, "/lib64", "/usr/lib64", "/lib", "/usr/lib")
}

// userHome returns the home directory to bind for the job's user: Spec.Home,
// else the passwd entry of Spec.UID; "" when there is none to bind (none
// found, "/", not an absolute path, or not an existing directory).
func userHome(spec *Spec) string {
	home := spec.Home
	if home == "" {
		u, err := user.LookupId(strconv.FormatUint(uint64(spec.UID), 10))
		if err != nil {
			return ""
		}
		home = u.HomeDir
	}
	home = filepath.Clean(home)
	if !filepath.IsAbs(home) || home == "/" {
		return ""
	}
	if st, err := os.Stat(home); err != nil || !st.IsDir() {
		return ""
	}
	return home
}
