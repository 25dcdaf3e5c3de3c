package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/store"
)

// Config is the server's configuration; zero durations take the defaults.
type Config struct {
	// StateDir holds the database, the cluster CA and certificates (tls/,
	// made by Init) and the standing node join token (join-token).
	StateDir string
	// Socket is the Unix socket path (mode 0666; callers are identified
	// by SO_PEERCRED).
	Socket string
	// Listen is an optional TCP address, served with TLS only (Init must
	// have made the certificates); callers there present a node
	// certificate or a bearer token.
	Listen string
	// AdminGroup, if set, names a group of the host whose members are
	// admins, as root is.
	AdminGroup string
	// MetricsListen is an optional plain-HTTP address serving only
	// /metrics, for Prometheus.
	MetricsListen string
	// DefaultQueue names the queue jobs go to when none is named.
	DefaultQueue string
	// QueuesFile, if set, is a TOML file of queue definitions, applied at
	// start and by ReloadQueues (SIGHUP); see queuefile.go.
	QueuesFile string
	// HeartbeatTimeout is how long a node may stay silent before it is
	// marked DOWN (default 30s).
	HeartbeatTimeout time.Duration
	// GangStartTimeout is how long the parts of a gang may take to be
	// ready on all their nodes before the gang is taken back and
	// requeued (default 5m: long enough to pull an image).
	GangStartTimeout time.Duration
	// SchedulePeriod is the safety-net pass interval (default 10s). Passes
	// also run at once on every submission, finish and node change.
	SchedulePeriod time.Duration
	// Policy is the scheduling policy; the zero value is EASY backfill.
	Policy sched.Policy
	Logger *slog.Logger
}

// Server is a running controller. Create it with New, start it with Run.
type Server struct {
	cfg   Config
	log   *slog.Logger
	store *store.Store
	// pki is the cluster CA and server certificate (nil without Init).
	pki *pki
	// adminGID is the admin group's gid, if one is configured.
	adminGID *uint32
	metrics  *metrics

	// assign is bumped whenever any node's desired state changes.
	assign *broadcaster
	// events is bumped when events were recorded that assign's bump does
	// not cover (submissions, jobs starting to run, cancellations).
	events *broadcaster
	// health is each node's last reported health (nodeHealth).
	healthMu sync.Mutex
	health   map[string]string
	// ttys pairs interactive jobs' clients with their nodes (tty.go).
	ttys ttyBroker
	// wake asks the scheduling loop for a pass; it holds at most one.
	wake chan struct{}
	// changed is set by every wake-up but a submission's (kick, not
	// kickSubmit): what runs where, the nodes, the queues or the
	// reservations may have changed since the last pass began.
	changed atomic.Bool
	// full: the last pass left no core free for a new job (see
	// fullAfter); the scheduling loop's alone. fullWait bounds the wait
	// after such a pass (pause).
	full     bool
	fullWait time.Duration
	// pending is the last pass's pending jobs, whose slice the next
	// pass reuses (the scheduling loop's alone).
	pending []*sched.Job
	// cronWake asks the recurring-job loop to recompute its next slot.
	cronWake chan struct{}
	// topos are the nodes' decoded topologies (scheduling loop only).
	topos map[string]topoEntry
	// usage is the users' recent usage for fair share, read at usageAt
	// (scheduling loop only).
	usage   []sched.Usage
	usageAt time.Time

	// priorities are the waiting jobs' priorities at the last pass, shown
	// by GET /v1/jobs/{id}.
	prioMu     sync.Mutex
	priorities []sched.JobPriority

	now func() time.Time
}

// New opens the store in cfg.StateDir and prepares a server.
func New(cfg Config) (*Server, error) {
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 30 * time.Second
	}
	if cfg.GangStartTimeout == 0 {
		cfg.GangStartTimeout = 5 * time.Minute
	}
	if cfg.SchedulePeriod == 0 {
		cfg.SchedulePeriod = 10 * time.Second
	}
	if cfg.DefaultQueue == "" {
		cfg.DefaultQueue = "normal"
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := store.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	sec, err := loadSecurity(cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	s := &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    st,
		pki:      sec.pki,
		adminGID: sec.adminGID,
		assign:   newBroadcaster(time.Now()),
		events:   newBroadcaster(time.Now()),
		wake:     make(chan struct{}, 1),
		fullWait: fullWait,
		cronWake: make(chan struct{}, 1),
		now:      time.Now,
	}
	s.metrics = newMetrics(s)
	return s, nil
}

// Handler returns the API's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.routes() }

// Run serves until ctx ends, then shuts down and closes the store.
func (s *Server) Run(ctx context.Context) error {
	defer s.store.Close()
	if err := s.store.TouchAllNodes(ctx, s.now()); err != nil {
		return fmt.Errorf("server start: %w", err)
	}
	if err := s.ReloadQueues(ctx); err != nil {
		return fmt.Errorf("server start: %w", err)
	}
	var listeners []net.Listener
	ul, err := listenUnix(s.cfg.Socket)
	if err != nil {
		return err
	}
	listeners = append(listeners, ul)
	if s.cfg.Listen != "" {
		tl, err := net.Listen("tcp", s.cfg.Listen)
		if err != nil {
			ul.Close()
			return fmt.Errorf("listen %s: %w", s.cfg.Listen, err)
		}
		listeners = append(listeners, tls.NewListener(tl, s.pki.tlsConfig()))
	}
	var metricsL net.Listener
	if s.cfg.MetricsListen != "" {
		if metricsL, err = net.Listen("tcp", s.cfg.MetricsListen); err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("metrics listen %s: %w", s.cfg.MetricsListen, err)
		}
	}
	srv := &http.Server{
		Handler:           s.routes(),
		ConnContext:       peerCredContext,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, len(listeners))
	for _, l := range listeners {
		s.log.Info("listening", "addr", l.Addr().String())
		wg.Go(func() {
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s: %w", l.Addr(), err)
				cancel()
			}
		})
	}
	if metricsL != nil {
		wg.Go(func() { s.metrics.serve(ctx, metricsL) })
	}
	wg.Go(func() { s.scheduleLoop(ctx) })
	wg.Go(func() { s.watchNodes(ctx) })
	wg.Go(func() { s.cronLoop(ctx) })
	s.kick()

	<-ctx.Done()
	shutdownCtx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	srv.Shutdown(shutdownCtx)
	wg.Wait()
	os.Remove(s.cfg.Socket)
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

// listenUnix listens on path with mode 0666, replacing a stale socket left
// by a crash but refusing to steal one a live server answers on.
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("socket dir %s: %w", filepath.Dir(path), err)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s: another server is listening there", path)
	}
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		l.Close()
		return nil, fmt.Errorf("chmod socket %s: %w", path, err)
	}
	return l, nil
}

// ReloadQueues applies the queues file, if one is configured: every queue
// it defines is created or replaced; queues it does not name are kept. An
// invalid file changes nothing.
func (s *Server) ReloadQueues(ctx context.Context) error {
	if s.cfg.QueuesFile == "" {
		return nil
	}
	qs, err := loadQueueFile(s.cfg.QueuesFile)
	if err != nil {
		return err
	}
	for _, q := range qs {
		if err := s.store.PutQueue(ctx, q); err != nil {
			return err
		}
	}
	s.log.Info("queues loaded", "file", s.cfg.QueuesFile, "queues", len(qs))
	s.kick()
	return nil
}

// kick asks the scheduling loop for a pass without blocking.
func (s *Server) kick() {
	s.changed.Store(true)
	s.kickSubmit()
}

// kickSubmit asks for a pass for a new waiting job: one that changes
// nothing else, so it need not end the longer wait after a pass that
// left nothing free (scheduleLoop).
func (s *Server) kickSubmit() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
