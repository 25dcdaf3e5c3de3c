package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/sched"
	"github.com/gantry-hpc/gantry/sim"
	"github.com/gantry-hpc/gantry/swf"
	"github.com/urfave/cli/v2"
)

// policyFlag picks the live server's scheduling policy.
var policyFlag = &cli.StringFlag{Name: "policy", Usage: "scheduling policy: easy, conservative or fcfs", Value: "easy"}

// policyOf parses --policy.
func policyOf(c *cli.Context) (sched.Policy, error) {
	p, err := sched.ParsePolicy(c.String("policy"))
	if err != nil {
		return 0, usagef("--policy: %v", err)
	}
	return p, nil
}

func simCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "sim",
		Usage: "replay a Standard Workload Format log through the scheduling engine",
		Description: `Replays an SWF log (gzipped or not) on a virtual clock through the same
engine the server runs, and writes each job's schedule (--csv), the summary
(--summary, JSON) and an HTML report comparing policies (--report). With
--report and several policies (--policy easy,conservative, or all) each is
replayed and drawn side by side; --csv and --summary need a single policy.

   gantry sim --swf trace.swf.gz --policy easy --summary easy.json
   gantry sim --swf trace.swf.gz --policy all --report report.html`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "swf", Usage: "the SWF log `FILE` (.swf or .swf.gz)", Required: true},
			&cli.StringFlag{Name: "policy", Usage: "fcfs, easy or conservative; a comma-separated list or all with --report", Value: "easy"},
			&cli.StringFlag{Name: "estimates", Usage: "run-time estimates: user (requested time) or actual (run time)", Value: "user"},
			&cli.IntFlag{Name: "procs", Usage: "processors in the machine (default: the header's MaxProcs, else MaxNodes)"},
			&cli.IntFlag{Name: "jobs", Usage: "replay only the first `N` records of the log"},
			&cli.StringFlag{Name: "nodes", Usage: "a heterogeneous cluster instead of one pool of processors, e.g. `'gpu:16x(64c,512G,8xH100/nvswitch),cpu:200x(128c,256G)'`"},
			&cli.IntFlag{Name: "gpu-percent", Usage: "with --nodes: the share of jobs made GPU jobs (chosen by a hash of the job number)", Value: sim.DefaultGPUPercent},
			&cli.StringFlag{Name: "csv", Usage: "write job_id,submit,start,end,procs to `OUT.csv`"},
			&cli.StringFlag{Name: "summary", Usage: "write the summary (JSON) to `OUT.json`"},
			&cli.StringFlag{Name: "report", Usage: "write an HTML report to `OUT.html`"},
			&cli.StringFlag{Name: "markdown", Usage: "append each summary as a Markdown table row to `FILE` (with the table's header if FILE is new or empty)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("sim takes no arguments (got %q)", c.Args().First())
			}
			var policies []sched.Policy
			spec := c.String("policy")
			if spec == "all" || (!c.IsSet("policy") && c.IsSet("report")) {
				spec = "fcfs,easy,conservative"
			}
			for _, name := range strings.Split(spec, ",") {
				p, err := sched.ParsePolicy(strings.TrimSpace(name))
				if err != nil {
					return usagef("--policy: %v", err)
				}
				policies = append(policies, p)
			}
			if len(policies) > 1 && (c.IsSet("csv") || c.IsSet("summary")) {
				return usagef("--csv and --summary need a single --policy (got %q)", spec)
			}
			est, err := sim.ParseEstimates(c.String("estimates"))
			if err != nil {
				return usagef("--estimates: %v", err)
			}
			if c.Int("procs") < 0 || c.Int("jobs") < 0 {
				return usagef("--procs and --jobs must not be negative")
			}
			var nodes []sim.NodeType
			if spec := c.String("nodes"); spec != "" {
				if nodes, err = sim.ParseNodes(spec); err != nil {
					return usagef("--nodes: %v", err)
				}
			}
			if c.Int("gpu-percent") < 0 || c.Int("gpu-percent") > 100 {
				return usagef("--gpu-percent must be 0 to 100")
			}
			log, err := swf.Open(c.String("swf"), c.Int("jobs"))
			if err != nil {
				return err
			}
			var runs []*sim.Result
			for _, p := range policies {
				start := time.Now()
				res, err := sim.Run(log, sim.Config{Policy: p, Estimates: est, Procs: c.Int("procs"), Nodes: nodes, GPUPercent: c.Int("gpu-percent")})
				if err != nil {
					return err
				}
				took := time.Since(start)
				s := res.Summarize()
				s.Trace = filepath.Base(c.String("swf"))
				fmt.Fprintf(c.App.Writer, "%s %s/%s: %d jobs (%d skipped) on %d procs; utilization %.1f%%, mean wait %.0f s, max wait %d s, mean bounded slowdown %.2f; %d passes in %.2fs\n",
					s.Trace, s.Policy, s.Estimates, s.Jobs, s.Skipped.Total, s.Procs, 100*s.Utilization,
					s.MeanWaitSeconds, s.MaxWaitSeconds, s.MeanBoundedSlowdown, res.Passes, took.Seconds())
				if s.Nodes != "" {
					fmt.Fprintf(c.App.Writer, "  %d GPUs, GPU utilization %.1f%%; %d GPU jobs (mean wait %.0f s), %d CPU jobs (mean wait %.0f s), %d multi-node gangs (mean wait %.0f s)\n",
						s.GPUs, 100*s.GPUUtilization, s.GPUJobs, s.MeanWaitGPUJobs, s.Jobs-s.GPUJobs, s.MeanWaitCPUJobs, s.GangJobs, s.MeanWaitGangJobs)
				}
				if path := c.String("csv"); path != "" {
					if err := writeFile(path, func(w io.Writer) error { return sim.WriteCSV(w, res.Jobs) }); err != nil {
						return err
					}
				}
				if path := c.String("summary"); path != "" {
					if err := writeFile(path, func(w io.Writer) error { return sim.WriteSummary(w, s) }); err != nil {
						return err
					}
				}
				if path := c.String("markdown"); path != "" {
					if err := appendMarkdown(path, s); err != nil {
						return err
					}
				}
				runs = append(runs, res)
			}
			if path := c.String("report"); path != "" {
				title := fmt.Sprintf("%s: %s estimates", filepath.Base(c.String("swf")), est)
				return writeFile(path, func(w io.Writer) error { return sim.WriteReport(w, title, runs) })
			}
			return nil
		},
	})
}

// writeFile writes path through fn, reporting the first error.
func writeFile(path string, fn func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fn(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// appendMarkdown appends s as a row of the summaries table to path.
func appendMarkdown(path string, s sim.Summary) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if st, err := f.Stat(); err == nil && st.Size() == 0 {
		fmt.Fprintln(f, "| trace | policy | estimates | jobs | skipped | makespan (s) | utilization | mean wait (s) | max wait (s) | mean bounded slowdown |")
		fmt.Fprintln(f, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|")
	}
	fmt.Fprintf(f, "| %s | %s | %s | %d | %d | %d | %.4f | %.1f | %d | %.2f |\n", strings.TrimSuffix(s.Trace, ".swf.gz"), s.Policy, s.Estimates,
		s.Jobs, s.Skipped.Total, s.MakespanSeconds, s.Utilization, s.MeanWaitSeconds, s.MaxWaitSeconds, s.MeanBoundedSlowdown)
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
