package cli

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

func logsCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "logs",
		Usage:     "show a job's output (one part's, for a job on several nodes)",
		ArgsUsage: "ID",
		Description: `Prints what the job has written to its output files. Each part of a job on
several nodes writes its own files: rank 0 the job's -o file, rank R the
same name with .rankR before the extension (train.out, train.rank1.out).
The files are read directly: run this on the job's host or where a shared
filesystem shows them.

   gantry logs 42
   gantry logs 42 --rank 3 -f`,
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "rank", Usage: "the part of a job on several nodes (0: the first)"},
			&cli.BoolFlag{Name: "f", Aliases: []string{"follow"}, Usage: "follow the output until the job ends"},
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			cl, j, err := oneJob(c, "logs")
			if err != nil {
				return err
			}
			ref := refOf(j)
			rank := c.Int("rank")
			nodes := max(len(j.Parts), 1)
			if j.Spec.Gang() {
				nodes = j.Spec.Nodes
			}
			if rank < 0 || rank >= nodes {
				return usagef("logs: --rank %d: job %s has ranks 0 to %d", rank, ref, nodes-1)
			}
			if j.StartTime == nil && !j.State.Terminal() && len(j.Parts) == 0 {
				return fmt.Errorf("logs: job %s has not started yet", ref)
			}
			return showOutput(c.Context, cl, j, rank, c.Bool("f"), c.App.Writer)
		},
	})
}

func attachCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "attach",
		Usage:     "connect this terminal to an interactive job (bsub -I, -Is)",
		ArgsUsage: "ID",
		Description: `Connects to the terminal of an interactive job, as bsub -I did when it
submitted it (after a lost connection, for instance), and exits with the
job's exit code once it ends. --raw puts this terminal in raw mode, as
bsub -Is does.

   gantry attach 42 --raw`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "raw", Usage: "raw mode: every key goes to the job's terminal"}, serverFlag},
		Action: func(c *cli.Context) error {
			ref, err := oneJobRef(c, "attach")
			if err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			x := &lsfRun{ctx: c.Context, stdin: os.Stdin, out: c.App.Writer, err: c.App.ErrWriter, cl: cl}
			return runInteractive(x, cl, ref.String(), c.Bool("raw"))
		},
	})
}
