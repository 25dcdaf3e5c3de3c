package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func histCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "hist",
		Usage:     "show a job's history: every transition with its time and reason",
		ArgsUsage: "ID",
		Description: `Every state a job went through, with when, on which node, who asked and
why; 42[7] is one element of an array.

   gantry hist 42
   gantry hist 42 --json`,
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "print JSON"}, serverFlag},
		Action: func(c *cli.Context) error {
			ref, err := oneJobRef(c, "hist")
			if err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			evs, err := cl.History(c.Context, ref.String())
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.History{Events: evs})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tSTATE\tNODE\tBY\tREASON")
			for _, e := range evs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05.000"), e.State, dash(e.Node), dash(e.Actor), e.Reason)
			}
			return tw.Flush()
		},
	})
}

func waitCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "wait",
		Usage:     "wait until jobs end; exit 0 if all succeeded, 1 otherwise",
		ArgsUsage: "ID...",
		Description: `Follows the server's event stream (no polling) until every job named has
ended, printing each job's final state. With --timeout, gives up after that
long (exit 1). With --json, prints the final event of each job that ended,
as one JSON object, at the end.

   gantry wait 42 43 && echo all succeeded
   gantry wait 42 --timeout 1h --json`,
		Flags: []cli.Flag{
			&cli.DurationFlag{Name: "timeout", Usage: "give up after this long (0: wait forever)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print nothing"},
			jsonFlag("print the jobs' final events as JSON"),
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("wait: missing job id")
			}
			var ids []int64
			for _, a := range c.Args().Slice() {
				id, err := parseJobID(a)
				if err != nil {
					return err
				}
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
			ctx := c.Context
			if d := c.Duration("timeout"); d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			// Unknown ids fail at once, before any waiting.
			arrays := map[int64]*arrayProgress{}
			for _, id := range ids {
				j, err := cl.Job(ctx, id)
				if err != nil {
					return err
				}
				if j.Spec.Array != "" && !c.Bool("quiet") {
					arrays[id] = newArrayProgress(j, c.App.ErrWriter)
				}
			}
			final := make(map[int64]api.Event)
			var after int64
			for len(final) < len(ids) {
				err := cl.Events(ctx, after, ids, true, func(e api.Event) bool {
					after = e.ID
					if p := arrays[e.ArrayID]; p != nil && e.State.Terminal() {
						p.elementEnded(e.State)
					}
					if e.ArrayID == 0 && e.State.Terminal() {
						final[e.JobID] = e
						if !c.Bool("quiet") && !c.Bool("json") {
							fmt.Fprintf(c.App.Writer, "Job <%d> %s%s\n", e.JobID, e.State, reasonSuffix(e.Reason))
						}
					}
					return len(final) < len(ids)
				})
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					if err := printFinal(c, ids, final); err != nil {
						return err
					}
					return fmt.Errorf("wait: timed out after %s with %d of %d jobs ended", c.Duration("timeout"), len(final), len(ids))
				case ctx.Err() != nil:
					return ctx.Err()
				case err != nil && len(final) < len(ids):
					// The stream broke (a server restart): resume from the
					// last event after a pause.
					select {
					case <-ctx.Done():
					case <-time.After(time.Second):
					}
				}
			}
			if err := printFinal(c, ids, final); err != nil {
				return err
			}
			for _, e := range final {
				if e.State != api.StateSucceeded {
					return exitCode(1)
				}
			}
			return nil
		},
	})
}

// printFinal prints, with --json, the final events of the jobs that ended,
// in the order the jobs were named.
func printFinal(c *cli.Context, ids []int64, final map[int64]api.Event) error {
	if !c.Bool("json") {
		return nil
	}
	evs := []api.Event{}
	for _, id := range ids {
		if e, ok := final[id]; ok {
			evs = append(evs, e)
		}
	}
	return printJSON(c.App.Writer, api.History{Events: evs})
}

func reasonSuffix(r string) string {
	if r == "" {
		return ""
	}
	return ": " + r
}

// exitCode ends the program with code and no further message.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// arrayProgress draws a progress bar for an array that gantry wait waits
// on: how many of its elements have ended, and how many failed. It draws
// only on a terminal.
type arrayProgress struct {
	w            io.Writer
	label        string
	total, ended int64
	failed       int64
	last         time.Time
	isTerm       bool
}

func newArrayProgress(j api.Job, w io.Writer) *arrayProgress {
	p := &arrayProgress{w: w, label: jobLabel(j), isTerm: isTerminal(w)}
	for st, n := range j.Elements {
		p.total += n
		if st.Terminal() {
			p.ended += n
			if st != api.StateSucceeded {
				p.failed += n
			}
		}
	}
	p.draw(true)
	return p
}

func (p *arrayProgress) elementEnded(st api.JobState) {
	p.ended++
	if st != api.StateSucceeded {
		p.failed++
	}
	p.draw(p.ended == p.total)
}

// draw redraws the bar, at most ten times a second unless forced.
func (p *arrayProgress) draw(force bool) {
	if !p.isTerm || p.total == 0 || (!force && time.Since(p.last) < 100*time.Millisecond) {
		return
	}
	p.last = time.Now()
	const width = 30
	filled := int(p.ended * width / p.total)
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d ended, %d failed", p.label,
		strings.Repeat("#", filled), strings.Repeat(".", width-filled), p.ended, p.total, p.failed)
	if p.ended == p.total {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
