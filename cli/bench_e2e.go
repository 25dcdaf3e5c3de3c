package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/cgroups"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/noded"
	"github.com/gantry-hpc/gantry/noded/runner"
	"github.com/urfave/cli/v2"
)

// benchE2ECommand measures the whole path of trivial jobs: submission,
// scheduling, dispatch, the supervisor and container, the report back.
func benchE2ECommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "e2e",
		Usage: "jobs per second and submit-to-running latency through the whole path (root)",
		Description: `Starts a server and a node daemon offering every CPU of this machine (in
this process, on a temporary directory), submits --jobs trivial jobs
(true, one core each) from --clients clients, waits for all to end, and
reports the throughput and the latency from acknowledged submission to
RUNNING (the node's report), from the event log, next to a plain
libcontainer create/start/wait loop of the same job run first.

   gantry bench e2e --jobs 200`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "jobs", Value: 200},
			&cli.IntFlag{Name: "clients", Value: 4},
		},
		Action: func(c *cli.Context) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("bench e2e: needs root (the node daemon creates containers and cgroups)")
			}
			n, clients := c.Int("jobs"), c.Int("clients")
			if n < 1 || clients < 1 {
				return usagef("bench e2e: --jobs and --clients must be positive")
			}
			dir, sock, stopServer, err := jobBenchServer(c.Context)
			if err != nil {
				return err
			}
			defer stopServer()
			ctx, cancel := context.WithCancel(c.Context)
			defer cancel()
			d, err := noded.New(ctx, noded.Config{Server: sock, Name: "bench", StateDir: filepath.Join(dir, "node"), HeartbeatInterval: time.Second})
			if err != nil {
				return err
			}
			nodeDone := make(chan error, 1)
			go func() { nodeDone <- d.Run(ctx) }()
			defer func() { cancel(); <-nodeDone }()
			cl, _ := client.New(sock, "")
			if err := waitNode(ctx, cl); err != nil {
				return err
			}
			plain, err := plainLoop(dir, min(n, 50))
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "plain libcontainer create/start/wait loop, one at a time: %s a job: %.1f jobs/s\n",
				plain.Round(time.Microsecond), float64(time.Second)/float64(plain))
			return runE2E(c, cl, dir, n, clients, plain)
		},
	})
}

func waitNode(ctx context.Context, cl *client.Client) error {
	for i := 0; i < 300; i++ {
		if nodes, err := cl.Nodes(ctx); err == nil && len(nodes) > 0 && nodes[0].State == api.NodeUp {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("bench e2e: the node daemon did not register")
}

// plainLoop times n bare libcontainer runs of true (runner.RunPlain), one
// after the other, and returns the mean time of one.
func plainLoop(dir string, n int) (time.Duration, error) {
	host, err := cgroups.Detect()
	if err != nil {
		return 0, err
	}
	start := time.Now()
	for i := range n {
		spec := runner.Spec{JobID: fmt.Sprintf("bench-plain-%d-%d", os.Getpid(), i), Argv: []string{"/bin/true"},
			Env: []string{"PATH=/usr/bin:/bin"}, Cwd: dir, Stdout: "/dev/null", Stderr: "/dev/null", CPUs: []int{0},
			MemoryBytes: 256 << 20, PidsLimit: 64}
		if err := runner.RunPlain(host, filepath.Join(dir, fmt.Sprintf("plain-%d", i)), spec); err != nil {
			return 0, err
		}
	}
	return time.Since(start) / time.Duration(n), nil
}

func runE2E(c *cli.Context, cl *client.Client, dir string, n, clients int, plain time.Duration) error {
	spec := api.JobSpec{Command: []string{"true"}, Cwd: dir, Stdout: "/dev/null", Env: []string{"PATH=/usr/bin:/bin"}}
	ids := make([]int64, n)
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for w := range clients {
		wg.Go(func() {
			for k := w; k < n; k += clients {
				resp, err := cl.Submit(c.Context, spec)
				if err != nil {
					errs <- err
					return
				}
				ids[k] = resp.ID
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
	}
	// Follow the event log until every job has ended.
	submitted, running, ended := map[int64]time.Time{}, map[int64]time.Time{}, map[int64]api.JobState{}
	var last time.Time
	ctx, cancel := context.WithTimeout(c.Context, 10*time.Minute)
	defer cancel()
	err := cl.Events(ctx, 0, nil, true, func(e api.Event) bool {
		switch {
		case e.Reason == "submitted":
			submitted[e.JobID] = e.Time
		case e.State == api.StateRunning:
			running[e.JobID] = e.Time
		case e.State.Terminal():
			ended[e.JobID] = e.State
			last = e.Time
		}
		return len(ended) < n
	})
	if err != nil && len(ended) < n {
		return fmt.Errorf("bench e2e: %d of %d jobs ended: %w", len(ended), n, err)
	}
	took := last.Sub(start)
	var lat []time.Duration
	failed := 0
	for _, id := range ids {
		if ended[id] != api.StateSucceeded {
			failed++
		}
		if r, ok := running[id]; ok {
			lat = append(lat, r.Sub(submitted[id]))
		}
	}
	slices.Sort(lat)
	rate := float64(n) / took.Seconds()
	fmt.Fprintf(c.App.Writer, "%d jobs (true, 1 core) from %d clients on %d CPUs: all ended in %s: %.1f jobs/s (%.2f of the plain loop); %d failed\n",
		n, clients, len(mustNodeCPUs(c, cl)), took.Round(time.Millisecond), rate, rate*plain.Seconds(), failed)
	if len(lat) > 0 {
		fmt.Fprintf(c.App.Writer, "submit to RUNNING under that load (jobs queue for CPUs): p50 %s p99 %s max %s\n",
			pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	}
	return e2eLatency(c, cl, spec, max(20, min(n, 100)))
}

// e2eLatency submits samples jobs one at a time, each when the previous
// has ended (so resources are free), and reports the latency from the
// acknowledged submission to RUNNING as the node reports it.
func e2eLatency(c *cli.Context, cl *client.Client, spec api.JobSpec, samples int) error {
	var lat []time.Duration
	for range samples {
		resp, err := cl.Submit(c.Context, spec)
		if err != nil {
			return err
		}
		var sub, run time.Time
		err = cl.Events(c.Context, 0, []int64{resp.ID}, true, func(e api.Event) bool {
			switch {
			case e.Reason == "submitted":
				sub = e.Time
			case e.State == api.StateRunning:
				run = e.Time
			}
			return !e.State.Terminal()
		})
		if err != nil {
			return err
		}
		if !run.IsZero() {
			lat = append(lat, run.Sub(sub))
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return fmt.Errorf("bench e2e: no job reached RUNNING")
	}
	fmt.Fprintf(c.App.Writer, "submit to RUNNING with free resources (%d jobs, one at a time): p50 %s p99 %s max %s\n",
		len(lat), pct(lat, 50), pct(lat, 99), lat[len(lat)-1].Round(time.Microsecond))
	return nil
}

func mustNodeCPUs(c *cli.Context, cl *client.Client) []int {
	nodes, err := cl.Nodes(c.Context)
	if err != nil || len(nodes) == 0 {
		return nil
	}
	return nodes[0].CPUs
}

// jobBenchServer starts a server of its own for a benchmark that runs
// jobs, in a new directory outside /tmp (jobs get a private /tmp), and
// returns the directory, the server's socket and a function that stops
// the server and removes the directory.
func jobBenchServer(ctx context.Context) (dir, sock string, stop func(), err error) {
	if dir, err = os.MkdirTemp("/var/tmp", "gantry-bench"); err != nil {
		return "", "", nil, err
	}
	_, stopServer, err := startBenchServer(ctx, dir)
	if err != nil {
		os.RemoveAll(dir)
		return "", "", nil, err
	}
	return dir, filepath.Join(dir, "gantry.sock"), func() { stopServer(); os.RemoveAll(dir) }, nil
}
