package cli

import (
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func acctCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "acct",
		Usage: "accounting: one record per finished job (like bacct and sacct)",
		Description: `Lists finished jobs with their user, queue, node, cores, memory asked and
peak, CPU time, wait and run time, exit and reason, then totals. Times for
--since and --until are durations back from now (24h), dates
(2026-11-01) or RFC 3339.

   gantry acct --since 24h --format csv > today.csv
   gantry acct -a --queue gpu --state FAILED
   gantry acct --since 2026-11-01 --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "a", Aliases: []string{"all-users"}, Usage: "every user's jobs (admins)"},
			&cli.StringFlag{Name: "u", Aliases: []string{"user"}, Usage: "one user's jobs (admins, or yourself)"},
			&cli.StringFlag{Name: "queue", Aliases: []string{"q"}},
			&cli.StringFlag{Name: "state", Usage: "one final state: SUCCEEDED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL"},
			&cli.StringFlag{Name: "since", Usage: "jobs that ended at or after"},
			&cli.StringFlag{Name: "until", Usage: "jobs that ended before"},
			&cli.StringFlag{Name: "format", Usage: "table, csv or json", Value: "table"},
			jsonFlag("print JSON (--format json)"),
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			q := url.Values{}
			switch {
			case c.Bool("a"):
				q.Set("user", "all")
			case c.String("u") != "":
				q.Set("user", c.String("u"))
			}
			if v := c.String("queue"); v != "" {
				q.Set("queue", v)
			}
			if v := c.String("state"); v != "" {
				st := api.JobState(strings.ToUpper(v))
				if !st.Terminal() {
					return usagef("acct: --state %q: want a final state (SUCCEEDED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL)", v)
				}
				q.Set("state", string(st))
			}
			for _, key := range []string{"since", "until"} {
				if v := c.String(key); v != "" {
					t, err := parseWhen(v, time.Now())
					if err != nil {
						return usagef("acct: --%s: %v", key, err)
					}
					q.Set(key, t.UTC().Format(time.RFC3339))
				}
			}
			format := c.String("format")
			if c.Bool("json") {
				if c.IsSet("format") && format != "json" {
					return usagef("acct: --json and --format %s: choose one", format)
				}
				format = "json"
			}
			if format != "table" && format != "csv" && format != "json" {
				return usagef("acct: --format %q: want table, csv or json", format)
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			recs, err := cl.Accounting(c.Context, q)
			if err != nil {
				return err
			}
			switch format {
			case "json":
				return printJSON(c.App.Writer, api.AcctList{Records: recs})
			case "csv":
				return writeAcctCSV(c.App.Writer, recs)
			}
			return writeAcctTable(c.App.Writer, recs)
		},
	})
}

// parseWhen reads a time as a duration back from now ("24h", "90m"), a
// date ("2026-11-01", local midnight) or RFC 3339.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.ParseInLocation("2006-01-02", s, time.Local); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q: want a duration back from now (24h), a date (2026-11-01) or RFC 3339", s)
}

func exitText(r api.AcctRecord) string {
	if r.ExitCode == nil {
		return "-"
	}
	return strconv.Itoa(*r.ExitCode)
}

func recordLabel(r api.AcctRecord) string {
	if r.ArrayID != 0 {
		return fmt.Sprintf("%d[%d]", r.ArrayID, r.ArrayIndex)
	}
	return strconv.FormatInt(r.JobID, 10)
}

func writeAcctTable(w io.Writer, recs []api.AcctRecord) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "JOBID\tUSER\tQUEUE\tSTATE\tEXIT\tNODE\tCORES\tMEM_REQ\tMEM_PEAK\tCPU_TIME\tWAIT\tRUN\tTRIES")
	var cpu, wait, run float64
	for _, r := range recs {
		req := "-"
		if r.MemoryRequestedBytes > 0 {
			req = api.FormatMemory(r.MemoryRequestedBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%.1fs\t%s\t%s\t%d\n", recordLabel(r), r.User, r.Queue, r.State,
			exitText(r), dash(r.Node), r.Cores, req, api.FormatMemory(r.PeakMemoryBytes), r.CPUTimeSeconds,
			seconds(r.WaitSeconds), seconds(r.RunSeconds), r.Attempts)
		cpu, wait, run = cpu+r.CPUTimeSeconds, wait+r.WaitSeconds, run+r.RunSeconds
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := float64(len(recs)); n > 0 {
		fmt.Fprintf(w, "\n%d jobs; CPU time %.1fs; mean wait %s; mean run %s\n", len(recs), cpu, seconds(wait/n), seconds(run/n))
	} else {
		fmt.Fprintln(w, "No finished job found")
	}
	return nil
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func writeAcctCSV(w io.Writer, recs []api.AcctRecord) error {
	cw := csv.NewWriter(w)
	cw.Write([]string{"job_id", "array_id", "array_index", "name", "user", "uid", "queue", "node", "cores", "gpus",
		"memory_requested_bytes", "peak_memory_bytes", "cpu_time_seconds", "gpu_hours", "state", "exit_code", "reason",
		"attempts", "submit", "start", "end", "wait_seconds", "run_seconds"})
	for _, r := range recs {
		start := ""
		if r.Start != nil {
			start = r.Start.UTC().Format(time.RFC3339Nano)
		}
		exit := ""
		if r.ExitCode != nil {
			exit = strconv.Itoa(*r.ExitCode)
		}
		cw.Write([]string{
			strconv.FormatInt(r.JobID, 10), strconv.FormatInt(r.ArrayID, 10), strconv.FormatInt(r.ArrayIndex, 10), r.Name,
			r.User, strconv.FormatUint(uint64(r.UID), 10), r.Queue, r.Node, strconv.Itoa(r.Cores), strconv.Itoa(r.GPUs),
			strconv.FormatInt(r.MemoryRequestedBytes, 10), strconv.FormatInt(r.PeakMemoryBytes, 10),
			strconv.FormatFloat(r.CPUTimeSeconds, 'f', 3, 64), strconv.FormatFloat(r.GPUHours, 'f', 4, 64),
			string(r.State), exit, r.Reason, strconv.Itoa(r.Attempts), r.Submit.UTC().Format(time.RFC3339Nano), start,
			r.End.UTC().Format(time.RFC3339Nano), strconv.FormatFloat(r.WaitSeconds, 'f', 3, 64), strconv.FormatFloat(r.RunSeconds, 'f', 3, 64),
		})
	}
	cw.Flush()
	return cw.Error()
}
