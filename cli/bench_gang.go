package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

// benchGangCommand measures how long a gang takes from its placement to
// every part running.
func benchGangCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "gang",
		Usage: "time from a multi-node job's placement to all its parts running (root)",
		Description: `Starts a server (in this process) and the largest --nodes count of node
daemons (separate gantry node processes on this machine, each its own
node), then runs --runs gangs of each size, one at a time: each part runs
true on one core. From the event log it reports, per size, the time from
the placement to the release (every part prepared and ready) and to the
last part running, as the nodes report them.

   gantry bench gang --nodes 2,4,8 --runs 10`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "nodes", Value: "2,4,8", Usage: "gang sizes, comma-separated"},
			&cli.IntFlag{Name: "runs", Value: 10, Usage: "gangs per size"},
		},
		Action: func(c *cli.Context) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("bench gang: needs root (the node daemons create containers and cgroups)")
			}
			var sizes []int
			for _, f := range strings.Split(c.String("nodes"), ",") {
				n, err := strconv.Atoi(strings.TrimSpace(f))
				if err != nil || n < 2 || n > 64 {
					return usagef("bench gang: --nodes %q: want sizes from 2 to 64, comma-separated", c.String("nodes"))
				}
				sizes = append(sizes, n)
			}
			runs := c.Int("runs")
			if runs < 1 {
				return usagef("bench gang: --runs %d: want at least 1", runs)
			}
			dir, sock, stopServer, err := jobBenchServer(c.Context)
			if err != nil {
				return err
			}
			defer stopServer()
			stopNodes, err := startBenchNodes(c.Context, dir, sock, slices.Max(sizes))
			if err != nil {
				return err
			}
			defer stopNodes()
			cl, _ := client.New(sock, "")
			for _, n := range sizes {
				if err := benchGangs(c, cl, dir, n, runs); err != nil {
					return err
				}
			}
			return nil
		},
	})
}

// startBenchNodes starts n node daemons (this executable, "node") on
// sock, and waits until all are up. It returns a function that stops them.
func startBenchNodes(ctx context.Context, dir, sock string, n int) (func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var procs []*exec.Cmd
	stop := func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}
	for i := 1; i <= n; i++ {
		name := fmt.Sprintf("bench%d", i)
		log, err := os.Create(filepath.Join(dir, name+".log"))
		if err != nil {
			stop()
			return nil, err
		}
		cmd := exec.Command(exe, "node", "--server", sock, "--name", name, "--state-dir", filepath.Join(dir, name),
			"--heartbeat-interval", "1s", "--log-level", "warn")
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			log.Close()
			stop()
			return nil, err
		}
		log.Close()
		procs = append(procs, cmd)
	}
	cl, _ := client.New(sock, "")
	for i := 0; ; i++ {
		nodes, err := cl.Nodes(ctx)
		if err == nil && len(nodes) == n {
			return stop, nil
		}
		if i > 1500 {
			stop()
			return nil, fmt.Errorf("bench gang: %d of %d node daemons registered (logs in %s)", len(nodes), n, dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// benchGangs runs runs gangs of n nodes one after the other and prints
// the placement-to-release and placement-to-running percentiles.
func benchGangs(c *cli.Context, cl *client.Client, dir string, n, runs int) error {
	spec := api.JobSpec{Command: []string{"true"}, Cwd: dir, Stdout: "/dev/null", Env: []string{"PATH=/usr/bin:/bin"}, Nodes: n}
	var released, running []time.Duration
	for range runs {
		resp, err := cl.Submit(c.Context, spec)
		if err != nil {
			return err
		}
		var placed, rel, run time.Time
		var final api.JobState
		err = cl.Events(c.Context, 0, []int64{resp.ID}, true, func(e api.Event) bool {
			switch {
			case e.State == api.StateStarting && strings.HasPrefix(e.Reason, "placed on"):
				placed = e.Time
			case e.State == api.StateStarting && strings.Contains(e.Reason, "released"):
				rel = e.Time
			case e.State == api.StateRunning && run.IsZero():
				run = e.Time
			case e.State.Terminal():
				final = e.State
			}
			return !e.State.Terminal()
		})
		if err != nil {
			return err
		}
		if final != api.StateSucceeded || placed.IsZero() || rel.IsZero() || run.IsZero() {
			return fmt.Errorf("bench gang: gang %d ended %s (placed %v, released %v, running %v)", resp.ID, final, placed, rel, run)
		}
		released, running = append(released, rel.Sub(placed)), append(running, run.Sub(placed))
	}
	slices.Sort(released)
	slices.Sort(running)
	fmt.Fprintf(c.App.Writer, "%d nodes, %d gangs: placement to release p50 %s max %s; placement to every part running p50 %s max %s\n",
		n, runs, pct(released, 50), released[len(released)-1].Round(time.Microsecond), pct(running, 50), running[len(running)-1].Round(time.Microsecond))
	return nil
}
