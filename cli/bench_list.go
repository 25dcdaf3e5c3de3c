package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/store"
	"github.com/urfave/cli/v2"
)

// benchListCommand times gantry jobs -a over a server holding many
// pending jobs.
func benchListCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "list",
		Usage: "list many pending jobs (gantry jobs -a), timed",
		Description: `Stores the pending jobs straight into a new server's database (as
submissions would, but without the API: quicker), starts the server, and
times gantry jobs -a (the table, written nowhere) and gantry jobs -a
--json, --runs times each.

   gantry bench list --pending 100000`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "pending", Value: 100000, Usage: "pending jobs held"},
			&cli.IntFlag{Name: "runs", Value: 3, Usage: "listings of each kind"},
			cpuProfileFlag,
		},
		Action: func(c *cli.Context) error {
			n := c.Int("pending")
			if n < 1 || c.Int("runs") < 1 {
				return usagef("bench list: --pending and --runs must be positive")
			}
			dir, err := os.MkdirTemp("", "gantry-bench")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			_, stop, err := benchStartFilled(c, dir, n)
			if err != nil {
				return err
			}
			defer stop()
			stopProfile, err := startCPUProfile(c)
			if err != nil {
				return err
			}
			defer stopProfile()
			sock := filepath.Join(dir, "gantry.sock")
			for _, args := range [][]string{{"jobs", "-a"}, {"jobs", "-a", "--json"}} {
				for range c.Int("runs") {
					took, cpu, err := benchCLI(c.Context, sock, args...)
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "gantry %s (%d jobs): %s (CPU, server and client: %s)\n", joinArgs(args), n,
						took.Round(time.Millisecond), cpu.Round(time.Millisecond))
				}
			}
			return nil
		},
	})
}

// benchStartFilled stores n pending jobs straight into the database of a
// new server in dir, starts the server and waits until a scheduling pass
// has planned them all, saying how long each step took. It returns a
// client of the server and the function that stops it.
func benchStartFilled(c *cli.Context, dir string, n int) (*client.Client, func(), error) {
	took, err := benchFill(c.Context, filepath.Join(dir, "state"), n)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(c.App.Writer, "%d pending jobs stored straight into the database in %s\n", n, took.Round(time.Millisecond))
	start := time.Now()
	_, stop, err := startBenchServer(c.Context, dir)
	if err != nil {
		return nil, nil, err
	}
	answering := time.Since(start)
	cl, err := client.New(filepath.Join(dir, "gantry.sock"), "")
	if err == nil {
		err = waitFirstPass(c.Context, cl, int64(n))
	}
	if err != nil {
		stop()
		return nil, nil, err
	}
	fmt.Fprintf(c.App.Writer, "first start: answering after %s, a scheduling pass over all %d jobs done after %s\n",
		answering.Round(time.Millisecond), n, time.Since(start).Round(time.Millisecond))
	return cl, stop, nil
}

// waitFirstPass waits until a scheduling pass of this server has planned
// job id (a pending job): it then has a priority.
func waitFirstPass(ctx context.Context, cl *client.Client, id int64) error {
	for {
		j, err := cl.Job(ctx, id)
		if err != nil {
			return err
		}
		if j.Priority != nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// benchCLI runs a gantry command against the server at sock in this
// process, its output discarded, and returns how long it took.
func benchCLI(ctx context.Context, sock string, args ...string) (took, cpu time.Duration, err error) {
	start, cpu0 := time.Now(), cpuTime()
	var stderr limitedBuffer
	if code := Main(ctx, append([]string{"gantry", "--server", sock}, args...), io.Discard, &stderr); code != 0 {
		return 0, 0, fmt.Errorf("gantry %s: exit %d: %s", joinArgs(args), code, stderr.String())
	}
	return time.Since(start), cpuTime() - cpu0, nil
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func joinArgs(args []string) string {
	out := ""
	for i, a := range args {
		if i > 0 {
			out += " "
		}
		out += a
	}
	return out
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct{ b []byte }

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.b = append(l.b, p[:min(len(p), 4096-len(l.b))]...)
	return len(p), nil
}

func (l *limitedBuffer) String() string { return string(l.b) }

// benchFill stores n jobs of benchSpec, as the server would after
// admitting them from this user, straight into the store in stateDir
// (which no server may have open), from many goroutines so that their
// commits are grouped. It returns how long that took.
func benchFill(ctx context.Context, stateDir string, n int) (time.Duration, error) {
	st, err := store.Open(stateDir)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	u, err := user.Current()
	if err != nil {
		return 0, err
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	spec := benchSpec()
	spec.Queue, spec.Cores, spec.Name = "normal", 1, "true"
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	for range 4 * runtime.GOMAXPROCS(0) * 8 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				j := api.Job{Spec: spec, User: u.Username, UID: uint32(uid), GID: uint32(gid), Groups: []uint32{uint32(gid)}, SubmitTime: time.Now().UTC()}
				if _, err := st.SubmitJob(ctx, j); err != nil {
					select {
					case errs <- err:
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return time.Since(start), nil
}
