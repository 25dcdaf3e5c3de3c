package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func reserveCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "reserve",
		Usage: "reserve nodes for maintenance, or for some users' jobs (admins)",
		Description: `From --start for --duration no job runs on the nodes: backfill starts a
job there only if its walltime ends before the reservation (a job without
a walltime waits until after it). With --users it is an advance
reservation (LSF's brsvadd): those users' jobs submitted into it
(gantry sub -U ID, bsub -U ID) run on its nodes within its window, and
nobody else's. gantry reservations lists them.

   gantry reserve --nodes gpu01,gpu02 --start "2026-12-01 08:00" --duration 4h --reason "firmware"
   gantry reserve --nodes gpu03 --start 9:00 --duration 3h --reason "course" --users alice,bob`,
		Flags: []cli.Flag{
			&cli.StringSliceFlag{Name: "nodes", Usage: "node names", Required: true},
			&cli.StringFlag{Name: "start", Usage: "YYYY-MM-DD HH:MM, RFC 3339, or [[[year:]month:]day:]hour:minute", Required: true},
			&cli.DurationFlag{Name: "duration", Usage: "how long, e.g. 4h", Required: true},
			&cli.StringFlag{Name: "reason", Usage: "why (shown in gantry reservations)", Required: true},
			&cli.StringSliceFlag{Name: "users", Usage: "an advance reservation for these users' jobs (-U ID)"},
			jsonFlag("print the reservation as JSON"),
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			start, err := api.ParseBeginTime(c.String("start"), time.Now())
			if err != nil {
				return usagef("reserve: --start: %v", strings.TrimPrefix(err.Error(), "begin time "))
			}
			d := c.Duration("duration")
			if d <= 0 {
				return usagef("reserve: --duration %s: must be positive", d)
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			r, err := cl.Reserve(c.Context, api.ReservationRequest{Nodes: c.StringSlice("nodes"), Start: start,
				DurationSeconds: int64(d / time.Second), Reason: c.String("reason"), Users: c.StringSlice("users")})
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, r)
			}
			fmt.Fprintf(c.App.Writer, "Reservation <%d> on %s from %s to %s\n", r.ID, strings.Join(r.Nodes, ","),
				r.Start.Local().Format(time.DateTime), r.End.Local().Format(time.DateTime))
			return nil
		},
	})
}

func reservationsCommand() *cli.Command {
	return &cli.Command{
		Name:  "reservations",
		Usage: "list reservations; reservations rm ID removes one",
		Description: `Lists the reservations made with gantry reserve, with their nodes, start
and end (local time), the users whose jobs may run in them ("-" for a
maintenance window), who made them and why.

   gantry reservations
   gantry reservations rm 3`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}, serverFlag},
		Action: func(c *cli.Context) error {
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			rs, err := cl.Reservations(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.ReservationList{Reservations: rs})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNODES\tSTART\tEND\tUSERS\tBY\tREASON")
			for _, r := range rs {
				users := strings.Join(r.Users, ",")
				if users == "" {
					users = "-"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, strings.Join(r.Nodes, ","), r.Start.Local().Format("2006-01-02 15:04"),
					r.End.Local().Format("2006-01-02 15:04"), users, r.By, r.Reason)
			}
			return tw.Flush()
		},
		Subcommands: []*cli.Command{withUsageErrors(&cli.Command{
			Name: "rm", Usage: "remove a reservation (admins)", ArgsUsage: "ID", Flags: []cli.Flag{serverFlag},
			Description: "   gantry reservations rm 3",
			Action: func(c *cli.Context) error {
				if c.NArg() != 1 {
					return usagef("reservations rm: want one reservation id")
				}
				id, err := parseJobID(c.Args().First())
				if err != nil {
					return err
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				if err := cl.DeleteReservation(c.Context, id); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "Reservation <%d> is removed\n", id)
				return nil
			},
		})},
	}
}
