package cli

import (
	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

// moveCommand makes gantry top (top true) and gantry bot, like LSF's btop
// and bbot.
func moveCommand(top bool) *cli.Command {
	if top {
		return jobVerbCommand("top", "move waiting jobs to the top of your queue (like btop)", `The job's age for priority then counts from before your oldest waiting
job, so it goes first among your jobs of the same queue and size.

   gantry top 42`, "is moved to the top", func(c *cli.Context, cl *client.Client, ref string) (api.Job, error) {
			return cl.Move(c.Context, ref, true)
		})
	}
	return jobVerbCommand("bot", "move waiting jobs to the bottom of your queue (like bbot)", `The job's age for priority then counts from after your newest waiting
job, so it goes last among your jobs.

   gantry bot 42`, "is moved to the bottom", func(c *cli.Context, cl *client.Client, ref string) (api.Job, error) {
		return cl.Move(c.Context, ref, false)
	})
}
