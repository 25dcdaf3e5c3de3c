package cli

import (
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func modCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "mod",
		Usage:     "change a job that has not started (like bmod)",
		ArgsUsage: "ID",
		Description: `Only the options given change; they mean what they mean for gantry sub.
The job is checked again against its (new) queue.

   gantry mod 42 -n 8 -W 4:00
   gantry mod 42 -w 'done(41)'
   gantry mod 42 -q long --json`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "n", Aliases: []string{"cores"}},
			&cli.StringFlag{Name: "M", Aliases: []string{"mem"}},
			&cli.StringFlag{Name: "W", Aliases: []string{"walltime"}},
			&cli.StringFlag{Name: "q", Aliases: []string{"queue"}},
			&cli.StringFlag{Name: "J", Aliases: []string{"name"}},
			&cli.StringFlag{Name: "o", Aliases: []string{"output"}},
			&cli.StringFlag{Name: "e", Aliases: []string{"error"}},
			&cli.StringFlag{Name: "w", Aliases: []string{"dependency"}},
			&cli.StringFlag{Name: "b", Aliases: []string{"begin"}},
			&cli.IntFlag{Name: "throttle", Usage: "an array's %N"},
			jsonFlag("print the job as it now is, as JSON"),
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			ref, err := oneJobRef(c, "mod")
			if err != nil {
				return err
			}
			var ch api.JobChanges
			str := func(flag string, dst **string) {
				if c.IsSet(flag) {
					v := c.String(flag)
					*dst = &v
				}
			}
			str("q", &ch.Queue)
			str("J", &ch.Name)
			str("o", &ch.Stdout)
			str("e", &ch.Stderr)
			str("w", &ch.Dependency)
			if c.IsSet("n") {
				n := c.Int("n")
				ch.Cores = &n
			}
			if c.IsSet("throttle") {
				n := c.Int("throttle")
				ch.ArrayThrottle = &n
			}
			if c.IsSet("M") {
				m, err := api.ParseMemory(c.String("M"))
				if err != nil {
					return usagef("mod: -M: %v", err)
				}
				ch.MemoryBytes = &m
			}
			if c.IsSet("W") {
				d, err := api.ParseWalltime(c.String("W"))
				if err != nil {
					return usagef("mod: -W: %v", err)
				}
				sec := int64((d + time.Second - 1) / time.Second)
				ch.WalltimeSeconds = &sec
			}
			if c.IsSet("b") {
				t, err := api.ParseBeginTime(c.String("b"), time.Now())
				if err != nil {
					return usagef("mod: -b: %v", err)
				}
				ch.BeginTime = &t
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			j, err := cl.Modify(c.Context, ref.String(), ch)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, j)
			}
			fmt.Fprintf(c.App.Writer, "Parameters of job <%s> are being changed\n", ref)
			return nil
		},
	})
}
