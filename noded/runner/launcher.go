package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/cgroups"
)

// Launcher starts job supervisors. The supervisor command is
// Exe Args... DIR; in production Exe is os.Executable() and Args is
// ["job-supervisor"], whose handler calls [SupervisorMain].
type Launcher struct {
	Exe  string
	Args []string
}

// Handle is the node daemon's grip on one job's supervisor, started by
// [Launcher.Start] or re-attached by [Adopt]. Its methods are safe for
// concurrent use.
type Handle struct {
	dir  string
	pid  int
	proc *os.Process // set when the supervisor is our child
	// pidfd refers to an adopted supervisor; -1 when not used.
	pidfd int
	done  chan struct{} // closed when the supervisor has exited
	exit  string        // how a child supervisor exited, once done

	once sync.Once
	died Result // the synthesized result of a supervisor that died
}

// Start runs the job spec in a new supervisor, with dir as its job
// directory. It creates dir (0700) unless it exists, refuses a dir that
// already holds a spec (a job directory serves exactly one run; the error
// wraps [ErrSpecExists]), writes spec.json, and starts the supervisor
// detached: in its own session, stdin /dev/null, stdout and stderr to
// dir/supervisor.log, so that it and the job outlive the daemon. The
// supervisor's pid goes to dir/supervisor.pid. A spec the supervisor would
// refuse is refused here already.
func (l Launcher) Start(dir string, spec Spec) (*Handle, error) {
	if l.Exe == "" {
		return nil, errors.New("start job: launcher has no executable")
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start job %s: %w", spec.JobID, err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("start job %s: create %s: %w", spec.JobID, dir, err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("start job %s: encode spec: %w", spec.JobID, err)
	}
	if err := writeAtomic(dir, SpecFile, append(b, '\n'), true, false); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("start job %s in %s: %w", spec.JobID, dir, ErrSpecExists)
		}
		return nil, fmt.Errorf("start job %s: %w", spec.JobID, err)
	}
	logf, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start job %s: %w", spec.JobID, err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, fmt.Errorf("start job %s: %w", spec.JobID, err)
	}
	defer devnull.Close()

	cmd := exec.Command(l.Exe, append(append([]string(nil), l.Args...), dir)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start supervisor %s for job %s: %w", l.Exe, spec.JobID, err)
	}
	h := &Handle{dir: dir, pid: cmd.Process.Pid, proc: cmd.Process, pidfd: -1, done: make(chan struct{})}
	// The start time is read before the child is reaped: a supervisor that
	// has already exited is a zombie until then, and its /proc entry stays.
	start, err := procStartTime(h.pid)
	if err == nil {
		err = writeAtomic(dir, PidFile, fmt.Appendf(nil, "%d %d\n", h.pid, start), false, false)
	}
	go func() {
		// Reap the child whether or not anyone calls Wait.
		err := cmd.Wait()
		h.exit = cmd.ProcessState.String()
		if err != nil && cmd.ProcessState == nil {
			h.exit = err.Error()
		}
		close(h.done)
	}()
	if err != nil {
		// Without a pid file the job could not be adopted later.
		_ = h.proc.Kill()
		return nil, fmt.Errorf("start job %s: record supervisor pid: %w", spec.JobID, err)
	}
	return h, nil
}

// Adopt re-attaches to the supervisor of the job in dir, for a restarted
// node daemon: to one that is still running (the pid in supervisor.pid, if
// that process still has the same start time and dir as its last
// argument), or to one that has finished (result.json present), or, if
// neither, to a dead one, whose Wait reports "supervisor died". It fails
// only if dir holds no job (no spec.json).
func Adopt(dir string) (*Handle, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("adopt %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, SpecFile)); err != nil {
		return nil, fmt.Errorf("adopt %s: no job: %w", dir, err)
	}
	h := &Handle{dir: dir, pidfd: -1, done: make(chan struct{})}
	if _, ok, _ := ReadResult(dir); ok {
		close(h.done)
		return h, nil
	}
	pid, start, err := readPidFile(dir)
	if err == nil {
		err = waitSupervisor(pid, start, dir)
	}
	if err != nil {
		h.exit = "not running at adoption: " + err.Error()
		close(h.done)
		return h, nil
	}
	h.pid = pid
	fd, err := unix.PidfdOpen(pid, 0)
	if err == nil && !isSupervisor(pid, start, dir) {
		// The pid was reused between the check and the open.
		unix.Close(fd)
		h.exit = "not running at adoption"
		close(h.done)
		return h, nil
	}
	if err == nil {
		h.pidfd = fd
		go func() {
			fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(fds, -1); err != unix.EINTR {
					break
				}
			}
			close(h.done)
		}()
		return h, nil
	}
	// No pidfd (kernel before 5.3): poll the process.
	go func() {
		for isSupervisor(pid, start, dir) {
			time.Sleep(200 * time.Millisecond)
		}
		close(h.done)
	}()
	return h, nil
}

func readPidFile(dir string) (pid int, start uint64, err error) {
	b, err := os.ReadFile(filepath.Join(dir, PidFile))
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("parse %s: want \"pid starttime\"", filepath.Join(dir, PidFile))
	}
	if pid, err = strconv.Atoi(f[0]); err != nil {
		return 0, 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, PidFile), err)
	}
	if start, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("parse %s: %w", filepath.Join(dir, PidFile), err)
	}
	return pid, start, nil
}

// waitSupervisor checks that pid is still the supervisor of dir (see
// isSupervisor). A process with the recorded start time is that
// supervisor, but until it has exec'd its command line is still its
// parent's, so for a supervisor that was only just started (a daemon that
// crashed right after Start) it waits up to a second for the exec.
func waitSupervisor(pid int, start uint64, dir string) error {
	for range 50 {
		if isSupervisor(pid, start, dir) {
			return nil
		}
		if st, err := procStartTime(pid); err != nil || st != start {
			return fmt.Errorf("pid %d from %s is gone", pid, PidFile)
		}
		time.Sleep(20 * time.Millisecond)
	}
	args, _ := procCmdline(pid)
	return fmt.Errorf("pid %d runs %q, not the supervisor of %s", pid, args, dir)
}

// isSupervisor reports whether pid is still the supervisor of dir: same
// start time, dir as its last argument, and not a zombie.
func isSupervisor(pid int, start uint64, dir string) bool {
	if pid <= 0 {
		return false
	}
	st, err := procStartTime(pid)
	if err != nil || st != start {
		return false
	}
	args, err := procCmdline(pid)
	return err == nil && len(args) > 1 && args[len(args)-1] == dir
}

// Dir returns the job directory.
func (h *Handle) Dir() string { return h.dir }

// Kill asks the supervisor to kill the job (SIGTERM to the supervisor; it
// then sends SIGTERM to every process of the job and SIGKILL after the
// job's KillGrace, and the result says Killed). Killing a job that has
// ended is not an error. Wait reports the outcome.
func (h *Handle) Kill() error {
	if err := h.signalSupervisor(unix.SIGTERM); err != nil {
		return fmt.Errorf("kill job in %s: %w", h.dir, err)
	}
	return nil
}

// errSupervisorGone: the supervisor has exited (or was never there).
var errSupervisorGone = errors.New("supervisor gone")

// sendSupervisor sends sig to the supervisor process, or returns
// errSupervisorGone.
func (h *Handle) sendSupervisor(sig unix.Signal) error {
	select {
	case <-h.done:
		return errSupervisorGone
	default:
	}
	var err error
	switch {
	case h.proc != nil:
		err = h.proc.Signal(sig)
	case h.pidfd >= 0:
		err = unix.PidfdSendSignal(h.pidfd, sig, nil, 0)
	default:
		return errSupervisorGone
	}
	if errors.Is(err, os.ErrProcessDone) || errors.Is(err, unix.ESRCH) {
		return errSupervisorGone
	}
	if err != nil {
		return fmt.Errorf("signal supervisor %d: %w", h.pid, err)
	}
	return nil
}

// signalSupervisor sends sig to the supervisor, unless it has ended.
func (h *Handle) signalSupervisor(sig unix.Signal) error {
	if err := h.sendSupervisor(sig); !errors.Is(err, errSupervisorGone) {
		return err
	}
	return nil
}

// Signal asks the supervisor to send signal name (SIGUSR1) to every
// process of the job, as request seq: a request whose seq is not above
// the last one's is not delivered again. A job not running yet gets it
// once it runs.
func (h *Handle) Signal(seq int64, name string) error {
	if unix.SignalNum(name) == 0 {
		return fmt.Errorf("signal job in %s: unknown signal %q", h.dir, name)
	}
	tmp := filepath.Join(h.dir, SignalFile+".tmp")
	if err := os.WriteFile(tmp, fmt.Appendf(nil, "%d %s\n", seq, name), 0o600); err != nil {
		return fmt.Errorf("signal job: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(h.dir, SignalFile)); err != nil {
		return fmt.Errorf("signal job: %w", err)
	}
	return h.signalSupervisor(unix.SIGHUP)
}

// SignalSeq is the last signal request made through Signal (0: none).
func (h *Handle) SignalSeq() int64 {
	seq, _, _ := readSignalRequest(h.dir)
	return seq
}

// ErrNotRunning is returned by [Handle.Suspend] and [Handle.Resume] for a
// job that has not started running yet (or has ended): the supervisor
// acts on such requests only once the job runs, so callers retry.
var ErrNotRunning = errors.New("job is not running")

// Suspend asks the supervisor to freeze the job (SIGUSR1). It returns
// once the request is sent; [Handle.Suspended] reports when the job is
// frozen. Suspending a suspended job is a no-op. While suspended, the
// job's walltime clock stops.
func (h *Handle) Suspend() error { return h.control(unix.SIGUSR1, "suspend") }

// Resume asks the supervisor to thaw a suspended job (SIGUSR2).
func (h *Handle) Resume() error { return h.control(unix.SIGUSR2, "resume") }

// Suspended reports whether the supervisor holds the job frozen now.
func (h *Handle) Suspended() bool {
	_, err := os.Stat(filepath.Join(h.dir, SuspendedFile))
	return err == nil
}

// Started returns when the job started running, if it has.
func (h *Handle) Started() (time.Time, bool) {
	b, err := os.ReadFile(filepath.Join(h.dir, StartedFile))
	if err != nil {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	return t, err == nil
}

// control sends sig to the supervisor of a running job. The supervisor
// handles SIGUSR1/SIGUSR2 only from the moment it writes StartedFile (a
// Go program that does not catch SIGUSR1 dies of it).
func (h *Handle) control(sig unix.Signal, what string) error {
	select {
	case <-h.done:
		return fmt.Errorf("%s job in %s: %w", what, h.dir, ErrNotRunning)
	default:
	}
	if _, ok := h.Started(); !ok {
		return fmt.Errorf("%s job in %s: %w", what, h.dir, ErrNotRunning)
	}
	switch err := h.sendSupervisor(sig); {
	case errors.Is(err, errSupervisorGone):
		return fmt.Errorf("%s job in %s: %w", what, h.dir, ErrNotRunning)
	case err != nil:
		return fmt.Errorf("%s job in %s: %w", what, h.dir, err)
	}
	return nil
}

// Wait waits until the supervisor has exited, or ctx is done, and returns
// the job's result. If the supervisor died without writing result.json
// (e.g. it was SIGKILLed), the job may still be running unsupervised: Wait
// then reads what the job's cgroup can tell (peak memory, CPU time, OOM
// kills), kills everything in it and removes it, and returns a Result
// whose Error starts with "supervisor died". Wait may be called any number
// of times and from several goroutines.
func (h *Handle) Wait(ctx context.Context) (Result, error) {
	select {
	case <-h.done:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("wait for job in %s: %w", h.dir, ctx.Err())
	}
	res, ok, err := ReadResult(h.dir)
	if err != nil || ok {
		return res, err
	}
	h.once.Do(func() { h.died = h.cleanupDead() })
	return h.died, nil
}

// cleanupDead makes a Result for a supervisor that died without one, and
// stops the job it left behind.
func (h *Handle) cleanupDead() Result {
	res := Result{ExitCode: 1, EndedAt: time.Now()}
	msg := fmt.Sprintf("supervisor died (%s) without writing %s; see %s", h.exit, ResultFile, filepath.Join(h.dir, LogFile))
	if fi, err := os.Stat(filepath.Join(h.dir, PidFile)); err == nil {
		res.StartedAt = fi.ModTime()
	}
	spec, err := readSpec(h.dir)
	if err == nil {
		var host *cgroups.Host
		var job *cgroups.Job
		if host, err = cgroups.Detect(); err == nil {
			job, err = host.Job(spec.JobID)
		}
		if err == nil && job.Exists() {
			if u, uerr := job.Usage(); uerr == nil {
				res.PeakMemoryBytes, res.CPUTime, res.OOMKilled = u.PeakMemoryBytes, u.CPUTime, u.OOMKills > 0
			}
			if pids, _ := job.Pids(); len(pids) > 0 {
				msg += fmt.Sprintf("; killed %d orphaned job processes", len(pids))
			}
			err = job.Kill(cgroupKillTimeout)
			if err == nil {
				err = job.Remove()
			}
		}
	}
	if err != nil {
		msg += fmt.Sprintf("; cleaning up the job cgroup failed: %v", err)
	}
	res.Error = msg
	return res
}
