package cli

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

func queuesCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "queues",
		Usage: "list the queues",
		Description: `Lists every queue with its priority, whether it is open (accepts jobs) and
active (starts them), its walltimes, its job counts and who may use it.

   gantry queues
   gantry queues --json`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}, serverFlag},
		Action: func(c *cli.Context) error {
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			qs, err := cl.Queues(c.Context)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.QueueList{Queues: qs})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "QUEUE\tPRIO\tSTATUS\tDEFAULT_WALL\tMAX_WALL\tPEND\tRUNNABLE\tRUN\tACCESS")
			for _, q := range qs {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", q.Name, q.Priority, queueStatus(q),
					walltime(q.DefaultWalltimeSeconds), walltime(q.MaxWalltimeSeconds), q.Pending, q.Runnable, q.Running, access(q))
			}
			return tw.Flush()
		},
	})
}

// queueStatus is LSF's STATUS column: Open or Closed, Active or Inact.
func queueStatus(q api.Queue) string {
	s := "Closed"
	if q.Open {
		s = "Open"
	}
	if q.Active {
		return s + ":Active"
	}
	return s + ":Inact"
}

func walltime(sec int64) string {
	if sec == 0 {
		return "-"
	}
	return (time.Duration(sec) * time.Second).String()
}

func access(q api.Queue) string {
	if len(q.Users) == 0 && len(q.Groups) == 0 {
		return "all"
	}
	var parts []string
	if len(q.Users) > 0 {
		parts = append(parts, "users="+strings.Join(q.Users, ","))
	}
	if len(q.Groups) > 0 {
		parts = append(parts, "groups="+strings.Join(q.Groups, ","))
	}
	return strings.Join(parts, " ")
}

// queueFlags are the settable fields of a queue.
func queueFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "priority", Usage: "queue priority (higher goes first)"},
		&cli.StringFlag{Name: "description"},
		&cli.StringFlag{Name: "default-walltime", Usage: "walltime of jobs that give none"},
		&cli.StringFlag{Name: "max-walltime", Usage: "largest walltime a job may ask for"},
		&cli.StringSliceFlag{Name: "users", Usage: "users who may submit (default: everyone)"},
		&cli.StringSliceFlag{Name: "groups", Usage: "groups who may submit"},
		&cli.StringSliceFlag{Name: "nodes", Usage: "node labels the queue's jobs need, KEY=VALUE"},
		&cli.IntFlag{Name: "max-running-jobs-per-user"},
		&cli.IntFlag{Name: "max-cores-per-user"},
		&cli.IntFlag{Name: "max-gpus-per-user"},
		&cli.StringSliceFlag{Name: "preempts", Usage: "queues whose jobs this queue may preempt"},
		&cli.StringFlag{Name: "preempt-mode", Usage: "requeue or suspend"},
		jsonFlag("print the queue as JSON"),
		serverFlag,
	}
}

// applyQueueFlags sets the fields whose flags were given.
func applyQueueFlags(c *cli.Context, q *api.Queue) error {
	if c.IsSet("priority") {
		q.Priority = c.Int("priority")
	}
	if c.IsSet("description") {
		q.Description = c.String("description")
	}
	for _, w := range []struct {
		flag string
		dst  *int64
	}{{"default-walltime", &q.DefaultWalltimeSeconds}, {"max-walltime", &q.MaxWalltimeSeconds}} {
		if !c.IsSet(w.flag) {
			continue
		}
		if c.String(w.flag) == "0" || c.String(w.flag) == "" {
			*w.dst = 0
			continue
		}
		d, err := api.ParseWalltime(c.String(w.flag))
		if err != nil {
			return usagef("--%s: %v", w.flag, err)
		}
		*w.dst = int64(d / time.Second)
	}
	if c.IsSet("users") {
		q.Users = c.StringSlice("users")
	}
	if c.IsSet("groups") {
		q.Groups = c.StringSlice("groups")
	}
	if c.IsSet("nodes") {
		q.Nodes = map[string]string{}
		for _, kv := range c.StringSlice("nodes") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				return usagef("--nodes %q: want KEY=VALUE", kv)
			}
			q.Nodes[k] = v
		}
	}
	for _, l := range []struct {
		flag string
		dst  *int
	}{{"max-running-jobs-per-user", &q.MaxRunningJobsPerUser}, {"max-cores-per-user", &q.MaxCoresPerUser}, {"max-gpus-per-user", &q.MaxGPUsPerUser}} {
		if c.IsSet(l.flag) {
			*l.dst = c.Int(l.flag)
		}
	}
	if c.IsSet("preempts") {
		q.Preempts = c.StringSlice("preempts")
	}
	if c.IsSet("preempt-mode") {
		q.PreemptMode = c.String("preempt-mode")
	}
	if err := q.Validate(); err != nil {
		return usagef("%v", err)
	}
	return nil
}

func queueCommand() *cli.Command {
	one := func(c *cli.Context, verb string) (string, error) {
		if c.NArg() != 1 {
			return "", usagef("queue %s: want exactly one queue name, got %d arguments", verb, c.NArg())
		}
		return c.Args().First(), nil
	}
	actionDesc := map[string]string{
		"open":       "An open queue accepts new jobs.",
		"close":      "A closed queue refuses new jobs; its jobs still run.",
		"activate":   "An active queue starts its jobs.",
		"inactivate": "An inactive queue accepts jobs but starts none until activated.",
	}
	action := func(verb string) *cli.Command {
		return withUsageErrors(&cli.Command{
			Name: verb, Usage: verb + " a queue", ArgsUsage: "NAME",
			Description: actionDesc[verb] + "\n\n   gantry queue " + verb + " gpu",
			Flags:       []cli.Flag{jsonFlag("print the queue as JSON"), serverFlag},
			Action: func(c *cli.Context) error {
				name, err := one(c, verb)
				if err != nil {
					return err
				}
				cl, err := newClient(c)
				if err != nil {
					return err
				}
				q, err := cl.QueueAction(c.Context, name, verb)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, q)
				}
				fmt.Fprintf(c.App.Writer, "Queue <%s> is now %s\n", q.Name, queueStatus(q))
				return nil
			},
		})
	}
	return &cli.Command{
		Name:  "queue",
		Usage: "define and control queues (admins)",
		Description: `Admins define queues here, or in the --queues file of gantry server.

   gantry queue add gpu --priority 50 --max-walltime 24h --groups ml
   gantry queue set gpu --max-gpus-per-user 8
   gantry queue close gpu`,
		Subcommands: []*cli.Command{
			withUsageErrors(&cli.Command{
				Name: "add", Usage: "define a new queue", ArgsUsage: "NAME", Flags: queueFlags(),
				Description: `The queue is open and active; flags not given keep their defaults.

   gantry queue add gpu --priority 50 --max-walltime 24h --groups ml --json`,
				Action: func(c *cli.Context) error {
					name, err := one(c, "add")
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					if _, err := cl.Queue(c.Context, name); err == nil {
						return fmt.Errorf("queue %s already exists (use gantry queue set)", name)
					}
					return putQueue(c, cl, api.Queue{Name: name, Open: true, Active: true}, "defined")
				},
			}),
			withUsageErrors(&cli.Command{
				Name: "set", Usage: "change a queue's settings (only the flags given)", ArgsUsage: "NAME", Flags: queueFlags(),
				Description: `Only the settings whose flags are given change; --max-walltime 0 removes
the limit.

   gantry queue set gpu --priority 80 --users alice,bob`,
				Action: func(c *cli.Context) error {
					name, err := one(c, "set")
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					q, err := cl.Queue(c.Context, name)
					if err != nil {
						return err
					}
					return putQueue(c, cl, q, "updated")
				},
			}),
			withUsageErrors(&cli.Command{
				Name: "rm", Usage: "remove a queue without unfinished jobs", ArgsUsage: "NAME", Flags: []cli.Flag{serverFlag},
				Description: "   gantry queue rm scratch",
				Action: func(c *cli.Context) error {
					name, err := one(c, "rm")
					if err != nil {
						return err
					}
					cl, err := newClient(c)
					if err != nil {
						return err
					}
					if err := cl.DeleteQueue(c.Context, name); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "Queue <%s> is removed\n", name)
					return nil
				},
			}),
			action("open"), action("close"), action("activate"), action("inactivate"),
		},
	}
}

// putQueue applies the command's flags to q, stores it and reports it as
// done (defined or updated).
func putQueue(c *cli.Context, cl *client.Client, q api.Queue, done string) error {
	name := q.Name
	if err := applyQueueFlags(c, &q); err != nil {
		return err
	}
	q, err := cl.PutQueue(c.Context, q)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, q)
	}
	fmt.Fprintf(c.App.Writer, "Queue <%s> is %s\n", name, done)
	return nil
}
