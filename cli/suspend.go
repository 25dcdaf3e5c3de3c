package cli

import (
	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

// suspendCommand makes gantry suspend (on) and gantry continue.
func suspendCommand(on bool) *cli.Command {
	name, usage, done := "continue", "continue suspended jobs", "is being continued"
	desc := `Thaws jobs frozen by gantry suspend; their walltime clock runs again.

   gantry continue 42`
	if on {
		name, usage, done = "suspend", "suspend running jobs (cgroup freezer); they keep their node", "is being suspended"
		desc = `Freezes running jobs on their node: they keep their memory, cores and
GPUs, use no CPU, and their walltime clock stops until gantry continue.

   gantry suspend 42 43`
	}
	return withUsageErrors(&cli.Command{
		Name:        name,
		Usage:       usage,
		ArgsUsage:   "ID...",
		Description: desc,
		Flags:       []cli.Flag{jsonFlag("print the jobs as they now are, as JSON"), serverFlag},
		Action: func(c *cli.Context) error {
			return forEachJob(c, name, func(cl *client.Client, ref string) (api.Job, string, error) {
				j, err := cl.SetSuspend(c.Context, ref, on)
				return j, done, err
			})
		},
	})
}
