package cli

import (
	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

// suspendCommand makes gantry suspend (on) and gantry continue.
func suspendCommand(on bool) *cli.Command {
	if on {
		return jobVerbCommand("suspend", "suspend running jobs (cgroup freezer); they keep their node", `Freezes running jobs on their node: they keep their memory, cores and
GPUs, use no CPU, and their walltime clock stops until gantry continue.

   gantry suspend 42 43`, "is being suspended", func(c *cli.Context, cl *client.Client, ref string) (api.Job, error) {
			return cl.SetSuspend(c.Context, ref, true)
		})
	}
	return jobVerbCommand("continue", "continue suspended jobs", `Thaws jobs frozen by gantry suspend; their walltime clock runs again.

   gantry continue 42`, "is being continued", func(c *cli.Context, cl *client.Client, ref string) (api.Job, error) {
		return cl.SetSuspend(c.Context, ref, false)
	})
}
