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
	"github.com/urfave/cli/v2"
)

func jobsCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "jobs",
		Usage: "list your jobs (all users' with -a)",
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
			jobs, err := cl.Jobs(c.Context, c.Bool("a"), states...)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.JobList{Jobs: jobs})
			}
			if len(jobs) == 0 {
				fmt.Fprintln(c.App.Writer, "No job found")
				return nil
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "JOBID\tUSER\tSTATE\tQUEUE\tNODE\tCORES\tNAME\tSUBMITTED\tREASON")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", jobLabel(j), j.User, j.State, j.Spec.Queue,
					dash(j.Node), j.Spec.Cores, jobName(j), j.SubmitTime.Local().Format("Jan _2 15:04:05"), j.Reason)
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
		Flags:     []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print the job as one JSON object"}, serverFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("job: want exactly one job id, got %d arguments", c.NArg())
			}
			ref, err := api.ParseJobRef(c.Args().First())
			if err != nil {
				return usagef("%v", err)
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			j, err := cl.JobByRef(c.Context, ref.String())
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
		Flags:     []cli.Flag{serverFlag},
		Action: func(c *cli.Context) error {
			return forEachJob(c, "kill", func(cl *client.Client, ref string) (string, error) {
				j, err := cl.KillRef(c.Context, ref)
				if err == nil && j.State == api.StateCancelled {
					return "is cancelled", nil
				}
				return "is being terminated", err
			})
		},
	})
}

// forEachJob applies do to every job id among c's arguments, printing
// "Job <ID> WHAT" for each success and the error for each failure, and
// fails if any did.
func forEachJob(c *cli.Context, verb string, do func(cl *client.Client, ref string) (what string, err error)) error {
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
	for _, id := range ids {
		what, err := do(cl, id)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "Job <%s>: %v\n", id, err)
			failed++
			continue
		}
		fmt.Fprintf(c.App.Writer, "Job <%s> %s\n", id, what)
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d jobs failed", verb, failed, len(ids))
	}
	return nil
}

// holdCommand makes gantry hold (hold true) and gantry release.
func holdCommand(hold bool) *cli.Command {
	name, usage, done := "release", "release held jobs", "is released"
	if hold {
		name, usage, done = "hold", "hold jobs that have not started: they wait until released", "is held"
	}
	return withUsageErrors(&cli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "ID...",
		Flags:     []cli.Flag{serverFlag},
		Action: func(c *cli.Context) error {
			return forEachJob(c, name, func(cl *client.Client, ref string) (string, error) {
				_, err := cl.SetHold(c.Context, ref, hold)
				return done, err
			})
		},
	})
}

func nodesCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "nodes",
		Usage: "list the nodes (-l NODE: one node in detail, with its topology)",
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
	row("Cores", strconv.Itoa(j.Spec.Cores))
	if j.Spec.MemoryBytes > 0 {
		row("Memory limit", api.FormatMemory(j.Spec.MemoryBytes))
	}
	if j.Spec.WalltimeSeconds > 0 {
		row("Walltime", (time.Duration(j.Spec.WalltimeSeconds) * time.Second).String())
	}
	if r := j.Spec.Retry; r != nil {
		row("Attempt", fmt.Sprintf("%d of %d", max(j.Attempt, 1), r.Attempts))
	}
	row("Node", j.Node)
	if len(j.CPUs) > 0 {
		row("CPUs", fmt.Sprint(j.CPUs))
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
