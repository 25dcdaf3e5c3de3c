//go:build linux && cgo

package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"golang.org/x/sys/unix"

	devconfig "github.com/opencontainers/cgroups/devices/config"

	"github.com/gantry-hpc/gantry/cgroups"
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

// containerConfig builds the libcontainer configuration of the job: host
// root read-only (staged in staging), confined by job's cgroup.
func containerConfig(spec *Spec, staging string, job *cgroups.Job) (*configs.Config, error) {
	mounts, err := stageRootfs(staging)
	if err != nil {
		return nil, err
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
		return nil, fmt.Errorf("find own executable for the job shim: %w", err)
	}
	mounts = append(mounts, &configs.Mount{Source: self, Destination: shimPath, Device: "bind", Flags: roBindFlags &^ unix.MS_REC})
	for _, p := range hostRunPaths {
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			mounts = append(mounts, &configs.Mount{Source: p, Destination: p, Device: "bind", Flags: roBindFlags, RecAttr: &unix.MountAttr{Attr_set: roAttr}})
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
		Rootfs:          staging,
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
	}, nil
}
