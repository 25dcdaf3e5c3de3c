package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func cronCommand() *cli.Command {
	idArg := func(c *cli.Context, verb string) (int64, error) {
		if c.NArg() != 1 {
			return 0, usagef("cron %s: want exactly one cron id, got %d arguments", verb, c.NArg())
		}
		return parseJobID(c.Args().First())
	}
	pause := func(verb string, p bool) *cli.Command {
		return withUsageErrors(&cli.Command{
			Name: verb, Usage: verb + " a recurring job", ArgsUsage: "ID",
			Description: pauseDesc[verb] + "\n\n   gantry cron " + verb + " 3",
			Flags:       []cli.Flag{jsonFlag("print the recurring job as JSON"), serverFlag},
			Action: func(c *cli.Context) error {
				id, err := idArg(c, verb)
				if err != nil {
					return err
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				cr, err := cl.PauseCron(c.Context, id, p)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, cr)
				}
				fmt.Fprintf(c.App.Writer, "Cron <%d> is %sd; next slot %s\n", cr.ID, verb, nextFire(cr))
				return nil
			},
		})
	}
	return &cli.Command{
		Name:  "cron",
		Usage: "recurring jobs",
		Description: `A recurring job submits a gantry sub command line on a cron schedule.

   gantry cron add '@daily' -- -n 2 -- ./backup.sh
   gantry cron ls
   gantry cron pause 3`,
		Subcommands: []*cli.Command{
			withUsageErrors(&cli.Command{
				Name:      "add",
				Usage:     "submit a job on a schedule",
				ArgsUsage: "'SCHEDULE' -- [SUB FLAGS] COMMAND [ARGS...]",
				Description: `SCHEDULE is a five-field cron expression (minute hour day month weekday)
or @hourly, @daily, @weekly, @monthly, @yearly, read in --tz (default UTC).
What follows -- is a gantry sub command line. Each slot fires once, also
across daylight-saving changes; slots missed while the server was down are
made up by one run; --overlap says what a slot does while the previous run
is still going.

   gantry cron add '30 2 * * *' --tz Europe/Paris -- -n 4 -M 8G -W 2:00 -- ./nightly.sh`,
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "tz", Usage: "IANA time zone of the schedule (default UTC)"},
					&cli.StringFlag{Name: "overlap", Usage: "skip, queue or allow", Value: "skip"},
					jsonFlag("print the recurring job as JSON"),
					serverFlag,
				},
				Action: func(c *cli.Context) error {
					args := c.Args().Slice()
					if len(args) < 2 {
						return usagef("cron add: want 'SCHEDULE' -- COMMAND (see gantry cron add --help)")
					}
					schedule, rest := args[0], args[1:]
					if rest[0] == "--" {
						rest = rest[1:]
					}
					job, err := parseSubArgs(c.Context, rest, c.App.ErrWriter)
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					cr, err := cl.AddCron(c.Context, api.CronSpec{Schedule: schedule, TZ: c.String("tz"), Overlap: c.String("overlap"), Job: job})
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, cr)
					}
					fmt.Fprintf(c.App.Writer, "Cron <%d> is added to queue <%s>; next slot %s\n", cr.ID, cr.Job.Queue, nextFire(cr))
					return nil
				},
			}),
			withUsageErrors(&cli.Command{
				Name: "ls", Usage: "list recurring jobs", Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}, serverFlag},
				Description: `Lists recurring jobs with their schedule, next slot (local time), last
job and how many slots fired and were skipped.

   gantry cron ls
   gantry cron ls --json`,
				Action: func(c *cli.Context) error {
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					crons, err := cl.Crons(c.Context)
					if err != nil {
						return err
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, api.CronList{Crons: crons})
					}
					tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tUSER\tSCHEDULE\tTZ\tOVERLAP\tSTATE\tNEXT\tLAST_JOB\tFIRED\tSKIPPED\tCOMMAND")
					for _, cr := range crons {
						state := "active"
						if cr.Paused {
							state = "paused"
						}
						tz := cr.TZ
						if tz == "" {
							tz = "UTC"
						}
						fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", cr.ID, cr.User, cr.Schedule, tz, cr.Overlap, state,
							nextFire(cr), dash(jobRef(cr.LastJob)), cr.Fired, cr.Skipped, strings.Join(cr.Job.Command, " "))
					}
					return tw.Flush()
				},
			}),
			withUsageErrors(&cli.Command{
				Name: "rm", Usage: "remove a recurring job (its jobs are not touched)", ArgsUsage: "ID", Flags: []cli.Flag{serverFlag},
				Description: "   gantry cron rm 3",
				Action: func(c *cli.Context) error {
					id, err := idArg(c, "rm")
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					if err := cl.DeleteCron(c.Context, id); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "Cron <%d> is removed\n", id)
					return nil
				},
			}),
			pause("pause", true), pause("resume", false),
		},
	}
}

// pauseDesc describes gantry cron pause and resume.
var pauseDesc = map[string]string{
	"pause":  "A paused recurring job skips its slots until resumed.",
	"resume": "Slots fire again from the next one; those skipped while paused are not made up.",
}

func nextFire(cr api.Cron) string {
	if cr.NextFire == nil {
		return "-"
	}
	return cr.NextFire.Local().Format(time.DateTime)
}

func jobRef(id int64) string {
	if id == 0 {
		return ""
	}
	return fmt.Sprint(id)
}

// parseSubArgs parses a gantry sub command line (flags and command) into a
// job spec without submitting it.
func parseSubArgs(ctx context.Context, args []string, stderr io.Writer) (api.JobSpec, error) {
	var spec api.JobSpec
	captured := false
	app := &cli.App{
		Name: "gantry", Writer: io.Discard, ErrWriter: stderr, ExitErrHandler: func(*cli.Context, error) {},
		Commands: []*cli.Command{newSubCommand(func(_ *cli.Context, s api.JobSpec) error {
			spec, captured = s, true
			return nil
		})},
	}
	if err := app.RunContext(ctx, append([]string{"gantry", "sub"}, args...)); err != nil {
		return spec, err
	}
	if !captured {
		return spec, usagef("cron add: no job command given")
	}
	return spec, nil
}
