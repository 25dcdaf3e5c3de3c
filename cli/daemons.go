package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/gantry-hpc/gantry/gpu"
	"github.com/gantry-hpc/gantry/noded"
	"github.com/gantry-hpc/gantry/server"
	"github.com/urfave/cli/v2"
)

func stateDirFlag() *cli.StringFlag {
	return &cli.StringFlag{Name: "state-dir", Usage: "state directory", Value: defaultStateDir()}
}

var (
	socketFlag   = &cli.StringFlag{Name: "socket", Usage: "Unix socket to listen on", Value: client.DefaultSocket()}
	listenFlag   = &cli.StringFlag{Name: "listen", Usage: "also listen on this TCP address, TLS only (run gantry server init first); callers need a token or a node certificate"}
	logLevelFlag = &cli.StringFlag{Name: "log-level", Usage: "debug, info, warn or error", Value: "info"}
)

// nodeFlags configure what a node daemon offers.
func nodeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "cpus", Usage: "offer only these CPUs, e.g. 0-3,8 (default: the daemon's cpuset)"},
		&cli.StringFlag{Name: "memory", Usage: "offer this much memory, e.g. 16G (default: all, less --reserve-memory)"},
		&cli.StringFlag{Name: "reserve-memory", Usage: "memory kept back for the system", Value: "256M"},
		&cli.Int64Flag{Name: "pids-limit", Usage: "most tasks a job may have", Value: 4096},
		&cli.StringFlag{Name: "gpu-fixture", Usage: "report the GPUs of this JSON file (gpu.Fake) instead of asking NVML: for development and tests"},
		&cli.StringFlag{Name: "gpu-dev-dir", Usage: "directory of the NVIDIA device nodes (default /dev)"},
		&cli.DurationFlag{Name: "heartbeat-interval", Usage: "time between status reports to the server (keep well under its --heartbeat-timeout)", Value: 5 * time.Second},
		&cli.StringSliceFlag{Name: "label", Usage: "a label of this node, KEY=VALUE (repeatable): queues select nodes by label (gantry queue set --nodes)"},
		&cli.StringFlag{Name: "health-check", Usage: "program run every --health-interval: a non-zero exit drains the node with the first line of its output as the reason, until it passes again"},
		&cli.DurationFlag{Name: "health-interval", Usage: "time between health checks (the script's, and the GPUs' ECC and XID errors)", Value: time.Minute},
		&cli.StringFlag{Name: "address", Usage: "address the node's jobs are reached at by their peers in multi-node jobs (MASTER_ADDR, host files; default: the host name)"},
	}
}

func newLogger(c *cli.Context) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", c.String("log-level"))
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: lvl})), nil
}

var heartbeatTimeoutFlag = &cli.DurationFlag{Name: "heartbeat-timeout", Usage: "mark a node DOWN after this long without a heartbeat", Value: 30 * time.Second}

var gangStartTimeoutFlag = &cli.DurationFlag{Name: "gang-start-timeout", Usage: "requeue a multi-node job whose parts are not all ready on their nodes after this long", Value: 5 * time.Minute}

var queuesFlag = &cli.StringFlag{Name: "queues", Usage: "TOML file of queue definitions, re-read on SIGHUP"}

var (
	adminGroupFlag    = &cli.StringFlag{Name: "admin-group", Usage: "members of this group are admins, as root is"}
	metricsListenFlag = &cli.StringFlag{Name: "metrics-listen", Usage: "serve Prometheus /metrics on this TCP address, plain HTTP, no authentication"}
)

// reloadOnHangup re-reads the queues file on every SIGHUP until ctx ends.
func reloadOnHangup(ctx context.Context, srv *server.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := srv.ReloadQueues(ctx); err != nil {
					log.Error("reload queues: keeping the old definitions", "err", err)
				}
			}
		}
	}()
}

// signalContext ends on SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

func serverCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "server",
		Usage: "run the controller",
		Description: `Runs the scheduler: keeps the jobs, queues and nodes in its state
directory, listens on --socket (and with --listen on TCP, TLS only), and
places jobs on the node daemons. Usually run by systemd (gantry-server).

   gantry server --listen :7443 --queues /etc/gantry/queues.toml --admin-group hpcadm`,
		Subcommands: []*cli.Command{serverInitCommand()},
		Flags:       []cli.Flag{stateDirFlag(), socketFlag, listenFlag, logLevelFlag, policyFlag, queuesFlag, heartbeatTimeoutFlag, gangStartTimeoutFlag, adminGroupFlag, metricsListenFlag},
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			policy, err := policyOf(c)
			if err != nil {
				return err
			}
			srv, err := server.New(server.Config{
				StateDir: c.String("state-dir"), Socket: c.String("socket"), Listen: c.String("listen"), Logger: log, Policy: policy,
				QueuesFile: c.String("queues"), HeartbeatTimeout: c.Duration("heartbeat-timeout"),
				GangStartTimeout: c.Duration("gang-start-timeout"),
				AdminGroup:       c.String("admin-group"), MetricsListen: c.String("metrics-listen"),
			})
			if err != nil {
				return err
			}
			ctx, stop := signalContext(c.Context)
			defer stop()
			reloadOnHangup(ctx, srv, log)
			return srv.Run(ctx)
		},
	})
}

// nodeConfig builds a node daemon's configuration from its flags.
func nodeConfig(c *cli.Context, log *slog.Logger, serverAddr, name, stateDir string) (noded.Config, error) {
	cfg := noded.Config{Server: serverAddr, Name: name, StateDir: stateDir, PidsLimit: c.Int64("pids-limit"),
		HeartbeatInterval: c.Duration("heartbeat-interval"), Address: c.String("address"), Logger: log,
		HealthCheck: c.String("health-check"), HealthInterval: c.Duration("health-interval")}
	if cfg.HealthInterval <= 0 {
		return cfg, usagef("--health-interval %s: must be positive", cfg.HealthInterval)
	}
	for _, kv := range c.StringSlice("label") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return cfg, usagef("--label %q: want KEY=VALUE", kv)
		}
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[k] = v
	}
	if cfg.HeartbeatInterval <= 0 {
		return cfg, usagef("--heartbeat-interval %s: must be positive", cfg.HeartbeatInterval)
	}
	cfg.GPUDevDir = c.String("gpu-dev-dir")
	if path := c.String("gpu-fixture"); path != "" {
		fake, err := gpu.LoadFake(path)
		if err != nil {
			return cfg, usagef("--gpu-fixture: %v", err)
		}
		cfg.Discover.GPU = fake
	} else {
		// NVML when the driver is there; a node without it has no GPUs
		// (and Detect says why in the log).
		b, err := gpu.Detect(c.Context, log)
		if err != nil {
			return cfg, fmt.Errorf("gpu discovery: %w", err)
		}
		cfg.Discover.GPU = b
	}
	if s := c.String("cpus"); s != "" {
		cpus, err := cpuset.Parse(s)
		if err != nil {
			return cfg, usagef("--cpus: %v", err)
		}
		cfg.Discover.CPUs = cpus
	}
	if s := c.String("memory"); s != "" {
		m, err := api.ParseMemory(s)
		if err != nil {
			return cfg, usagef("--memory: %v", err)
		}
		cfg.Discover.MemoryBytes = uint64(m)
	}
	if s := c.String("reserve-memory"); s != "" && s != "0" {
		m, err := api.ParseMemory(s)
		if err != nil {
			return cfg, usagef("--reserve-memory: %v", err)
		}
		cfg.Discover.ReserveMemoryBytes = uint64(m)
	}
	if cfg.PidsLimit < 1 {
		return cfg, usagef("--pids-limit %d: must be positive", cfg.PidsLimit)
	}
	return cfg, nil
}

func nodeCommand() *cli.Command {
	flags := append([]cli.Flag{
		serverFlag,
		&cli.StringFlag{Name: "name", Usage: "node name (default: the host name)"},
		&cli.StringFlag{Name: "state-dir", Usage: "state directory (default: <default state dir>/node-NAME)"},
		logLevelFlag,
		&cli.StringFlag{Name: "join-token", Usage: "join token, for the first contact with an https server (gantry token create --node, or the server's STATE/join-token)", EnvVars: []string{"GANTRY_JOIN_TOKEN"}},
		&cli.StringFlag{Name: "ca", Usage: "the cluster CA (the server's STATE/tls/ca.pem), for an https server; kept in the state directory at the join"},
		metricsListenFlag,
	}, nodeFlags()...)
	return withUsageErrors(&cli.Command{
		Name:  "node",
		Usage: "run the node daemon",
		Description: `Runs on each compute node: reports its CPUs, memory and GPUs to the
server and runs the jobs placed on it. Usually run by systemd
(gantry-node).

   gantry node --server /run/gantry/gantry.sock
   gantry node --server https://head:7443 --join-token "$(cat join-token)" --ca ca.pem`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			name := c.String("name")
			if name == "" {
				name, _ = os.Hostname()
			}
			stateDir := c.String("state-dir")
			if stateDir == "" {
				stateDir = filepath.Join(defaultStateDir(), "node-"+name)
			}
			cfg, err := nodeConfig(c, log, serverAddr(c), name, stateDir)
			if err != nil {
				return err
			}
			cfg.JoinToken, cfg.CAFile, cfg.MetricsListen = c.String("join-token"), c.String("ca"), c.String("metrics-listen")
			ctx, stop := signalContext(c.Context)
			defer stop()
			d, err := noded.New(ctx, cfg)
			if err != nil {
				return err
			}
			return d.Run(ctx)
		},
	})
}

func devCommand() *cli.Command {
	flags := append([]cli.Flag{stateDirFlag(), socketFlag, listenFlag, logLevelFlag, policyFlag, queuesFlag,
		&cli.StringFlag{Name: "name", Usage: "node name (default: the host name)"},
	}, nodeFlags()...)
	return withUsageErrors(&cli.Command{
		Name:    "dev",
		Aliases: []string{"up"},
		Usage:   "run a server and one node daemon in one process, for a single machine",
		Description: `For trying Gantry, development and a workstation: the server and a node
daemon for this machine in one process.

   gantry dev &
   gantry dev --cpus 0-3 --memory 8G`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			log, err := newLogger(c)
			if err != nil {
				return err
			}
			stateDir, socket := c.String("state-dir"), c.String("socket")
			policy, err := policyOf(c)
			if err != nil {
				return err
			}
			name := c.String("name")
			if name == "" {
				name, _ = os.Hostname()
				name = strings.SplitN(name, ".", 2)[0]
			}
			// Every flag is checked before anything is opened or created.
			cfg, err := nodeConfig(c, log.With("role", "node"), socket, name, filepath.Join(stateDir, "node"))
			if err != nil {
				return err
			}
			srv, err := server.New(server.Config{StateDir: stateDir, Socket: socket, Listen: c.String("listen"), Policy: policy,
				QueuesFile: c.String("queues"), Logger: log.With("role", "server")})
			if err != nil {
				return err
			}
			ctx, stop := signalContext(c.Context)
			defer stop()
			d, err := noded.New(ctx, cfg)
			if err != nil {
				return err
			}
			reloadOnHangup(ctx, srv, log)
			fmt.Fprintf(c.App.ErrWriter, "gantry dev: server on %s, node %s; submit with: gantry --server %s sub -- COMMAND\n", socket, name, socket)
			var wg sync.WaitGroup
			var srvErr, nodeErr error
			wg.Go(func() {
				srvErr = srv.Run(ctx)
				stop() // the node cannot outlive its server here
			})
			wg.Go(func() { nodeErr = d.Run(ctx) })
			wg.Wait()
			if srvErr != nil {
				return srvErr
			}
			if nodeErr != nil && nodeErr != context.Canceled {
				return nodeErr
			}
			return nil
		},
	})
}
