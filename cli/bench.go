package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/server"
	"github.com/urfave/cli/v2"
)

// benchCommand measures the server: submission throughput over the API,
// a large array, and a server holding many pending jobs.
func benchCommand() *cli.Command {
	return &cli.Command{
		Name:  "bench",
		Usage: "measure the server (submissions per second, arrays, many pending jobs)",
		Description: `Each benchmark starts its own server in a temporary directory (no node
daemon, so nothing runs) unless --server names one, and prints its figures.

   gantry bench submit --jobs 20000 --clients 8
   gantry bench array --size 1000000
   gantry bench pending --jobs 1000000`,
		Subcommands: []*cli.Command{
			benchE2ECommand(),
			benchGangCommand(),
			benchListCommand(),
			withUsageErrors(&cli.Command{
				Name:  "submit",
				Usage: "single-job submissions over the API from concurrent clients",
				Description: `Prints the submissions per second and the latency percentiles.

   gantry bench submit --jobs 20000 --clients 8`,
				Flags: []cli.Flag{
					&cli.IntFlag{Name: "jobs", Value: 20000},
					&cli.IntFlag{Name: "clients", Value: 8},
					cpuProfileFlag,
					serverFlag,
				},
				Action: func(c *cli.Context) error {
					stopProfile, err := startCPUProfile(c)
					if err != nil {
						return err
					}
					defer stopProfile()
					cl, stop, err := benchServer(c)
					if err != nil {
						return err
					}
					defer stop()
					return benchSubmit(c, cl, c.Int("jobs"), c.Int("clients"))
				},
			}),
			withUsageErrors(&cli.Command{
				Name:  "array",
				Usage: "one array of many elements",
				Description: `Times the submission of one array and counts its elements.

   gantry bench array --size 1000000`,
				Flags: []cli.Flag{&cli.IntFlag{Name: "size", Value: 1000000}, serverFlag},
				Action: func(c *cli.Context) error {
					cl, stop, err := benchServer(c)
					if err != nil {
						return err
					}
					defer stop()
					spec := benchSpec()
					spec.Array = fmt.Sprintf("1-%d", c.Int("size"))
					start := time.Now()
					resp, err := cl.Submit(c.Context, spec)
					if err != nil {
						return err
					}
					took := time.Since(start)
					j, err := cl.Job(c.Context, resp.ID)
					if err != nil {
						return err
					}
					var n int64
					for _, k := range j.Elements {
						n += k
					}
					fmt.Fprintf(c.App.Writer, "array of %d elements accepted in %s (job %d, %d elements counted)\n", c.Int("size"), took.Round(time.Microsecond), resp.ID, n)
					return nil
				},
			}),
			withUsageErrors(&cli.Command{
				Name:  "pending",
				Usage: "a server holding many pending jobs: memory, restart, listing",
				Description: `Fills a server with pending jobs, then measures its memory, a restart and
listing the jobs.

   gantry bench pending --jobs 1000000`,
				Flags: []cli.Flag{&cli.IntFlag{Name: "jobs", Value: 1000000}, &cli.IntFlag{Name: "clients", Value: 8},
					&cli.BoolFlag{Name: "direct", Usage: "store the jobs straight into the database, not through the API (quicker)"},
					&cli.StringFlag{Name: "memprofile", Usage: "write a heap profile (pprof), taken once the jobs are held, to this file"}},
				Action: func(c *cli.Context) error {
					return benchPending(c, c.Int("jobs"), c.Int("clients"), c.Bool("direct"))
				},
			}),
		},
	}
}

var cpuProfileFlag = &cli.StringFlag{Name: "cpuprofile", Usage: "write a CPU profile of the run (pprof) to this file"}

// startCPUProfile starts the CPU profile --cpuprofile asks for, and
// returns the function that stops it.
func startCPUProfile(c *cli.Context) (func(), error) {
	path := c.String("cpuprofile")
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchSpec is a trivial job as a user would submit it, with a realistic
// environment.
func benchSpec() api.JobSpec {
	return api.JobSpec{Command: []string{"true"}, Cwd: "/tmp", Env: os.Environ(), Stdout: "/dev/null"}
}

// benchServer connects to --server, or starts a server of its own in a
// temporary directory and returns a client for it and a function that
// stops it.
func benchServer(c *cli.Context) (*client.Client, func(), error) {
	if addr := serverAddr(c); addr != "" {
		cl, err := client.New(addr, "")
		return cl, func() {}, err
	}
	dir, err := os.MkdirTemp("", "gantry-bench")
	if err != nil {
		return nil, nil, err
	}
	srv, stop, err := startBenchServer(c.Context, dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	_ = srv
	cl, err := client.New(filepath.Join(dir, "gantry.sock"), "")
	return cl, func() { stop(); os.RemoveAll(dir) }, err
}

func startBenchServer(ctx context.Context, dir string) (*server.Server, func(), error) {
	sock := filepath.Join(dir, "gantry.sock")
	srv, err := server.New(server.Config{StateDir: filepath.Join(dir, "state"), Socket: sock})
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	cl, _ := client.New(sock, "")
	for i := 0; ; i++ {
		if _, err := cl.Nodes(ctx); err == nil {
			break
		}
		if i > 500 {
			cancel()
			return nil, nil, fmt.Errorf("bench server did not come up: %v", <-done)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return srv, func() { cancel(); <-done }, nil
}

// benchSubmit submits n jobs from clients concurrent clients and reports
// the rate and the latency distribution.
func benchSubmit(c *cli.Context, cl *client.Client, n, clients int) error {
	if n < 1 || clients < 1 {
		return usagef("bench submit: --jobs and --clients must be positive")
	}
	spec := benchSpec()
	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				t := time.Now()
				if _, err := cl.Submit(c.Context, spec); err != nil {
					errs <- err
					return
				}
				lat[w] = append(lat[w], time.Since(t))
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	select {
	case err := <-errs:
		return err
	default:
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	fmt.Fprintf(c.App.Writer, "%d submissions from %d clients in %s: %.0f/s; latency p50 %s p99 %s max %s\n",
		n, clients, took.Round(time.Millisecond), float64(n)/took.Seconds(),
		pct(all, 50), pct(all, 99), all[len(all)-1].Round(time.Microsecond))
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)].Round(time.Microsecond)
}

// benchPending fills a server with n pending jobs (through the API from
// clients concurrent clients, or straight into its database), then
// measures its resident memory once a scheduling pass has planned them
// all, the time a restart takes to answer again and to plan them all
// again, and the latency of listing the jobs.
func benchPending(c *cli.Context, n, clients int, direct bool) error {
	dir, err := os.MkdirTemp("", "gantry-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var cl *client.Client
	var stop func()
	if direct {
		cl, stop, err = benchStartFilled(c, dir, n)
		if err != nil {
			return err
		}
	} else {
		if _, stop, err = startBenchServer(c.Context, dir); err != nil {
			return err
		}
		cl, _ = client.New(filepath.Join(dir, "gantry.sock"), "")
		err = benchSubmit(c, cl, n, clients)
		if err == nil {
			err = waitFirstPass(c.Context, cl, int64(n))
		}
		if err != nil {
			stop()
			return err
		}
	}
	runtime.GC()
	if path := c.String("memprofile"); path != "" {
		if err := writeHeapProfile(path); err != nil {
			stop()
			return err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Fprintf(c.App.Writer, "%d pending jobs held: resident memory %s, at most %s so far (this process: the server, and the bench's client); live Go heap %s\n",
		n, procStatus("VmRSS"), procStatus("VmHWM"), api.FormatMemory(int64(ms.HeapAlloc)))
	stop()

	start := time.Now()
	_, stop, err = startBenchServer(c.Context, dir)
	if err != nil {
		return err
	}
	defer stop()
	answering := time.Since(start)
	if err := waitFirstPass(c.Context, cl, int64(n)); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "restart with %d pending jobs: answering after %s, a scheduling pass over all of them done after %s; resident memory %s, at most %s so far\n",
		n, answering.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), procStatus("VmRSS"), procStatus("VmHWM"))
	for _, args := range [][]string{{"jobs", "-a"}, {"jobs", "-a", "--json"}} {
		took, cpu, err := benchCLI(c.Context, filepath.Join(dir, "gantry.sock"), args...)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.App.Writer, "gantry %s (%d jobs listed): %s (CPU, server and client: %s); at most %s resident so far\n", joinArgs(args), n,
			took.Round(time.Millisecond), cpu.Round(time.Millisecond), procStatus("VmHWM"))
	}
	return nil
}

// procStatus is a memory figure of this process from /proc/self/status:
// VmRSS, its resident set size; VmHWM, the largest it has been.
func procStatus(field string) string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return api.FormatMemory(kb << 10)
		}
	}
	return "unknown"
}
