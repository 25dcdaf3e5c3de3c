package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/urfave/cli/v2"
)

func jobsCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "jobs",
		Usage: "list your jobs (all users' with -a)",
		Description: `Lists jobs with their state, queue, node and why they wait. On a terminal
the STATE column is coloured (unless $NO_COLOR is set).

   gantry jobs
   gantry jobs -a --state RUNNING,PENDING
   gantry jobs --json | jq '.jobs[].id'`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "a", Aliases: []string{"all-users"}, Usage: "show every user's jobs"},
			&cli.StringSliceFlag{Name: "state", Usage: "only jobs in these states (PENDING, RUNNING, ...)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			var states []api.JobState
			for _, s := range c.StringSlice("state") {
				st := api.JobState(strings.ToUpper(s))
				if !st.Valid() {
					return usagef("jobs: --state %q: no such state", s)
				}
				states = append(states, st)
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				jobs, err := cl.Jobs(c.Context, c.Bool("a"), states...)
				if err != nil {
					return err
				}
				return printJSON(c.App.Writer, api.JobList{Jobs: jobs})
			}
			// The table needs only a few fields of each job: the server
			// sends them as columns.
			table, err := cl.JobTable(c.Context, c.Bool("a"), states...)
			if err != nil {
				return err
			}
			t, err := table.Decode()
			if err != nil {
				return err
			}
			if t.Len() == 0 {
				fmt.Fprintln(c.App.Writer, "No job found")
				return nil
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			paint := columnPainter(colourOn(c.App.Writer))
			fmt.Fprintf(tw, "JOBID\tUSER\t%s\tQUEUE\tNODE\tCORES\tNAME\tSUBMITTED\tREASON\n", paint("", "STATE"))
			// A line is appended cell by cell (not Fprintf), and a
			// submission second formatted once: listings run to a million
			// lines.
			var line []byte
			var sec int64
			var submitted string
			for i := range t.Len() {
				j := t.Job(i)
				if s := j.SubmitTime.Unix(); s != sec || submitted == "" {
					sec, submitted = s, j.SubmitTime.Local().Format("Jan _2 15:04:05")
				}
				line = line[:0]
				for _, cell := range [...]string{jobLabel(j), j.User, paint(stateColour(j.State), string(j.State)), j.Spec.Queue,
					dash(j.Node), strconv.Itoa(j.Spec.Cores), jobName(j), submitted} {
					line = append(append(line, cell...), '\t')
				}
				line = append(append(line, j.Reason...), '\n')
				if _, err := tw.Write(line); err != nil {
					return err
				}
			}
			return tw.Flush()
		},
	})
}

func jobCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "job",
		Usage:     "show one job",
		ArgsUsage: "ID",
		Description: `Shows a job's spec and state: why it waits, where it runs, and once ended
its exit code, signal, peak memory and CPU time. 42[7] is one element of
array 42.

   gantry job 42
   gantry job '42[7]' --json`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the job as one JSON object"}, serverFlag},
		Action: func(c *cli.Context) error {
			_, j, err := oneJob(c, "job")
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, j)
			}
			printJob(c.App.Writer, j)
			return nil
		},
	})
}

func killCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "kill",
		Usage:     "kill running jobs, cancel pending ones",
		ArgsUsage: "ID...",
		Description: `Running jobs get SIGTERM, then SIGKILL; pending and held ones are
cancelled. An array id kills every element; 42[7] one element. With
--json, prints the jobs as they are after the request. With -s, running
jobs are sent that signal instead (every process of the job, on all its
nodes) and go on running unless it ends them.

   gantry kill 42 43
   gantry kill '42[7]' --json
   gantry kill -s USR1 42      # e.g. checkpoint now`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "s", Aliases: []string{"signal"}, Usage: "send this signal (USR1, SIGHUP, 10, ...) to running jobs instead of killing them"},
			jsonFlag("print the jobs as they now are, as JSON"), serverFlag},
		Action: func(c *cli.Context) error {
			if sig := c.String("s"); sig != "" {
				name, err := api.ParseSignal(sig)
				if err != nil {
					return usagef("kill: -s: %v", err)
				}
				return forEachJob(c, "kill", func(cl *client.Client, ref string) (api.Job, string, error) {
					j, err := cl.Signal(c.Context, ref, name)
					return j, "is being signaled with " + name, err
				})
			}
			return forEachJob(c, "kill", func(cl *client.Client, ref string) (api.Job, string, error) {
				j, err := cl.KillRef(c.Context, ref)
				if err == nil && j.State == api.StateCancelled {
					return j, "is cancelled", nil
				}
				return j, "is being terminated", err
			})
		},
	})
}

// forEachJob applies do to every job id among c's arguments, printing
// "Job <ID> WHAT" for each success (with --json, the jobs do returned, as
// one JSON list) and the error for each failure, and fails if any did.
func forEachJob(c *cli.Context, verb string, do func(cl *client.Client, ref string) (j api.Job, what string, err error)) error {
	if c.NArg() == 0 {
		return usagef("%s: missing job id", verb)
	}
	var ids []string
	for _, a := range c.Args().Slice() {
		ref, err := api.ParseJobRef(a)
		if err != nil {
			return usagef("%v", err)
		}
		ids = append(ids, ref.String())
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	failed := 0
	done := []api.Job{}
	for _, id := range ids {
		j, what, err := do(cl, id)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "Job <%s>: %v\n", id, err)
			failed++
			continue
		}
		if c.Bool("json") {
			done = append(done, j)
			continue
		}
		fmt.Fprintf(c.App.Writer, "Job <%s> %s\n", id, what)
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, api.JobList{Jobs: done}); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d jobs failed", verb, failed, len(ids))
	}
	return nil
}

// holdCommand makes gantry hold (hold true) and gantry release.
func holdCommand(hold bool) *cli.Command {
	if hold {
		return jobVerbCommand("hold", "hold jobs that have not started: they wait until released", `A held job stays pending until gantry release; a job that has started
cannot be held.

   gantry hold 42 43
   gantry hold 42 --json`, "is held", func(c *cli.Context, cl *client.Client, ref string) (api.Job, error) {
			return cl.SetHold(c.Context, ref, true)
		})
	}
	return jobVerbCommand("release", "release held jobs", `Lets held jobs (gantry hold, gantry sub -H) be scheduled again.

   gantry release 42 43`, "is released", func(c *cli.Context, cl *client.Client, ref string) (api.Job, error) {
		return cl.SetHold(c.Context, ref, false)
	})
}

// jobVerbCommand makes a command that does one thing to each job named
// (do) and says "Job <ID> done" for each, or prints the jobs as JSON.
func jobVerbCommand(name, usage, desc, done string, do func(*cli.Context, *client.Client, string) (api.Job, error)) *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "ID...",
		Description: desc,
		Flags:       []cli.Flag{jsonFlag("print the jobs as they now are, as JSON"), serverFlag},
		Action: func(c *cli.Context) error {
			return forEachJob(c, name, func(cl *client.Client, ref string) (api.Job, string, error) {
				j, err := do(c, cl, ref)
				return j, done, err
			})
		},
	})
}

func nodesCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "nodes",
		Usage: "list the nodes (-l NODE: one node in detail, with its topology)",
		Description: `Lists every node with its state, cores and memory, what is allocated,
its jobs and when it was last heard from.

   gantry nodes
   gantry nodes -l gpu07
   gantry nodes --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "l", Aliases: []string{"long"}, Usage: "show one node in detail"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"}, serverFlag,
		},
		Action: func(c *cli.Context) error {
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			if name := c.String("l"); name != "" {
				n, err := cl.Node(c.Context, name)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, n)
				}
				return printNode(c.App.Writer, n)
			}
			nodes, err := cl.Nodes(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.NodeList{Nodes: nodes})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tCORES\tALLOC\tMEMORY\tALLOC_MEM\tJOBS\tLAST_HEARD\tREASON")
			for _, n := range nodes {
				reason := ""
				if n.Drain != nil {
					reason = fmt.Sprintf("%s (%s, %s)", n.Drain.Reason, n.Drain.By, n.Drain.Since.Local().Format("Jan _2 15:04"))
				}
				fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%d\t%s\t%s\n", n.Name, n.State, len(n.CPUs), n.AllocCores,
					api.FormatMemory(n.MemoryBytes), api.FormatMemory(n.AllocMemoryBytes), n.Jobs,
					time.Since(n.LastHeartbeat).Round(time.Second).String()+" ago", reason)
			}
			return tw.Flush()
		},
	})
}

func parseJobID(s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, usagef("job id %q: want a positive integer", s)
	}
	return id, nil
}

// jsonFlag is the --json flag of a command that prints what it did.
func jsonFlag(usage string) cli.Flag {
	return &cli.BoolFlag{Name: "json", Usage: usage}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// jobLabel is how a job is shown: its id, "42[7]" for an array element,
// "42[1-100]" for an array.
func jobLabel(j api.Job) string {
	switch {
	case j.ArrayID != 0:
		return fmt.Sprintf("%d[%d]", j.ArrayID, j.ArrayIndex)
	case j.Spec.Array != "":
		return fmt.Sprintf("%d[%s]", j.ID, j.Spec.Array)
	}
	return strconv.FormatInt(j.ID, 10)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func jobName(j api.Job) string {
	if j.Spec.Name != "" {
		return j.Spec.Name
	}
	if len(j.Spec.Command) > 0 {
		return filepath.Base(j.Spec.Command[0])
	}
	return "-"
}

// elementSummary renders an array's element counts: "3 RUNNING, 97 RUNNABLE".
func elementSummary(counts map[api.JobState]int64) string {
	var parts []string
	for _, st := range []api.JobState{api.StatePending, api.StateRunnable, api.StateStarting, api.StateRunning,
		api.StateSucceeded, api.StateFailed, api.StateCancelled, api.StateTimeout, api.StateNodeFail} {
		if n := counts[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	return strings.Join(parts, ", ")
}

// printJob prints one job for a person.
func printJob(w io.Writer, j api.Job) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	row("Job", jobLabel(j))
	if j.ArrayID != 0 && j.ID != 0 {
		row("Element job id", strconv.FormatInt(j.ID, 10))
	}
	if j.Spec.Array != "" {
		row("Array", j.Spec.Array)
		if j.Spec.ArrayThrottle > 0 {
			row("Throttle", strconv.Itoa(j.Spec.ArrayThrottle))
		}
		row("Elements", elementSummary(j.Elements))
	}
	row("Name", jobName(j))
	row("User", fmt.Sprintf("%s (uid %d)", j.User, j.UID))
	row("State", string(j.State))
	row("Reason", j.Reason)
	row("Queue", j.Spec.Queue)
	row("Command", strings.Join(j.Spec.Command, " "))
	row("Directory", j.Spec.Cwd)
	if j.Spec.Gang() {
		what := fmt.Sprintf("%d, %d tasks each", j.Spec.Nodes, j.Spec.NodeTasks())
		if j.Spec.TasksPerGPU == 1 {
			what += " (one per GPU)"
		}
		row("Nodes", what)
		row("Cores", strconv.Itoa(j.Spec.Cores)+" per node")
		if j.Spec.NumGPUs > 0 {
			row("GPUs", strconv.Itoa(j.Spec.NumGPUs)+" per node")
		}
	} else {
		row("Cores", strconv.Itoa(j.Spec.Cores))
	}
	if j.Spec.MemoryBytes > 0 {
		row("Memory limit", api.FormatMemory(j.Spec.MemoryBytes))
	}
	if j.Spec.WalltimeSeconds > 0 {
		row("Walltime", (time.Duration(j.Spec.WalltimeSeconds) * time.Second).String())
	}
	if r := j.Spec.Retry; r != nil {
		row("Attempt", fmt.Sprintf("%d of %d", max(j.Attempt, 1), r.Attempts))
	}
	switch {
	case j.Suspended:
		row("Suspended", "yes (gantry continue to thaw it)")
	case j.SuspendRequested:
		row("Suspended", "requested")
	}
	if p := j.Priority; p != nil {
		row("Priority", fmt.Sprintf("%.0f (queue %.2f, age %.2f, fair share %.2f, size %.2f, boost %d)", p.Priority, p.Queue, p.Age, p.FairShare, p.Size, p.Boost))
	}
	if len(j.Parts) == 0 {
		row("Node", j.Node)
		if len(j.CPUs) > 0 {
			row("CPUs", fmt.Sprint(j.CPUs))
		}
	}
	for _, p := range j.Parts {
		what := fmt.Sprintf("%s (%s) cpus %s", p.Node, p.Address, cpuset.Format(p.CPUs))
		if len(p.GPUs) > 0 {
			what += fmt.Sprintf(" gpus %v", p.GPUs)
		}
		switch {
		case p.ExitCode != nil && p.Signal != "":
			what += fmt.Sprintf(": ended by %s", p.Signal)
		case p.ExitCode != nil:
			what += fmt.Sprintf(": exited %d", *p.ExitCode)
		case p.StartTime != nil:
			what += ": running"
		case p.Ready:
			what += ": ready"
		}
		row(fmt.Sprintf("Rank %d", p.Rank), what)
	}
	row("Submitted", j.SubmitTime.Local().Format(time.DateTime))
	if j.StartTime != nil {
		row("Started", j.StartTime.Local().Format(time.DateTime))
	}
	if j.EndTime != nil {
		row("Ended", j.EndTime.Local().Format(time.DateTime))
	}
	if j.ExitCode != nil {
		row("Exit code", strconv.Itoa(*j.ExitCode))
		row("Signal", j.Signal)
		row("Peak memory", api.FormatMemory(j.PeakMemoryBytes))
		row("CPU time", fmt.Sprintf("%.2fs", j.CPUTimeSeconds))
	}
	tw.Flush()
}

// oneJobRef parses the command's single argument, a job id such as 42 or
// 42[7]; anything else is a usage error naming the command.
func oneJobRef(c *cli.Context, cmd string) (api.JobRef, error) {
	if c.NArg() != 1 {
		return api.JobRef{}, usagef("%s: want exactly one job id, got %d arguments", cmd, c.NArg())
	}
	ref, err := api.ParseJobRef(c.Args().First())
	if err != nil {
		return api.JobRef{}, usagef("%v", err)
	}
	return ref, nil
}

// oneJob fetches the job the command's single argument names (see
// oneJobRef), with the client it used.
func oneJob(c *cli.Context, cmd string) (*client.Client, api.Job, error) {
	ref, err := oneJobRef(c, cmd)
	if err != nil {
		return nil, api.Job{}, err
	}
	cl, err := newClient(c)
	if err != nil {
		return nil, api.Job{}, err
	}
	j, err := cl.JobByRef(c.Context, ref.String())
	return cl, j, err
}
