package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/store"
)

// Config is the server's configuration; zero durations take the defaults.
type Config struct {
	// StateDir holds the database and the cluster token.
	StateDir string
	// Socket is the Unix socket path (mode 0666; callers are identified
	// by SO_PEERCRED).
	Socket string
	// Listen is an optional TCP address; callers there must present the
	// cluster token.
	Listen string
	// DefaultQueue names the queue jobs go to when none is named.
	DefaultQueue string
	// QueuesFile, if set, is a TOML file of queue definitions, applied at
	// start and by ReloadQueues (SIGHUP); see queuefile.go.
	QueuesFile string
	// HeartbeatTimeout is how long a node may stay silent before it is
	// marked DOWN (default 30s).
	HeartbeatTimeout time.Duration
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
	token string

	// assign is bumped whenever any node's desired state changes.
	assign *broadcaster
	// events is bumped when events were recorded that assign's bump does
	// not cover (submissions, jobs starting to run, cancellations).
	events *broadcaster
	// wake asks the scheduling loop for a pass; it holds at most one.
	wake chan struct{}
	// cronWake asks the recurring-job loop to recompute its next slot.
	cronWake chan struct{}

	now func() time.Time
}

// New opens the store in cfg.StateDir and prepares a server.
func New(cfg Config) (*Server, error) {
	if cfg.HeartbeatTimeout == 0 {
		cfg.HeartbeatTimeout = 30 * time.Second
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
	tok, err := loadOrCreateToken(filepath.Join(cfg.StateDir, "token"))
	if err != nil {
		st.Close()
		return nil, err
	}
	return &Server{
		cfg:      cfg,
		log:      cfg.Logger,
		store:    st,
		token:    tok,
		assign:   newBroadcaster(time.Now()),
		events:   newBroadcaster(time.Now()),
		wake:     make(chan struct{}, 1),
		cronWake: make(chan struct{}, 1),
		now:      time.Now,
	}, nil
}

// loadOrCreateToken returns the cluster token kept in path (0600), making
// one on first start.
func loadOrCreateToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read token %s: %w", path, err)
	}
	raw := make([]byte, 32)
	rand.Read(raw)
	tok := hex.EncodeToString(raw)
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write token %s: %w", path, err)
	}
	return tok, nil
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
		listeners = append(listeners, tl)
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
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
