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
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/noded"
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
RUNNING (the node's report), from the event log.

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
			dir, err := os.MkdirTemp("/var/tmp", "gantry-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			_, stopServer, err := startBenchServer(c.Context, dir)
			if err != nil {
				return err
			}
			defer stopServer()
			sock := filepath.Join(dir, "gantry.sock")
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
			return runE2E(c, cl, dir, n, clients)
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

func runE2E(c *cli.Context, cl *client.Client, dir string, n, clients int) error {
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
	fmt.Fprintf(c.App.Writer, "%d jobs (true, 1 core) from %d clients on %d CPUs: all ended in %s: %.1f jobs/s; %d failed\n",
		n, clients, len(mustNodeCPUs(c, cl)), took.Round(time.Millisecond), float64(n)/took.Seconds(), failed)
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
