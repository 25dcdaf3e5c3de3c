package runner

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/runc/libcontainer/configs"
	"golang.org/x/sys/unix"
)

// Files in a job directory. The directory belongs to root (0700); the job
// itself never sees it.
const (
	// SpecFile is written by [Launcher.Start] before the supervisor runs.
	SpecFile = "spec.json"
	// ResultFile is written atomically by the supervisor; its presence
	// means the job is over.
	ResultFile = "result.json"
	// PidFile holds "<pid> <start time in clock ticks>" of the supervisor.
	PidFile = "supervisor.pid"
	// LogFile is the supervisor's own log (and its stdout/stderr).
	LogFile = "supervisor.log"
	// StartedFile is written by the supervisor once the job runs (and
	// once the supervisor handles suspend and resume requests); it holds
	// the start time (RFC 3339).
	StartedFile = "started"
	// SuspendedFile exists while the supervisor holds the job frozen; it
	// holds the time of the freeze (RFC 3339).
	SuspendedFile = "suspended"
	// SignalFile holds the last signal request, "SEQ SIGNAME"; the
	// supervisor delivers each SEQ once, when sent SIGHUP.
	SignalFile = "signal"
	// stateDir is libcontainer's state root; rootfsDir the staging rootfs.
	stateDir  = "state"
	rootfsDir = "rootfs"
)

// cgroupKillTimeout bounds the wait for a job cgroup to empty.
const cgroupKillTimeout = 10 * time.Second

// ErrSpecExists is returned by [Launcher.Start] when the directory already
// holds a spec: a job directory is used for exactly one run.
var ErrSpecExists = errors.New("job directory already holds a spec")

// ReadResult reads dir's result.json. ok is false, with a nil error, when
// there is no result yet.
func ReadResult(dir string) (res Result, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, ResultFile))
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, false, nil
	}
	if err != nil {
		return Result{}, false, fmt.Errorf("read result %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &res); err != nil {
		return Result{}, false, fmt.Errorf("parse result %s: %w", filepath.Join(dir, ResultFile), err)
	}
	return res, true, nil
}

func readSpec(dir string) (*Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, SpecFile))
	if err != nil {
		return nil, fmt.Errorf("read spec: %w", err)
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse spec %s: %w", filepath.Join(dir, SpecFile), err)
	}
	return &s, nil
}

// writeAtomic writes data to dir/name through a temporary file and a
// rename (or, with noClobber, a link that fails if name exists), so that
// readers see either nothing or all of it. With durable, the file and dir
// are also synced, so that this holds after a crash of the machine too.
//
// Only result.json needs that: it is the one file whose content outlives
// the job's processes. spec.json, supervisor.pid, started and suspended
// describe a job that a machine crash kills anyway (the pid and the start
// time are void after a reboot), and a node daemon that re-adopts such a
// job reports it failed whatever these files hold; a crash of the daemon or
// the supervisor alone loses nothing that was written, synced or not. Each
// sync is a journal commit (about 1 ms here, far more on a busy disk) on
// every job's start path.
func writeAtomic(dir, name string, data []byte, noClobber, durable bool) error {
	final := filepath.Join(dir, name)
	tmp, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if err == nil && durable {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	if noClobber {
		err = os.Link(tmp.Name(), final)
	} else {
		err = os.Rename(tmp.Name(), final)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", final, err)
	}
	if !durable {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

func writeResult(dir string, res Result) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	return writeAtomic(dir, ResultFile, append(b, '\n'), false, true)
}

// procStartTime returns the start time of pid in clock ticks since boot
// (field 22 of /proc/PID/stat), which tells a pid's reuse apart.
func procStartTime(pid int) (uint64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces and parentheses.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("parse /proc/%d/stat: no ')'", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64) // field 22 overall
}

// procCmdline returns the arguments of pid.
func procCmdline(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00"), nil
}

// jobFilesDir, in a job directory, holds Spec.Files.
const jobFilesDir = "files"

// writeJobFiles writes files into dir/files and returns the read-only bind
// mounts that show them to the job at their paths.
func writeJobFiles(dir string, files []File) ([]*configs.Mount, error) {
	if len(files) == 0 {
		return nil, nil
	}
	fdir := filepath.Join(dir, jobFilesDir)
	if err := os.MkdirAll(fdir, 0o755); err != nil {
		return nil, fmt.Errorf("job files: %w", err)
	}
	var mounts []*configs.Mount
	for i, f := range files {
		src := filepath.Join(fdir, strconv.Itoa(i))
		if err := os.WriteFile(src, []byte(f.Content), 0o644); err != nil {
			return nil, fmt.Errorf("job file %s: %w", f.Path, err)
		}
		mounts = append(mounts, &configs.Mount{Source: src, Destination: f.Path, Device: "bind", Flags: roBindFlags &^ unix.MS_REC})
	}
	return mounts, nil
}

// readSignalRequest reads SignalFile in dir: (0, "") when there is none.
func readSignalRequest(dir string) (seq int64, name string, err error) {
	b, err := os.ReadFile(filepath.Join(dir, SignalFile))
	if errors.Is(err, os.ErrNotExist) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, "", fmt.Errorf("%s: want SEQ SIGNAME, got %q", SignalFile, b)
	}
	if seq, err = strconv.ParseInt(f[0], 10, 64); err != nil || unix.SignalNum(f[1]) == 0 {
		return 0, "", fmt.Errorf("%s: bad request %q", SignalFile, b)
	}
	return seq, f[1], nil
}
