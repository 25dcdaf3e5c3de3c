//go:build linux && cgo

package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/opencontainers/runc/libcontainer"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/cgroups"
	"github.com/gantry-hpc/gantry/noded/image"
	"github.com/gantry-hpc/gantry/noded/runner/shim"
)

// defaultKillGrace is the time between SIGTERM and SIGKILL when
// Spec.KillGrace is 0.
const defaultKillGrace = 10 * time.Second

// imagePullTimeout bounds pulling and unpacking a job's image.
const imagePullTimeout = 30 * time.Minute

// SupervisorMain is the body of the hidden "job-supervisor DIR"
// subcommand; args are the arguments after the subcommand name. It runs
// the job described by DIR/spec.json to its end, writes DIR/result.json,
// and returns the process exit code: 0 once result.json is written (also
// for a job that failed or could not start: see Result.Error), 1 if even
// that failed, 2 on bad usage. It logs to DIR/supervisor.log.
//
// SIGTERM to the supervisor is a kill request: the job gets SIGTERM, then
// SIGKILL after its KillGrace, and ends Killed. The walltime is enforced
// the same way and ends TimedOut.
//
// SIGUSR1 suspends the job (cgroup freezer) and SIGUSR2 resumes it; while
// the job is frozen DIR/suspended exists, and the walltime clock stops (as
// LSF's and Slurm's run limits do: a suspended job is not running). A
// request that arrives before the job runs is applied as soon as it does.
// A kill request thaws a suspended job first, so that it can handle its
// SIGTERM.
func SupervisorMain(args []string) int {
	if len(args) != 1 || !filepath.IsAbs(args[0]) {
		fmt.Fprintln(os.Stderr, "usage: job-supervisor /abs/path/to/job/dir")
		return 2
	}
	dir := args[0]
	// Catch a kill request from the very start; it is acted on once the
	// job runs (or makes the setup stop).
	term := make(chan os.Signal, 1)
	signal.Notify(term, unix.SIGTERM)
	susp := make(chan os.Signal, 4)
	signal.Notify(susp, unix.SIGUSR1, unix.SIGUSR2)
	sigreq := make(chan os.Signal, 1)
	signal.Notify(sigreq, unix.SIGHUP)
	signal.Ignore(unix.SIGINT, unix.SIGPIPE)

	var logw io.Writer = os.Stderr // the Launcher points it at supervisor.log too
	if f, err := os.OpenFile(filepath.Join(dir, LogFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE|unix.O_CLOEXEC, 0o600); err == nil {
		defer f.Close()
		logw = f
	}
	log := slog.New(slog.NewTextHandler(logw, nil)).With("dir", dir)
	// libcontainer and opencontainers/cgroups log through logrus.
	logrus.SetOutput(logw)
	logrus.SetFormatter(&logrus.TextFormatter{DisableColors: true, FullTimestamp: true})
	logrus.SetLevel(logrus.InfoLevel)

	s := &supervisor{dir: dir, log: log, term: term, susp: susp, sigreq: sigreq}
	res := s.run()
	if res.Error != "" {
		log.Error("job failed", "error", res.Error)
	}
	log.Info("job ended", "exit_code", res.ExitCode, "signal", res.Signal, "oom_killed", res.OOMKilled,
		"timed_out", res.TimedOut, "killed", res.Killed, "peak_memory_bytes", res.PeakMemoryBytes, "cpu_time", res.CPUTime)
	if err := writeResult(dir, res); err != nil {
		log.Error("write result", "error", err)
		return 1
	}
	return 0
}

type supervisor struct {
	dir  string
	log  *slog.Logger
	term chan os.Signal
	susp chan os.Signal // SIGUSR1: suspend, SIGUSR2: resume
	// sigreq (SIGHUP) says SignalFile has a request; sigSeq is the last
	// one delivered.
	sigreq chan os.Signal
	sigSeq int64
}

// deliverSignal sends the signal SignalFile asks for, unless delivered
// before, to every process of the job but its init (the shim, which would
// pass it on a second time).
func (s *supervisor) deliverSignal(job *cgroups.Job, initPid int) {
	seq, name, err := readSignalRequest(s.dir)
	if err != nil || seq <= s.sigSeq {
		if err != nil {
			s.log.Error("signal request", "error", err)
		}
		return
	}
	s.sigSeq = seq
	sig := unix.SignalNum(name)
	pids, err := job.Pids()
	if err != nil {
		s.log.Error("signal job", "signal", name, "error", err)
		return
	}
	n := 0
	for _, pid := range pids {
		if pid != initPid && unix.Kill(pid, sig) == nil {
			n++
		}
	}
	s.log.Info("signal delivered", "signal", name, "seq", seq, "processes", n)
}

// failure is a setup error with the exit code the job is reported with.
type failure struct {
	code int
	err  error
}

func (s *supervisor) run() Result {
	start := time.Now()
	res, f := s.runJob()
	if f != nil {
		res.ExitCode, res.Error = f.code, f.err.Error()
		if res.StartedAt.IsZero() {
			res.StartedAt = start
		}
		if res.EndedAt.IsZero() {
			res.EndedAt = time.Now()
		}
	}
	return res
}

func (s *supervisor) runJob() (res Result, f *failure) {
	fail := func(code int, err error) (Result, *failure) { return res, &failure{code, err} }
	spec, err := readSpec(s.dir)
	if err != nil {
		return fail(1, err)
	}
	if err := spec.Validate(); err != nil {
		return fail(1, err)
	}
	s.log = s.log.With("job_id", spec.JobID)
	s.log.Info("supervisor starting", "pid", os.Getpid(), "argv", spec.Argv, "uid", spec.UID, "cpus", spec.CPUs, "memory_bytes", spec.MemoryBytes)

	// The job's files, opened as the user.
	stdout, err := openOutput(spec.Stdout, spec.AppendStdout, spec.UID, spec.GID, spec.Groups)
	if err != nil {
		return fail(1, err)
	}
	defer stdout.Close()
	stderr := stdout
	if spec.Stderr != spec.Stdout {
		if stderr, err = openOutput(spec.Stderr, spec.AppendStderr, spec.UID, spec.GID, spec.Groups); err != nil {
			return fail(1, err)
		}
		defer stderr.Close()
	}
	outW, err := jobWriter(stdout, spec.UID)
	if err != nil {
		return fail(1, err)
	}
	errW := outW
	if stderr != stdout {
		if errW, err = jobWriter(stderr, spec.UID); err != nil {
			return fail(1, err)
		}
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fail(1, fmt.Errorf("open %s: %w", os.DevNull, err))
	}
	defer devnull.Close()

	if st, err := os.Stat(spec.Cwd); err != nil || !st.IsDir() {
		return fail(1, fmt.Errorf("cwd %s: not a directory (%v)", spec.Cwd, err))
	}
	// Image mode: the image, pulled and unpacked once per digest.
	var img *image.Image
	env := spec.Env
	if spec.Image != "" {
		ctx, cancel := context.WithTimeout(context.Background(), imagePullTimeout)
		img, err = (&image.Cache{Dir: spec.ImageCache}).Get(ctx, spec.Image)
		cancel()
		if err != nil {
			return fail(1, err)
		}
		env = imageEnv(spec.Env, img.Env)
		s.log.Info("image ready", "image", spec.Image, "digest", img.Digest, "rootfs", img.Rootfs)
	}
	var exe string
	if img != nil {
		exe, err = lookPathInImage(spec.Argv[0], env, img.Rootfs)
	} else {
		exe, err = lookPath(spec.Argv[0], env, spec.Cwd, hiddenInJob(spec.Cwd), spec.UID, spec.GID, spec.Groups)
	}
	if err != nil {
		if errors.Is(err, errNotFound) {
			return fail(127, err)
		}
		return fail(1, err)
	}

	// The job's GPUs: device nodes, device cgroup rules, mounts, variables.
	gpus, err := setupGPUs(spec, img != nil)
	if err != nil {
		return fail(1, err)
	}
	if len(spec.GPUs) > 0 {
		env = gpus.applyEnv(env)
		s.log.Info("gpus", "gpus", spec.GPUs, "via", gpus.via, "devices", len(gpus.nodes), "mounts", len(gpus.mounts))
		for _, w := range gpus.warn {
			s.log.Warn("gpus", "warning", w)
		}
	}

	// The job's cgroup, below the supervisor's (= the daemon's) own.
	host, err := cgroups.Detect()
	if err != nil {
		return fail(1, fmt.Errorf("detect cgroups: %w", err))
	}
	job, err := host.Create(spec.JobID, cgroups.Limits{CPUs: spec.CPUs, Mems: spec.Mems, MemoryBytes: spec.MemoryBytes, PidsLimit: spec.PidsLimit})
	if err != nil {
		return fail(1, err)
	}
	defer func() {
		if err := job.Kill(cgroupKillTimeout); err != nil {
			s.log.Error("kill job cgroup", "error", err)
		}
		if err := job.Remove(); err != nil {
			s.log.Error("remove job cgroup", "error", err)
		}
	}()

	cfg, shimPrefix, err := containerConfig(spec, filepath.Join(s.dir, rootfsDir), job, img, gpus)
	if err != nil {
		return fail(1, err)
	}
	files, err := writeJobFiles(s.dir, spec.Files)
	if err != nil {
		return fail(1, err)
	}
	cfg.Mounts = append(cfg.Mounts, files...)
	ctr, err := libcontainer.Create(filepath.Join(s.dir, stateDir), spec.JobID, cfg)
	if err != nil {
		return fail(1, fmt.Errorf("create container %s: %w", spec.JobID, err))
	}
	defer func() {
		if err := ctr.Destroy(); err != nil {
			s.log.Error("destroy container", "error", err)
		}
	}()
	if err := pinCgroupPaths(ctr, job.Paths()); err != nil {
		return fail(1, err)
	}

	// PID 1 is the shim, which runs the command and reports its exact
	// wait status through a pipe (fd 3 in the container).
	args := append(shimPrefix, ShimArg)
	if spec.Tasks > 0 {
		args = append(args, shim.TasksArg(spec.Tasks, spec.FirstTask))
	}
	args = append(append(args, exe), spec.Argv[1:]...)
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return fail(1, fmt.Errorf("status pipe: %w", err))
	}
	defer statusR.Close()
	groups := make([]int, len(spec.Groups))
	for i, g := range spec.Groups {
		groups[i] = int(g)
	}
	proc := &libcontainer.Process{
		Args:             args,
		Env:              env,
		UID:              int(spec.UID),
		GID:              int(spec.GID),
		AdditionalGroups: groups,
		Cwd:              spec.Cwd,
		Stdin:            devnull,
		Stdout:           outW,
		Stderr:           errW,
		ExtraFiles:       []*os.File{statusW},
		Init:             true,
	}
	// An interactive job's stdio is a terminal (tty.go).
	var consoleParent, consoleChild *os.File
	if spec.TTY != "" {
		if consoleParent, consoleChild, err = newConsoleSocket(); err != nil {
			return fail(1, err)
		}
		defer consoleParent.Close()
		proc.ConsoleSocket, proc.Stdin, proc.Stdout, proc.Stderr = consoleChild, nil, nil, nil
	}
	select {
	case <-s.term:
		res.Killed = true
		return fail(1, errors.New("killed before the job started"))
	default:
	}
	res.StartedAt = time.Now()
	err = ctr.Run(proc)
	statusW.Close()
	if consoleChild != nil {
		consoleChild.Close()
	}
	if err != nil {
		return fail(1, fmt.Errorf("start container %s with %q: %w", spec.JobID, args, err))
	}
	if spec.TTY != "" {
		tty, err := startTTY(s.log, s.dir, spec.TTY, consoleParent, outW)
		if err != nil {
			_ = ctr.Signal(unix.SIGKILL)
			return fail(1, err)
		}
		defer tty.stop()
	}
	shimStatus := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(statusR, 64))
		shimStatus <- string(b)
	}()
	s.log.Info("job started", "exe", exe, "cgroup", job.Paths())
	if err := writeAtomic(s.dir, StartedFile, []byte(res.StartedAt.Format(time.RFC3339Nano)+"\n"), false, false); err != nil {
		s.log.Error("record start", "error", err)
	}

	waitc := make(chan waitResult, 1)
	go func() {
		ps, err := proc.Wait()
		waitc <- waitResult{ps, err}
	}()
	grace := spec.KillGrace
	if grace == 0 {
		grace = defaultKillGrace
	}
	// The walltime clock runs only while the job is not suspended.
	var wall, kill <-chan time.Time
	var wallTimer *time.Timer
	wallLeft := spec.Walltime
	wallFrom := time.Now()
	if spec.Walltime > 0 {
		wallTimer = time.NewTimer(spec.Walltime)
		defer wallTimer.Stop()
		wall = wallTimer.C
	}
	frozen := false
	var frozenAt time.Time
	freeze := func() {
		if frozen {
			return
		}
		if err := job.Freeze(); err != nil {
			s.log.Error("suspend job", "error", err)
			return
		}
		frozen, frozenAt = true, time.Now()
		if wallTimer != nil {
			wallTimer.Stop()
			wallLeft -= frozenAt.Sub(wallFrom)
			wall = nil
		}
		if err := writeAtomic(s.dir, SuspendedFile, []byte(frozenAt.Format(time.RFC3339Nano)+"\n"), false, false); err != nil {
			s.log.Error("record suspension", "error", err)
		}
		s.log.Info("job suspended", "walltime_left", wallLeft)
	}
	thaw := func() {
		if !frozen {
			return
		}
		if err := job.Thaw(); err != nil {
			s.log.Error("resume job", "error", err)
			return
		}
		frozen = false
		res.Suspended += time.Since(frozenAt)
		if wallTimer != nil {
			wallFrom = time.Now()
			wallTimer.Reset(max(wallLeft, 0))
			wall = wallTimer.C
		}
		if err := os.Remove(filepath.Join(s.dir, SuspendedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Error("record resumption", "error", err)
		}
		s.log.Info("job resumed", "suspended_for", res.Suspended)
	}
	stopping := false
	stop := func(why string) {
		if stopping {
			return
		}
		stopping = true
		thaw() // a frozen job cannot handle its SIGTERM
		s.log.Info("stopping job", "reason", why, "grace", grace)
		if err := job.Signal(unix.SIGTERM); err != nil {
			s.log.Warn("sigterm job", "error", err)
		}
		t := time.NewTimer(grace)
		kill = t.C
	}
	// Requests that came before the job ran.
	for pending := true; pending; {
		select {
		case sig := <-s.susp:
			if sig == unix.SIGUSR1 {
				freeze()
			} else {
				thaw()
			}
		default:
			pending = false
		}
	}
	var wr waitResult
loop:
	for {
		select {
		case wr = <-waitc:
			break loop
		case sig := <-s.susp:
			if stopping {
				break
			}
			if sig == unix.SIGUSR1 {
				freeze()
			} else {
				thaw()
			}
		case <-s.sigreq:
			if !stopping {
				initPid, _ := proc.Pid()
				s.deliverSignal(job, initPid)
			}
		case <-s.term:
			if !stopping {
				res.Killed = true
			}
			stop("kill request")
		case <-wall:
			if !stopping {
				res.TimedOut = true
			}
			stop("walltime")
		case <-kill:
			s.log.Info("job outlived its grace period, sending SIGKILL")
			_ = ctr.Signal(unix.SIGKILL)
			_ = job.Signal(unix.SIGKILL)
			kill = nil
		}
	}
	if frozen {
		res.Suspended += time.Since(frozenAt)
	}
	_ = os.Remove(filepath.Join(s.dir, SuspendedFile))
	res.EndedAt = time.Now()
	if wr.ps == nil {
		return fail(1, fmt.Errorf("wait for job %s: %w", spec.JobID, wr.err))
	}
	ws := wr.ps.Sys().(syscall.WaitStatus)
	// The shim's report is the command's own status; without one (the
	// shim itself was killed, by SIGKILL after the grace or by the OOM
	// killer) PID 1's status is the job's.
	code, sig, fromShim := parseShimStatus(<-shimStatus)
	switch {
	case fromShim:
		res.ExitCode = code
		if sig != 0 {
			res.Signal = unix.SignalName(sig)
		}
	case ws.Signaled():
		res.ExitCode = 128 + int(ws.Signal())
		res.Signal = unix.SignalName(ws.Signal())
	default:
		res.ExitCode = ws.ExitStatus()
	}
	// Usage before the cgroup goes away; other processes of the job die
	// with its init (PID namespace), but wait for them to be gone.
	_ = job.Kill(cgroupKillTimeout)
	u, err := job.Usage()
	if err != nil {
		s.log.Warn("read job usage", "error", err)
	}
	res.PeakMemoryBytes, res.CPUTime, res.OOMKilled = u.PeakMemoryBytes, u.CPUTime, u.OOMKills > 0
	return res, nil
}

type waitResult struct {
	ps  *os.ProcessState
	err error
}

// pinCgroupPaths makes sure the container lands exactly in the job cgroup
// this package computed. libcontainer (v1.3) has no way to pass explicit
// paths to Create; its own rules give the same paths for every v1
// controller and on v2, but in hybrid mode it puts the cgroup2 part below
// the cgroup2 root rather than below our own cgroup2 path. If the planned
// paths differ, they are replaced through the map State returns (which in
// v1.3 is the manager's own map) and checked again, so that a libcontainer
// that stops sharing that map fails loudly here instead of placing the job
// elsewhere.
func pinCgroupPaths(ctr *libcontainer.Container, want map[string]string) error {
	st, err := ctr.State()
	if err != nil {
		return fmt.Errorf("container state: %w", err)
	}
	if samePaths(st.CgroupPaths, want) {
		return nil
	}
	planned := fmt.Sprint(st.CgroupPaths)
	for k := range st.CgroupPaths {
		delete(st.CgroupPaths, k)
	}
	for k, v := range want {
		st.CgroupPaths[k] = v
	}
	if st, err = ctr.State(); err != nil || !samePaths(st.CgroupPaths, want) {
		return fmt.Errorf("pin cgroup paths: libcontainer plans %s, want %v, and cannot be redirected", planned, want)
	}
	return nil
}

func samePaths(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
