package cli

import (
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

func drainCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "drain",
		Usage:     "drain nodes: no new job starts there (admins)",
		ArgsUsage: "NODE...",
		Description: `Running jobs go on; the node is DRAINING until they end, then DRAINED.
With --deadline, jobs still running that long after the drain are killed,
or with --requeue put back in the queue to run elsewhere (a new try).
gantry resume NODE ends the drain.

   gantry drain gpu07 --reason "replace PSU" --deadline 2h
   gantry drain gpu07 gpu08 --reason "kernel update" --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "reason", Usage: "why (required; shown in gantry nodes)", Required: true},
			&cli.DurationFlag{Name: "deadline", Usage: "kill the jobs still running after this long"},
			&cli.BoolFlag{Name: "requeue", Usage: "at the deadline, put the jobs still running back in the queue instead"},
			jsonFlag("print the nodes as they now are, as JSON"),
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			if d := c.Duration("deadline"); d < 0 {
				return usagef("drain: --deadline %s: must not be negative", d)
			}
			req := api.DrainRequest{Reason: c.String("reason"), DeadlineSeconds: int64((c.Duration("deadline") + time.Second - 1) / time.Second),
				Requeue: c.Bool("requeue")}
			return forEachNode(c, "drain", func(cl *client.Client, name string) (api.Node, error) {
				return cl.Drain(c.Context, name, req)
			})
		},
	})
}

func resumeCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "resume",
		Usage:     "end the drain of nodes (admins)",
		ArgsUsage: "NODE...",
		Description: `The nodes take new jobs again.

   gantry resume gpu07 gpu08`,
		Flags: []cli.Flag{jsonFlag("print the nodes as they now are, as JSON"), serverFlag},
		Action: func(c *cli.Context) error {
			return forEachNode(c, "resume", func(cl *client.Client, name string) (api.Node, error) {
				return cl.ResumeNode(c.Context, name)
			})
		},
	})
}

// forEachNode applies do to every node named among c's arguments and
// prints each node's new state (with --json, the nodes as one JSON list).
func forEachNode(c *cli.Context, verb string, do func(cl *client.Client, name string) (api.Node, error)) error {
	if c.NArg() == 0 {
		return usagef("%s: missing node name", verb)
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	failed := 0
	done := []api.Node{}
	for _, name := range c.Args().Slice() {
		n, err := do(cl, name)
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "Node <%s>: %v\n", name, err)
			failed++
			continue
		}
		if c.Bool("json") {
			done = append(done, n)
			continue
		}
		fmt.Fprintf(c.App.Writer, "Node <%s> is %s\n", n.Name, n.State)
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, api.NodeList{Nodes: done}); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%s: %d of %d nodes failed", verb, failed, c.NArg())
	}
	return nil
}
