package noded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/cgroups"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/gantry-hpc/gantry/gpu"
	"github.com/gantry-hpc/gantry/noded/discover"
	"github.com/gantry-hpc/gantry/noded/image"
	"github.com/gantry-hpc/gantry/noded/runner"
)

// Version is reported to the server at registration.
var Version = "dev"

// Config is the node daemon's configuration.
type Config struct {
	// Server is the server's address (socket path or URL); Token its
	// bearer token for TCP.
	Server string
	Token  string
	// Name is the node's name in the cluster (default: the host name).
	Name string
	// Labels are the node's configured labels (rack=r12, ib=hdr), sent to
	// the server at registration with the discovered topology.
	Labels map[string]string
	// StateDir holds the job directories (jobs/ID) and the image cache
	// (images/); default /var/lib/gantry/node-NAME for root.
	StateDir string
	// Discover selects and limits the resources offered to jobs.
	Discover discover.Options
	// PidsLimit caps the tasks of each job (default 4096).
	PidsLimit int64
	// KillGrace is the time between SIGTERM and SIGKILL (default 10s).
	KillGrace time.Duration
	// HeartbeatInterval is the period of status reports (default 5s);
	// changes are also reported at once.
	HeartbeatInterval time.Duration
	// GPUDevDir is where the NVIDIA device nodes are (default /dev).
	GPUDevDir string
	// Launcher starts supervisors (default: this executable,
	// "job-supervisor").
	Launcher runner.Launcher
	Logger   *slog.Logger
	// JoinToken and CAFile are for an https server (see join.go): the
	// daemon presents its client certificate (STATE/node.pem), and
	// obtains one with the join token at first contact. CAFile is the
	// cluster CA (default: the copy in STATE/ca.pem from the join).
	JoinToken string
	CAFile    string
	// MetricsListen is an optional plain-HTTP address serving /metrics.
	MetricsListen string
	// Address is where this node's jobs are reached by their peers in a
	// gang (MASTER_ADDR, host files); empty means the host name.
	Address string
	// HealthCheck is a program run every HealthInterval (default 60s,
	// at most a minute each): a non-zero exit makes the node unhealthy,
	// with the first line of its output as the reason (see health.go).
	HealthCheck    string
	HealthInterval time.Duration
}

// Daemon is a running node daemon.
type Daemon struct {
	cfg    Config
	log    *slog.Logger
	client *client.Client
	topo   *discover.Topology
	cg     *cgroups.Host

	mu   sync.Mutex
	jobs map[int64]*localJob // running, or ended and not yet acknowledged
	// suspend are the jobs the server wants frozen, and signals the
	// signals it wants sent (its last answer).
	suspend map[int64]bool
	signals []api.SignalRequest
	// report asks the report loop to send a status now.
	report  chan struct{}
	metrics *nodeMetrics
	// unhealthy is why the node is not fit to run jobs, "" when it is.
	unhealthy string
}

// localJob is a job this node runs or ran.
type localJob struct {
	id int64
	// attempt is the try of the job this run is (from 1).
	attempt int
	handle  *runner.Handle
	started time.Time
	// running is when the job's container started (the supervisor says
	// so); zero until then. Only a running job is reported RUNNING.
	running time.Time
	killed  bool           // Kill was sent
	result  *api.JobResult // set once it ended
	// waiting marks a gang's part that is prepared (ready) or being
	// prepared, not started: it starts when the server releases the
	// gang. port is the rendezvous port a rank-0 part chose.
	waiting, ready bool
	port           int
	// signalled is the last signal request (api.SignalRequest.Seq)
	// handed to the supervisor.
	signalled int64
}

// New checks cfg, discovers the node and prepares a daemon.
func New(ctx context.Context, cfg Config) (*Daemon, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PidsLimit == 0 {
		cfg.PidsLimit = 4096
	}
	if cfg.KillGrace == 0 {
		cfg.KillGrace = 10 * time.Second
	}
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = time.Minute
	}
	if cfg.Launcher.Exe == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("node: find own executable: %w", err)
		}
		cfg.Launcher = runner.Launcher{Exe: exe, Args: []string{"job-supervisor"}}
	}
	topo, err := discover.Discover(ctx, cfg.Discover)
	if err != nil {
		return nil, fmt.Errorf("node: discover: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = topo.Hostname
	}
	if cfg.Name == "" {
		return nil, errors.New("node: no name: give --name")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("node: no state directory")
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "jobs"), 0o700); err != nil {
		return nil, fmt.Errorf("node: state dir: %w", err)
	}
	c, err := nodeClient(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Jobs are confined in cgroups below the daemon's own; on cgroup v2
	// the daemon first moves itself into a leaf so jobs may be siblings.
	cg, err := cgroups.Detect()
	if err != nil {
		return nil, fmt.Errorf("node: cgroups: %w", err)
	}
	if err := cg.Prepare(); err != nil {
		return nil, fmt.Errorf("node: cgroups: %w", err)
	}
	// A daemon whose cgroup was delegated only some controllers (a
	// container's, a unit without Delegate=yes) still runs jobs, but does
	// not enforce their limits in the others: say so once, loudly.
	if missing, err := cg.Missing(); err != nil {
		return nil, fmt.Errorf("node: cgroups: %w", err)
	} else if len(missing) > 0 {
		topo.CgroupMissing = missing // shown by gantry nodes -l
		cfg.Logger.Warn("cgroup controllers missing for jobs: their limits there are not enforced; delegate them to the daemon's cgroup (systemd: Delegate=yes)",
			"node", cfg.Name, "missing", missing, "cgroup", cg.BasePaths())
	}
	return &Daemon{
		cfg:     cfg,
		log:     cfg.Logger.With("node", cfg.Name),
		client:  c,
		topo:    topo,
		cg:      cg,
		jobs:    make(map[int64]*localJob),
		report:  make(chan struct{}, 1),
		metrics: newNodeMetrics(cfg.Name),
	}, nil
}

// Topology returns what the daemon discovered.
func (d *Daemon) Topology() *discover.Topology { return d.topo }

// Run registers and serves until ctx ends. Jobs keep running after it
// returns; a later Run re-adopts them.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.adoptAll(ctx); err != nil {
		return err
	}
	if err := d.register(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	if d.cfg.MetricsListen != "" {
		l, err := net.Listen("tcp", d.cfg.MetricsListen)
		if err != nil {
			return fmt.Errorf("node %s: metrics listen: %w", d.cfg.Name, err)
		}
		wg.Go(func() { d.serveMetrics(ctx, l) })
	}
	wg.Go(func() { d.pollLoop(ctx) })
	wg.Go(func() { d.healthLoop(ctx) })
	wg.Go(func() { d.reportLoop(ctx) })
	wg.Wait()
	return nil
}

// register announces the node, retrying until the server answers or ctx
// ends.
func (d *Daemon) register(ctx context.Context) error {
	topo, err := json.Marshal(d.topo)
	if err != nil {
		return fmt.Errorf("node %s: encode topology: %w", d.cfg.Name, err)
	}
	req := api.RegisterRequest{
		Name: d.cfg.Name, Hostname: d.topo.Hostname, CPUs: d.topo.Allocatable.CPUs,
		MemoryBytes: int64(d.topo.Allocatable.MemoryBytes), Version: Version,
		Labels: d.cfg.Labels, Topology: topo, Address: d.cfg.Address,
	}
	backoff := 200 * time.Millisecond
	for {
		err := d.client.Register(ctx, req)
		if err == nil {
			d.log.Info("registered", "server", d.client.Addr, "cpus", cpuset.Format(req.CPUs), "memory", api.FormatMemory(req.MemoryBytes))
			return nil
		}
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status/100 == 4 {
			return fmt.Errorf("node %s: registration refused: %w", d.cfg.Name, err)
		}
		d.log.Warn("cannot register yet; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// runName names one try of a job on this node: "42" for the first,
// "42.3" for the third. It names the job's directory, and, after the node's
// name (which keeps several node daemons on one machine apart), its
// container and cgroup.
func runName(id int64, attempt int) string {
	if attempt <= 1 {
		return strconv.FormatInt(id, 10)
	}
	return fmt.Sprintf("%d.%d", id, attempt)
}

// parseRunName inverts runName.
func parseRunName(name string) (id int64, attempt int, ok bool) {
	idText, attText, tried := strings.Cut(name, ".")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return 0, 0, false
	}
	attempt = 1
	if tried {
		if attempt, err = strconv.Atoi(attText); err != nil || attempt < 2 {
			return 0, 0, false
		}
	}
	return id, attempt, true
}

// containerID names a try's container and cgroup on this host:
// "NODE-STATE-RUN", where STATE is a short hash of the daemon's state
// directory. Two daemons that share a name (two clusters on one host, or
// one after another in tests) thus never share a cgroup: a supervisor
// left from one can never kill or remove a job of the other.
func (d *Daemon) containerID(id int64, attempt int) string {
	return d.cgroupPrefix() + runName(id, attempt)
}

func (d *Daemon) cgroupPrefix() string {
	sum := sha256.Sum256([]byte(filepath.Clean(d.cfg.StateDir)))
	return d.cfg.Name + "-" + hex.EncodeToString(sum[:3]) + "-"
}

// ownsCgroup reports whether a job cgroup id is one of this daemon's.
func (d *Daemon) ownsCgroup(id string) bool {
	rest, ok := strings.CutPrefix(id, d.cgroupPrefix())
	if !ok {
		return false
	}
	_, _, ok = parseRunName(rest)
	return ok
}

func (d *Daemon) jobDir(id int64, attempt int) string {
	return filepath.Join(d.cfg.StateDir, "jobs", runName(id, attempt))
}

// ackedMarker, in a job directory, means the server has the job's result.
const ackedMarker = "acked"

// adoptAll re-attaches to the jobs of an earlier run of the daemon, then
// kills and removes the job cgroups no supervisor owns any more (left by a
// crash).
func (d *Daemon) adoptAll(ctx context.Context) error {
	if err := d.adoptJobDirs(ctx); err != nil {
		return err
	}
	live := make(map[string]bool)
	d.mu.Lock()
	for id, j := range d.jobs {
		if j.handle != nil && j.result == nil {
			live[d.containerID(id, j.attempt)] = true
		}
	}
	d.mu.Unlock()
	removed, err := d.cg.RemoveStale(d.ownsCgroup, live)
	if len(removed) > 0 {
		d.log.Warn("removed stale job cgroups", "ids", removed)
	}
	if err != nil {
		d.log.Error("remove stale job cgroups", "err", err)
	}
	return nil
}

func (d *Daemon) adoptJobDirs(ctx context.Context) error {
	entries, err := os.ReadDir(filepath.Join(d.cfg.StateDir, "jobs"))
	if err != nil {
		return fmt.Errorf("node: read job dirs: %w", err)
	}
	// Later tries first: an earlier try of the same job that is still
	// unreported is stale (the server moved on) and is killed.
	type run struct {
		id      int64
		attempt int
	}
	var runs []run
	for _, e := range entries {
		if id, attempt, ok := parseRunName(e.Name()); ok && e.IsDir() {
			runs = append(runs, run{id, attempt})
		}
	}
	slices.SortFunc(runs, func(a, b run) int {
		if a.id != b.id {
			return int(a.id - b.id)
		}
		return b.attempt - a.attempt
	})
	for _, r := range runs {
		id, dir := r.id, d.jobDir(r.id, r.attempt)
		if _, err := os.Stat(filepath.Join(dir, ackedMarker)); err == nil {
			continue
		}
		h, err := runner.Adopt(dir)
		if err != nil {
			d.log.Error("cannot adopt job; reporting it failed", "job_id", id, "err", err)
			d.finish(&localJob{id: id, attempt: r.attempt}, api.JobResult{JobID: id, ExitCode: 1, Error: "node daemon could not re-adopt the job: " + err.Error(), EndedAt: time.Now()})
			continue
		}
		d.mu.Lock()
		_, newer := d.jobs[id]
		d.mu.Unlock()
		if newer {
			d.log.Warn("killing a stale try of a job", "job_id", id, "attempt", r.attempt)
			h.Kill()
			os.WriteFile(filepath.Join(dir, ackedMarker), nil, 0o600)
			continue
		}
		j := &localJob{id: id, attempt: r.attempt, handle: h, started: startedAt(dir), signalled: h.SignalSeq()}
		d.mu.Lock()
		d.jobs[id] = j
		d.mu.Unlock()
		d.log.Info("re-adopted job", "job_id", id, "attempt", r.attempt)
		go d.wait(ctx, j)
		go d.watchStart(ctx, j)
		if _, err := os.Stat(filepath.Join(dir, runner.TTYSocket)); err == nil {
			go d.relayTTY(ctx, j)
		}
	}
	return nil
}

// startedAt is when the job's directory was made: close enough to its
// start for an adopted job.
func startedAt(dir string) time.Time {
	if fi, err := os.Stat(filepath.Join(dir, "spec.json")); err == nil {
		return fi.ModTime()
	}
	return time.Now()
}

// pollLoop long-polls the node's assignments and reconciles each answer.
func (d *Daemon) pollLoop(ctx context.Context) {
	var index uint64
	for ctx.Err() == nil {
		a, err := d.client.Assignments(ctx, d.cfg.Name, index, 30*time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			d.log.Warn("poll assignments", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
			// The server may have restarted without us: make sure it
			// knows this node.
			d.register(ctx)
			continue
		}
		index = a.Index
		d.reconcile(ctx, a)
	}
}

// reconcile makes the node's jobs match the server's wishes: it starts
// assigned jobs it has never seen, and kills jobs the server wants killed
// or no longer assigns.
func (d *Daemon) reconcile(ctx context.Context, a api.Assignments) {
	// wanted maps each assigned job to the try the server wants. A local
	// run of another try is stale: it is killed below, and the wanted try
	// starts once the stale one's end has been reported.
	wanted := make(map[int64]int, len(a.Jobs))
	for _, as := range a.Jobs {
		attempt := max(as.Attempt, 1)
		wanted[as.JobID] = attempt
		d.mu.Lock()
		j, known := d.jobs[as.JobID]
		released := known && j.waiting && j.ready && j.result == nil && j.attempt == attempt && as.Gang != nil && as.Gang.Release
		d.mu.Unlock()
		switch {
		case !known && as.Gang != nil && !as.Gang.Release:
			d.prepare(ctx, as)
		case !known, released:
			d.start(ctx, as)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.signals = a.Signals
	d.suspend = make(map[int64]bool, len(a.Suspend))
	for _, id := range a.Suspend {
		d.suspend[id] = true
	}
	for id, j := range d.jobs {
		if j.waiting && j.result == nil && j.handle == nil {
			// A part not started: dropped when the server gave up
			// on its gang (or moved it to another try).
			if wanted[id] != j.attempt || slices.Contains(a.Kill, id) {
				d.log.Info("dropping a gang part that never started", "job_id", id, "attempt", j.attempt)
				delete(d.jobs, id)
			}
			continue
		}
		if j.result != nil || j.killed || j.handle == nil {
			continue
		}
		if wanted[id] == j.attempt && !slices.Contains(a.Kill, id) {
			d.applySuspend(j)
			d.applySignal(j)
			continue
		}
		j.killed = true
		d.log.Info("killing job", "job_id", id, "attempt", j.attempt, "requested", wanted[id] == j.attempt)
		if err := j.handle.Kill(); err != nil {
			d.log.Error("kill job", "job_id", id, "err", err)
		}
	}
}

// applySignal hands j's supervisor the server's latest signal request for
// it (d.signals), once, when the job runs (a supervisor that has not
// started the job may not handle the request yet). Called with d.mu held,
// from every reconcile and status report, so a request made while the job
// was starting is delivered once it runs.
func (d *Daemon) applySignal(j *localJob) {
	reqs := d.signals
	k := slices.IndexFunc(reqs, func(r api.SignalRequest) bool { return r.JobID == j.id })
	if k < 0 || reqs[k].Seq <= j.signalled || j.running.IsZero() {
		return
	}
	if err := j.handle.Signal(reqs[k].Seq, reqs[k].Signal); err != nil {
		d.log.Error("signal job", "job_id", j.id, "signal", reqs[k].Signal, "err", err)
		return
	}
	j.signalled = reqs[k].Seq
	d.log.Info("job signalled", "job_id", j.id, "signal", reqs[k].Signal)
}

// applySuspend asks j's supervisor to freeze or thaw it when its state
// differs from the server's wish (d.suspend). Called with d.mu held, from
// every reconcile and every status report, so a request the supervisor
// could not take yet (the job was still starting) is repeated.
func (d *Daemon) applySuspend(j *localJob) {
	if d.suspend == nil {
		return // no answer from the server yet: keep the state as it is
	}
	want := d.suspend[j.id]
	if j.handle.Suspended() == want {
		return
	}
	var err error
	if want {
		err = j.handle.Suspend()
	} else {
		err = j.handle.Resume()
	}
	switch {
	case errors.Is(err, runner.ErrNotRunning):
		return // not yet running (retried), or ended
	case err != nil:
		d.log.Error("suspend or resume job", "job_id", j.id, "suspend", want, "err", err)
		return
	}
	d.log.Info("job suspend state requested", "job_id", j.id, "suspend", want)
	// Report the new state as soon as the supervisor has applied it.
	go func(h *runner.Handle) {
		for range 100 {
			if h.Suspended() == want {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		d.poke()
	}(j.handle)
}

// start launches an assigned job unless its directory says this node has
// already taken it.
func (d *Daemon) start(ctx context.Context, as api.Assignment) {
	attempt := max(as.Attempt, 1)
	dir := d.jobDir(as.JobID, attempt)
	if _, err := os.Stat(dir); err == nil {
		return // taken before: running under another handle, or done and acked
	}
	spec := runner.Spec{
		JobID:  d.containerID(as.JobID, attempt),
		Argv:   as.Command,
		Env:    as.Env,
		Cwd:    as.Cwd,
		UID:    as.UID,
		GID:    as.GID,
		Groups: as.Groups,
		Stdout: as.Stdout,
		Stderr: as.Stderr,

		AppendStdout: as.AppendStdout,
		AppendStderr: as.AppendStderr,
		TTY:          as.TTY,
		CPUs:         as.CPUs,
		Mems:         numaNodesOf(d.topo, as.CPUs),
		Image:        as.Image,
		MemoryBytes:  as.MemoryBytes,
		PidsLimit:    d.cfg.PidsLimit,
		Walltime:     time.Duration(as.WalltimeSeconds) * time.Second,
		KillGrace:    d.cfg.KillGrace,
	}
	if spec.Image != "" {
		spec.ImageCache = filepath.Join(d.cfg.StateDir, "images")
	}
	if as.Hostfile != "" {
		spec.Files = []runner.File{{Path: api.HostfilePath, Content: as.Hostfile}, {Path: api.MachinefilePath, Content: as.Machinefile}}
	}
	if g := as.Gang; g != nil && g.PerGPU {
		spec.Tasks, spec.FirstTask = g.Tasks, g.FirstTask
	}
	j := &localJob{id: as.JobID, attempt: attempt, started: time.Now()}
	gpus, err := gpusOf(d.topo, as.GPUs)
	if g := as.Gang; err == nil && g != nil && g.PickPort {
		var port int
		if port, err = freePort(); err == nil {
			spec.Env = append(slices.Clip(spec.Env), api.MasterPortEnv(port)...)
		}
	}
	if err != nil {
		d.log.Error("cannot start job", "job_id", as.JobID, "err", err)
		d.finish(j, api.JobResult{JobID: as.JobID, ExitCode: 1, Error: err.Error(), StartedAt: j.started, EndedAt: time.Now()})
		return
	}
	spec.GPUs = gpus
	if len(gpus) > 0 {
		spec.DevDir = d.cfg.GPUDevDir
	}
	launch := time.Now()
	h, err := d.cfg.Launcher.Start(dir, spec)
	d.metrics.launched(time.Since(launch), err)
	if err != nil {
		d.log.Error("cannot start job", "job_id", as.JobID, "err", err)
		d.finish(j, api.JobResult{JobID: as.JobID, ExitCode: 1, Error: err.Error(), EndedAt: time.Now()})
		return
	}
	j.handle = h
	d.mu.Lock()
	d.jobs[as.JobID] = j
	d.mu.Unlock()
	d.log.Info("job started", "job_id", as.JobID, "cpus", cpuset.Format(as.CPUs), "gpus", as.GPUs, "uid", as.UID)
	d.poke()
	go d.wait(ctx, j)
	go d.watchStart(ctx, j)
	if as.TTY != "" {
		go d.relayTTY(ctx, j)
	}
}

// prepare readies this node's part of a gang without starting it: it
// checks the part's GPUs, pulls and unpacks its image, and, on the first
// node, picks the rendezvous port (MASTER_PORT). The next status report
// says the part is ready; the part starts when the server releases the
// gang (reconcile). A part that cannot be prepared fails, and with it the
// gang.
func (d *Daemon) prepare(ctx context.Context, as api.Assignment) {
	j := &localJob{id: as.JobID, attempt: max(as.Attempt, 1), started: time.Now(), waiting: true}
	d.mu.Lock()
	d.jobs[as.JobID] = j
	d.mu.Unlock()
	d.log.Info("preparing gang part", "job_id", as.JobID, "rank", as.Gang.Rank)
	go func() {
		port, err := d.preparePart(ctx, as)
		if err != nil {
			if ctx.Err() == nil {
				d.log.Error("cannot prepare gang part", "job_id", as.JobID, "err", err)
				d.finish(j, api.JobResult{JobID: as.JobID, ExitCode: 1, Error: err.Error(), EndedAt: time.Now()})
			}
			return
		}
		d.mu.Lock()
		j.ready, j.port = true, port
		d.mu.Unlock()
		d.poke()
	}()
}

// preparePart does prepare's work; it returns the rendezvous port (rank
// 0) or 0.
func (d *Daemon) preparePart(ctx context.Context, as api.Assignment) (int, error) {
	if _, err := gpusOf(d.topo, as.GPUs); err != nil {
		return 0, err
	}
	if as.Image != "" {
		pull, cancel := context.WithTimeout(ctx, 30*time.Minute)
		defer cancel()
		if _, err := (&image.Cache{Dir: filepath.Join(d.cfg.StateDir, "images")}).Get(pull, as.Image); err != nil {
			return 0, err
		}
	}
	if as.Gang.Rank != 0 {
		return 0, nil
	}
	return freePort()
}

// freePort asks the kernel for a TCP port no one listens on now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("choose a rendezvous port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// relayTTY connects an interactive job's terminal (its supervisor's
// socket) to its client through the server, again after each detach,
// until the job ends or ctx does.
func (d *Daemon) relayTTY(ctx context.Context, j *localJob) {
	sock := filepath.Join(j.handle.Dir(), runner.TTYSocket)
	over := func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		return j.result != nil || ctx.Err() != nil
	}
	for !over() {
		if _, err := os.Stat(sock); err != nil {
			time.Sleep(20 * time.Millisecond) // the terminal is not up yet
			continue
		}
		up, err := d.client.NodeTTY(ctx, d.cfg.Name, j.id)
		if err != nil {
			var ae *client.APIError
			switch {
			case errors.As(err, &ae) && ae.Status == http.StatusRequestTimeout:
			case errors.As(err, &ae) && ae.Status == http.StatusGone:
				return
			default:
				if ctx.Err() == nil {
					d.log.Warn("interactive job: reach the server", "job_id", j.id, "err", err)
				}
				time.Sleep(time.Second)
			}
			continue
		}
		sup, err := dialTTY(ctx, sock)
		if err != nil {
			up.Close()
			d.log.Error("interactive job: its terminal", "job_id", j.id, "err", err)
			time.Sleep(time.Second)
			continue
		}
		d.log.Info("interactive job attached", "job_id", j.id)
		// The job's output decides the end: input that ends (the client
		// went away) only half-closes the terminal's socket, and what the
		// job wrote is still relayed in full.
		go func() {
			io.Copy(sup, up)
			sup.(*net.UnixConn).CloseWrite()
		}()
		io.Copy(up, sup)
		up.Close()
		sup.Close()
	}
}

// dialTTY connects to a job's terminal socket. The supervisor makes the
// socket's file appear only once it listens (runner's startTTY); a
// refused connection is still tried again for a while before the client,
// already waiting, is let go, for a supervisor of an older version, which
// bound the file before it listened: a CI run once lost bsub -I's input
// that way, the client's stream closed before the job had read a line.
func dialTTY(ctx context.Context, sock string) (net.Conn, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.Dial("unix", sock)
		refused := errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EAGAIN)
		if err == nil || !refused || time.Now().After(deadline) {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// watchStart waits for the supervisor to report the job's container
// started, then records it and reports the job RUNNING at once.
func (d *Daemon) watchStart(ctx context.Context, j *localJob) {
	for delay := 2 * time.Millisecond; ; delay = min(2*delay, 100*time.Millisecond) {
		if t, ok := j.handle.Started(); ok {
			d.mu.Lock()
			j.running = t
			d.mu.Unlock()
			d.poke()
			return
		}
		d.mu.Lock()
		over := j.result != nil
		d.mu.Unlock()
		if over {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
	}
}

// wait waits for a job's supervisor and records the result. If ctx ends
// first, the job keeps running and a later daemon adopts it.
func (d *Daemon) wait(ctx context.Context, j *localJob) {
	res, err := j.handle.Wait(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.log.Error("wait for job", "job_id", j.id, "err", err)
		}
		return
	}
	d.finish(j, api.JobResult{
		JobID: j.id, ExitCode: res.ExitCode, Signal: res.Signal, OOMKilled: res.OOMKilled,
		TimedOut: res.TimedOut, Killed: res.Killed, PeakMemoryBytes: res.PeakMemoryBytes,
		CPUTimeSeconds: res.CPUTime.Seconds(), StartedAt: res.StartedAt, EndedAt: res.EndedAt, Error: res.Error,
	})
}

// finish records j's result for the next report.
func (d *Daemon) finish(j *localJob, r api.JobResult) {
	r.Attempt = j.attempt
	d.metrics.ended(r)
	d.mu.Lock()
	j.result = &r
	d.jobs[j.id] = j
	d.mu.Unlock()
	d.log.Info("job ended", "job_id", j.id, "exit_code", r.ExitCode, "oom", r.OOMKilled, "timed_out", r.TimedOut, "error", r.Error)
	d.poke()
}

// poke asks for a status report now.
func (d *Daemon) poke() {
	select {
	case d.report <- struct{}{}:
	default:
	}
}

// reportLoop sends status reports: every HeartbeatInterval, and at once
// when a job starts or ends.
func (d *Daemon) reportLoop(ctx context.Context) {
	t := time.NewTicker(d.cfg.HeartbeatInterval)
	defer t.Stop()
	lastPrune := time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-d.report:
		}
		if err := d.sendStatus(ctx); err != nil && ctx.Err() == nil {
			d.log.Warn("status report", "err", err)
		}
		if time.Since(lastPrune) > 10*time.Minute {
			d.pruneJobDirs(24 * time.Hour)
			lastPrune = time.Now()
		}
	}
}

// sendStatus reports running and ended jobs, and forgets the ended ones the
// server acknowledged.
func (d *Daemon) sendStatus(ctx context.Context) error {
	var st api.NodeStatus
	d.mu.Lock()
	st.Unhealthy = d.unhealthy
	for _, j := range d.jobs {
		if j.result != nil {
			st.Finished = append(st.Finished, *j.result)
			continue
		}
		if j.waiting && j.handle == nil {
			if j.ready {
				st.Ready = append(st.Ready, api.PartReady{JobID: j.id, Attempt: j.attempt, Port: j.port})
			}
			continue
		}
		if j.running.IsZero() {
			continue // launched, its container not started yet: still STARTING
		}
		st.Running = append(st.Running, api.RunningJob{JobID: j.id, Attempt: j.attempt, StartedAt: j.running})
		if j.handle != nil {
			if !j.killed {
				d.applySuspend(j)
				d.applySignal(j)
			}
			if j.handle.Suspended() {
				st.Suspended = append(st.Suspended, j.id)
			}
		}
	}
	d.mu.Unlock()
	slices.Sort(st.Suspended)
	resp, err := d.client.Status(ctx, d.cfg.Name, st)
	if err != nil {
		if client.NotFound(err) {
			d.register(ctx)
		}
		return err
	}
	for _, id := range resp.Acked {
		d.mu.Lock()
		j, ok := d.jobs[id]
		delete(d.jobs, id)
		d.mu.Unlock()
		if !ok {
			continue
		}
		if err := os.WriteFile(filepath.Join(d.jobDir(id, j.attempt), ackedMarker), nil, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
			d.log.Error("mark job acknowledged", "job_id", id, "err", err)
		}
	}
	return nil
}

// pruneJobDirs removes the directories of acknowledged jobs older than
// age. Until then they keep a job from being started twice and keep the
// supervisor's log for inspection.
func (d *Daemon) pruneJobDirs(age time.Duration) {
	entries, err := os.ReadDir(filepath.Join(d.cfg.StateDir, "jobs"))
	if err != nil {
		return
	}
	for _, e := range entries {
		marker := filepath.Join(d.cfg.StateDir, "jobs", e.Name(), ackedMarker)
		if fi, err := os.Stat(marker); err == nil && time.Since(fi.ModTime()) > age {
			os.RemoveAll(filepath.Dir(marker))
		}
	}
}

// numaNodesOf returns the NUMA nodes holding cpus, for the job's
// cpuset.mems: memory comes from the nodes the job computes on. Nil (all
// of the daemon's nodes) when cpus is empty or the topology has no
// mapping.
func numaNodesOf(topo *discover.Topology, cpus []int) []int {
	var nodes []int
	for _, n := range topo.NUMANodes {
		for _, c := range n.CPUs {
			if slices.Contains(cpus, c) {
				nodes = append(nodes, n.ID)
				break
			}
		}
	}
	return nodes
}

// gpusOf resolves the node-local GPU indices of an assignment against the
// GPUs this node discovered. An index the node does not have, one given
// twice, or a GPU whose device minor is unknown fails the job.
func gpusOf(topo *discover.Topology, idx []int) ([]runner.GPU, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	var have []string
	for _, g := range topo.GPUs {
		have = append(have, strconv.Itoa(g.Index))
	}
	out := make([]runner.GPU, 0, len(idx))
	for _, i := range idx {
		k := slices.IndexFunc(topo.GPUs, func(g gpu.Device) bool { return g.Index == i })
		switch {
		case k < 0 && len(have) == 0:
			return nil, fmt.Errorf("gpu %d assigned, but this node has no gpus", i)
		case k < 0:
			return nil, fmt.Errorf("gpu %d assigned, but this node has gpus %s only", i, strings.Join(have, ","))
		case slices.ContainsFunc(out, func(g runner.GPU) bool { return g.Index == i }):
			return nil, fmt.Errorf("gpu %d assigned twice", i)
		case topo.GPUs[k].Minor < 0:
			return nil, fmt.Errorf("gpu %d (%s): device minor number unknown (driver too old?); cannot give it to a job", i, topo.GPUs[k].UUID)
		}
		g := topo.GPUs[k]
		out = append(out, runner.GPU{Index: g.Index, UUID: g.UUID, Minor: g.Minor})
	}
	// Node index order: CUDA's device i is the job's i-th GPU.
	slices.SortFunc(out, func(a, b runner.GPU) int { return a.Index - b.Index })
	return out, nil
}
