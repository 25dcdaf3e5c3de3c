package cli

import (
	"fmt"
	"strings"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/lsf"
)

func init() {
	lsfCommands["bkill"] = &lsfCommand{
		opts: map[string]bool{"s": true, "u": true, "J": true, "q": true},
		usage: `Usage: bkill [-s SIGNAL] [-u USER|all] [-J NAME] [-q QUEUE] JOB_ID | "JOB_ID[INDEX]" | 0 ...

Kills running jobs and cancels pending ones. 0 means all your unfinished
jobs (with -u, that user's; -J and -q narrow it). -s TERM or KILL kills
(TERM, then KILL after the grace period); any other signal (USR1, HUP,
10, ...) is sent to every process of the running jobs, which go on
running unless it ends them.

Examples:
  bkill 42
  bkill "42[3]"          # one array element
  bkill 0                # all my jobs
  bkill -J "sweep*" 0
`,
		run: func(x *lsfRun) error {
			switch s := strings.TrimPrefix(strings.ToUpper(x.get("s")), "SIG"); s {
			case "", "TERM", "KILL", "9", "15":
			default:
				name, err := api.ParseSignal(x.get("s"))
				if err != nil {
					return lsfErr("bkill: -s %s: %v", x.get("s"), err)
				}
				return forEachLSFJob(x, "bkill", func(cl *client.Client, ref string) (string, error) {
					_, err := cl.Signal(x.ctx, ref, name)
					return "is being signaled", err
				})
			}
			return forEachLSFJob(x, "bkill", func(cl *client.Client, ref string) (string, error) {
				_, err := killRef(x.ctx, cl, ref)
				return "is being terminated", err
			})
		},
	}
	lsfCommands["bstop"] = &lsfCommand{
		opts: map[string]bool{"u": true, "J": true, "q": true},
		usage: `Usage: bstop [-u USER|all] [-J NAME] [-q QUEUE] JOB_ID ... | 0

Stops jobs: a pending job is held (PSUSP), a running one is frozen on its
node (USUSP: it keeps its node, its run limit clock stops), until bresume.
`,
		run: func(x *lsfRun) error {
			return forEachLSFJob(x, "bstop", func(cl *client.Client, ref string) (string, error) {
				j, err := jobByRef(x.ctx, cl, ref)
				if err != nil {
					return "", err
				}
				if j.State == api.StateRunning {
					_, err = cl.SetSuspend(x.ctx, refOf(j), true)
					return "is being stopped", err
				}
				_, err = cl.SetHold(x.ctx, refOf(j), true)
				return "is being stopped", err
			})
		},
	}
	lsfCommands["bresume"] = &lsfCommand{
		opts: map[string]bool{"u": true, "J": true, "q": true},
		usage: `Usage: bresume [-u USER|all] [-J NAME] [-q QUEUE] JOB_ID ... | 0

Resumes jobs stopped with bstop (or submitted with bsub -H).
`,
		run: func(x *lsfRun) error {
			return forEachLSFJob(x, "bresume", func(cl *client.Client, ref string) (string, error) {
				j, err := jobByRef(x.ctx, cl, ref)
				if err != nil {
					return "", err
				}
				if j.State == api.StateRunning {
					_, err = cl.SetSuspend(x.ctx, refOf(j), false)
					return "is being resumed", err
				}
				_, err = cl.SetHold(x.ctx, refOf(j), false)
				return "is being resumed", err
			})
		},
	}
}

// forEachLSFJob applies do to each job named (0: all the user's
// unfinished jobs matching -J and -q), printing "Job <ID> WHAT" or the
// error, as LSF's job control commands do.
func forEachLSFJob(x *lsfRun, verb string, do func(cl *client.Client, ref string) (string, error)) error {
	if len(x.args) == 0 {
		return lsfErr("%s: missing job ID (give a job ID, or 0 for all your jobs)", verb)
	}
	cl, err := x.client()
	if err != nil {
		return err
	}
	var refs []string
	for _, a := range x.args {
		if a != "0" {
			if _, err := lsf.ParseJobRef(a); err != nil {
				return lsfErr("%v", err)
			}
			refs = append(refs, a)
			continue
		}
		u := x.get("u")
		all, err := cl.Jobs(x.ctx, u != "")
		if err != nil {
			return err
		}
		sel := &lsfRun{opts: map[string][]string{}}
		for _, k := range []string{"q", "J"} {
			if x.has(k) {
				sel.opts[k] = x.opts[k]
			}
		}
		for _, j := range arrayRows(filterJobs(sel, all, u)) {
			refs = append(refs, refOf(j))
		}
		if len(refs) == 0 {
			fmt.Fprintln(x.err, "No unfinished job found")
			return exitCode(lsfFailure)
		}
	}
	failed := false
	for _, ref := range refs {
		what, err := do(cl, ref)
		if err != nil {
			msg := err.Error()
			switch {
			case client.NotFound(err):
				msg = "No matching job found"
			case strings.Contains(msg, "already") || strings.Contains(msg, "finished") || strings.Contains(msg, "ended"):
				msg = "Job has already finished"
			}
			fmt.Fprintf(x.err, "Job <%s>: %s\n", ref, msg)
			failed = true
			continue
		}
		fmt.Fprintf(x.out, "Job <%s> %s\n", ref, what)
	}
	if failed {
		return exitCode(lsfFailure)
	}
	return nil
}
