package cli

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

var serverFlag = &cli.StringFlag{Name: "server", Usage: "server address: a socket path or an https URL", EnvVars: []string{"GANTRY_SERVER"}}

func subCommand() *cli.Command {
	cmd := newSubCommand(func(c *cli.Context, spec api.JobSpec) error {
		cl, err := newClient(c)
		if err != nil {
			return err
		}
		resp, err := cl.Submit(c.Context, spec)
		if err != nil {
			return err
		}
		if c.Bool("json") {
			return printJSON(c.App.Writer, resp)
		}
		def := ""
		if resp.DefaultQueue {
			def = "default "
		}
		fmt.Fprintf(c.App.Writer, "Job <%d> is submitted to %squeue <%s>.\n", resp.ID, def, resp.Queue)
		return nil
	})
	// --json only here: gantry cron add reuses the other flags.
	n := len(cmd.Flags)
	cmd.Flags = append(cmd.Flags[:n-1:n-1], jsonFlag("print the submission (id, queue) as JSON"), cmd.Flags[n-1])
	return cmd
}

// newSubCommand makes the sub command with what to do with the job spec
// its flags and arguments describe (gantry cron add reuses the parsing).
func newSubCommand(use func(*cli.Context, api.JobSpec) error) *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "sub",
		Usage:     "submit a job (flags as in LSF's bsub)",
		ArgsUsage: "[--] COMMAND [ARGS...]",
		Description: `Submits COMMAND to run on a node, as you, in your current directory, with
your environment. Memory sizes take K, M, G or T (a bare number is MiB);
walltimes are [hours:]minutes (bsub -W) or durations such as 90s.

   gantry sub -n 4 -M 8G -W 2:00 -o train.%J.log -- python train.py
   gantry sub --nodes 4 --gpus-per-node 8 -n 64 -- torchrun train.py
   id=$(gantry sub --json -- ./step1.sh | jq .id)`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Aliases: []string{"cores"}, Usage: "number of CPU cores", Value: 1},
			&cli.IntFlag{Name: "gpus", Aliases: []string{"gpus-per-node"}, Usage: "number of GPUs (on each node, chosen for NVLink and NUMA locality)"},
			&cli.IntFlag{Name: "nodes", Aliases: []string{"N"}, Usage: "run on this many nodes at once (a gang): -n, --gpus and -M are then per node"},
			&cli.StringSliceFlag{Name: "label", Usage: "run only on nodes with this label: KEY=VALUE, or KEY for any value (repeatable)"},
			&cli.StringFlag{Name: "image", Usage: "run in this OCI image: a registry reference (python:3.12), oci:PATH[:TAG] or oci-archive:PATH"},
			&cli.Int64Flag{Name: "U", Aliases: []string{"reservation"}, Usage: "run in this advance reservation (gantry reserve --users): on its nodes, within its window"},
			&cli.StringSliceFlag{Name: "m", Aliases: []string{"hosts"}, Usage: "run only on these nodes (names, comma-separated or repeated): any one of them"},
			&cli.BoolFlag{Name: "x", Aliases: []string{"exclusive"}, Usage: "whole nodes: all their cores, memory and GPUs, and no other job beside"},
			&cli.IntFlag{Name: "tasks-per-node", Usage: "tasks each node runs, as the job's environment says (NPROC_PER_NODE; default 1)"},
			&cli.BoolFlag{Name: "task-per-gpu", Aliases: []string{"tasks-per-gpu"}, Usage: "start the command once per GPU, with RANK and LOCAL_RANK set (as srun or torchrun would), instead of once per node"},
			&cli.StringFlag{Name: "M", Aliases: []string{"mem"}, Usage: "memory limit, e.g. 512M or 4G"},
			&cli.StringFlag{Name: "W", Aliases: []string{"walltime"}, Usage: "run-time limit, [hours:]minutes"},
			&cli.StringFlag{Name: "o", Aliases: []string{"output"}, Usage: "stdout file (%J is the job id)", Value: "gantry-%J.out"},
			&cli.StringFlag{Name: "e", Aliases: []string{"error"}, Usage: "stderr file (default: the stdout file)"},
			&cli.StringFlag{Name: "J", Aliases: []string{"name"}, Usage: `job name; "name[1-100:2]%10" makes an array (%I in -o is the index, %10 at most 10 at once)`},
			&cli.StringFlag{Name: "q", Aliases: []string{"queue"}, Usage: "queue (default: the default queue)"},
			&cli.BoolFlag{Name: "H", Aliases: []string{"hold"}, Usage: "submit held: the job waits until gantry release"},
			&cli.StringFlag{Name: "b", Aliases: []string{"begin"}, Usage: "begin time: [[[year:]month:]day:]hour:minute, or YYYY-MM-DD HH:MM"},
			&cli.StringFlag{Name: "w", Aliases: []string{"dependency"}, Usage: `dependency, e.g. "done(42) && ended(prep*)"`},
			&cli.BoolFlag{Name: "cancel-unsatisfiable", Usage: "cancel the job if its dependency can never be satisfied"},
			&cli.IntFlag{Name: "retry", Usage: "try the job up to this many times in all (1-10) when it fails"},
			&cli.StringSliceFlag{Name: "retry-on", Usage: "retry only on: exit=CODE[,CODE...], signal=SIGNAME, node-fail (default: any failure)"},
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			spec, err := specFromFlags(c)
			if err != nil {
				return err
			}
			return use(c, spec)
		},
	})
}

// specFromFlags builds a JobSpec from sub's flags, the command after them,
// and the caller's directory and environment.
func specFromFlags(c *cli.Context) (api.JobSpec, error) {
	args := c.Args().Slice()
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return api.JobSpec{}, usagef("sub: missing command (usage: gantry sub [flags] -- COMMAND [ARGS...])")
	}
	cwd, err := os.Getwd()
	if err != nil {
		return api.JobSpec{}, fmt.Errorf("sub: current directory: %w", err)
	}
	name, array, throttle, err := api.ParseJobName(c.String("J"))
	if err != nil {
		return api.JobSpec{}, usagef("sub: -J: %v", err)
	}
	spec := api.JobSpec{
		Name:          name,
		Array:         array,
		ArrayThrottle: throttle,
		Queue:         c.String("q"),
		Command:       args,
		Env:           os.Environ(),
		Cwd:           cwd,
		Stdout:        c.String("o"),
		Stderr:        c.String("e"),
		Cores:         c.Int("n"),
		NumGPUs:       c.Int("gpus"),
		Nodes:         c.Int("nodes"),
		Exclusive:     c.Bool("x"),
		Hosts:         c.StringSlice("m"),
		Reservation:   c.Int64("U"),
		Image:         c.String("image"),
		Labels:        c.StringSlice("label"),
		TasksPerNode:  c.Int("tasks-per-node"),
		Hold:          c.Bool("H"),

		Dependency:            c.String("w"),
		CancelOnUnsatisfiable: c.Bool("cancel-unsatisfiable"),
	}
	if spec.Retry, err = retryFromFlags(c); err != nil {
		return spec, err
	}
	if s := c.String("b"); s != "" {
		t, err := api.ParseBeginTime(s, time.Now())
		if err != nil {
			return spec, usagef("sub: -b: %v", err)
		}
		spec.BeginTime = &t
	}
	if spec.Cores < 1 {
		return spec, usagef("sub: -n %d: want at least 1 core", spec.Cores)
	}
	if c.Bool("task-per-gpu") {
		spec.TasksPerGPU = 1
	}
	if c.IsSet("nodes") && spec.Nodes < 1 {
		return spec, usagef("sub: --nodes %d: want at least 1 node", spec.Nodes)
	}
	if s := c.String("M"); s != "" {
		if spec.MemoryBytes, err = api.ParseMemory(s); err != nil {
			return spec, usagef("sub: -M: %v", err)
		}
	}
	if s := c.String("W"); s != "" {
		d, err := api.ParseWalltime(s)
		if err != nil {
			return spec, usagef("sub: -W: %v", err)
		}
		spec.WalltimeSeconds = int64((d + 999_999_999) / 1e9)
	}
	if err := spec.Validate(); err != nil {
		return spec, usagef("sub: %v", err)
	}
	return spec, nil
}

// retryFromFlags builds the retry strategy of --retry and --retry-on.
func retryFromFlags(c *cli.Context) (*api.RetryStrategy, error) {
	if !c.IsSet("retry") {
		if c.IsSet("retry-on") {
			return nil, usagef("sub: --retry-on needs --retry N")
		}
		return nil, nil
	}
	r := &api.RetryStrategy{Attempts: c.Int("retry")}
	for _, cond := range c.StringSlice("retry-on") {
		kind, val, _ := strings.Cut(cond, "=")
		switch kind {
		case "exit":
			for _, v := range strings.Split(val, ",") {
				code, err := strconv.Atoi(v)
				if err != nil {
					return nil, usagef("sub: --retry-on %q: exit code %q is not a number", cond, v)
				}
				r.ExitCodes = append(r.ExitCodes, code)
			}
		case "signal":
			name := strings.ToUpper(val)
			if !strings.HasPrefix(name, "SIG") {
				name = "SIG" + name
			}
			r.Signals = append(r.Signals, name)
		case "node-fail":
			r.NodeFailure = true
		default:
			return nil, usagef("sub: --retry-on %q: want exit=CODES, signal=NAME or node-fail", cond)
		}
	}
	return r, nil
}
