package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/lsf"
)

func init() {
	lsfCommands["bsub"] = &lsfCommand{usage: bsubUsage(), run: runBsub}
}

func bsubUsage() string {
	var b strings.Builder
	b.WriteString(`Usage: bsub [options] command [arguments]
       bsub [options] < script

Submits a batch job. Options given on the command line override #BSUB lines
of the script, which override its #SBATCH lines. Prints
"Job <ID> is submitted to queue <QUEUE>." on success.

Options:
`)
	for _, n := range lsf.OptionNames() {
		arg := ""
		if lsf.OptionTakesValue(n) {
			arg = " ARG"
		}
		fmt.Fprintf(&b, "  -%-10s %s\n", n+arg, lsf.OptionHelp(n))
	}
	b.WriteString(`
Examples:
  bsub -n 4 -M 8G -W 2:00 -o train.%J.log python train.py
  bsub -J "sweep[1-100]%10" -o sweep.%J.%I.out ./run.sh
  bsub -R "rusage[mem=4GB] span[hosts=1]" -gpu "num=2:mode=exclusive_process" ./gpu.sh
  bsub -w "done(prep)" -q "short normal" ./analyse.sh
  bsub -K ./quick-check.sh          # wait, exit with the job's exit code
  bsub < job.sh                     # #BSUB or #SBATCH directives inside
`)
	return b.String()
}

func runBsub(x *lsfRun) error {
	now := time.Now()
	cmdOpts, command, err := lsf.ParseBsubArgs(x.args)
	if err != nil {
		return lsfErr("bsub: %v. Job not submitted.", err)
	}
	opts := lsf.Options{}
	if cmdOpts.Has("json") {
		jo, jcmd, err := bsubJSON(cmdOpts.Get("json"))
		if err != nil {
			return lsfErr("bsub: -json %s: %v. Job not submitted.", cmdOpts.Get("json"), err)
		}
		opts.Override(jo)
		if len(command) == 0 {
			command = jcmd
		}
	}
	// The script: from stdin when no command is given, or the command
	// itself when it is a readable script.
	script, fromStdin := "", false
	if len(command) == 0 {
		if f, ok := x.stdin.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				return lsfErr("bsub: no command given (give a command, or a script on stdin: bsub < job.sh). Job not submitted.")
			}
		}
		b, err := io.ReadAll(io.LimitReader(x.stdin, 4<<20+1))
		if err != nil {
			return lsfErr("bsub: reading the script from stdin: %v. Job not submitted.", err)
		}
		if len(b) > 4<<20 || !utf8.Valid(b) || strings.TrimSpace(string(b)) == "" {
			return lsfErr("bsub: the script on stdin is empty, not text, or larger than 4 MiB. Job not submitted.")
		}
		script, fromStdin = string(b), true
	} else if b, ok := readScript(command[0]); ok {
		script = b
	}
	var warnings []string
	if script != "" {
		so, w, err := lsf.ScriptOptions(script, now)
		if err != nil {
			return lsfErr("bsub: script directives: %v. Job not submitted.", err)
		}
		warnings = w
		so.Override(opts)
		opts = so
	}
	opts.Override(cmdOpts)

	cwd, err := os.Getwd()
	if err != nil {
		return lsfErr("bsub: current directory: %v. Job not submitted.", err)
	}
	// $GANTRY_SUBMIT_HOST overrides the name bjobs shows as FROM_HOST
	// (for login nodes known by another name, and for tests).
	host := os.Getenv("GANTRY_SUBMIT_HOST")
	if host == "" {
		host, _ = os.Hostname()
	}
	spool := ""
	if fromStdin {
		spool = script
	}
	sub, err := lsf.Build(opts, command, spool, lsf.Submitter{Cwd: cwd, Environ: os.Environ(), Host: host, Now: now})
	if err != nil {
		return lsfErr("%v. Job not submitted.", err)
	}
	for _, w := range append(warnings, sub.Warnings...) {
		fmt.Fprintf(x.err, "bsub: warning: %s\n", w)
	}
	cl, err := x.client()
	if err != nil {
		return err
	}
	if len(sub.Hosts) > 0 {
		if sub.Spec.Hosts, err = checkHosts(x.ctx, cl, sub.Hosts); err != nil {
			return err
		}
	}
	resp, err := submitToQueues(x.ctx, cl, sub)
	if err != nil {
		return lsfErr("%v. Job not submitted.", err)
	}
	def := ""
	if resp.DefaultQueue {
		def = "default "
	}
	fmt.Fprintf(x.out, "Job <%d> is submitted to %squeue <%s>.\n", resp.ID, def, resp.Queue)
	if sub.Spec.TTY != "" {
		return runInteractive(x, cl, strconv.FormatInt(resp.ID, 10), sub.Spec.TTY == "raw")
	}
	if !sub.Wait {
		return nil
	}
	return waitLikeK(x, cl, resp.ID)
}

// readScript returns the text of path if it is a small text file whose
// top holds #BSUB or #SBATCH lines.
func readScript(path string) (string, bool) {
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > 4<<20 {
		return "", false
	}
	b, err := os.ReadFile(path)
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	s := string(b)
	if !strings.Contains(s, "#BSUB") && !strings.Contains(s, "#SBATCH") {
		return "", false
	}
	return s, true
}

// bsubJSON reads bsub -json's file: an object of bsub option names
// (without the dash) to values, and "command" (a string or a list).
func bsubJSON(path string) (lsf.Options, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	var args, command []string
	for k, v := range m {
		if k == "command" {
			switch c := v.(type) {
			case string:
				command = []string{"/bin/sh", "-c", c}
			case []any:
				for _, a := range c {
					command = append(command, fmt.Sprint(a))
				}
			default:
				return nil, nil, lsfErr("command: want a string or a list of strings")
			}
			continue
		}
		switch val := v.(type) {
		case nil, bool:
			if val == false {
				continue
			}
			args = append(args, "-"+k)
		case string:
			args = append(args, "-"+k, val)
		case float64:
			args = append(args, "-"+k, fmt.Sprint(val))
		case []any:
			for _, e := range val {
				args = append(args, "-"+k, fmt.Sprint(e))
			}
		default:
			return nil, nil, lsfErr("option %q: want a string, number, boolean or list", k)
		}
	}
	o, rest, err := lsf.ParseBsubArgs(args)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) > 0 {
		return nil, nil, lsfErr("option %q: takes no value", rest[0])
	}
	return o, command, nil
}

// checkHosts fails, as LSF does, on a -m host the cluster does not have,
// and returns the node names the hosts are (none for "others" or "all":
// any node).
func checkHosts(ctx context.Context, cl *client.Client, hosts []string) ([]string, error) {
	nodes, err := cl.Nodes(ctx)
	if err != nil {
		return nil, err
	}
	// Node and host names, to node names; "others" and "all" mean any.
	known := map[string]string{"others": "", "all": ""}
	for _, n := range nodes {
		known[n.Name] = n.Name
		if n.Hostname != "" {
			if _, taken := known[n.Hostname]; !taken {
				known[n.Hostname] = n.Name
			}
		}
	}
	var names []string
	for _, h := range hosts {
		name, ok := known[h]
		if i := strings.LastIndexByte(h, '+'); !ok && i > 0 {
			// A preference ("hostA+2") is accepted, not ranked.
			if _, err := strconv.Atoi(h[i+1:]); err == nil {
				name, ok = known[h[:i]]
			}
		}
		if !ok {
			return nil, lsfErr("%s: Bad host name, host group name or cluster name. Job not submitted.", h)
		}
		if name == "" {
			return nil, nil // others, all: any host
		}
		names = append(names, name)
	}
	return names, nil
}

// submitToQueues submits to the first candidate queue that takes the job.
func submitToQueues(ctx context.Context, cl *client.Client, sub *lsf.Submission) (api.SubmitResponse, error) {
	queues := sub.Queues
	if len(queues) == 0 {
		queues = []string{""}
	}
	var lastErr error
	for _, q := range queues {
		spec := sub.Spec
		spec.Queue = q
		resp, err := cl.Submit(ctx, spec)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		var ae *client.APIError
		if !errors.As(err, &ae) || ae.Status/100 != 4 {
			break
		}
	}
	return api.SubmitResponse{}, lastErr
}

// waitLikeK follows the job's events as bsub -K does, and exits with the
// job's exit code.
func waitLikeK(x *lsfRun, cl *client.Client, id int64) error {
	fmt.Fprintln(x.out, "<<Waiting for dispatch ...>>")
	started := false
	var final api.Event
	var after int64
	for final.State == "" || !final.State.Terminal() {
		err := cl.Events(x.ctx, after, []int64{id}, true, func(e api.Event) bool {
			after = e.ID
			if !started && (e.State == api.StateRunning || e.State == api.StateStarting) {
				started = true
				fmt.Fprintf(x.out, "<<Starting on %s>>\n", e.Node)
			}
			if e.State.Terminal() {
				// An array's stream carries its elements' events too: the
				// array is done when the job itself says so.
				if j, err := cl.Job(x.ctx, id); err == nil && j.State.Terminal() {
					final = e
					return false
				}
			}
			return true
		})
		if x.ctx.Err() != nil {
			return x.ctx.Err()
		}
		if err != nil && !final.State.Terminal() {
			time.Sleep(time.Second) // the stream broke: resume
		}
	}
	j, err := cl.Job(x.ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintln(x.out, "<<Job is finished>>")
	return jobExit(j)
}

// jobExit is how bsub -K and -I exit for ended job j: 0 when it
// succeeded, its exit code when it has one, else 1.
func jobExit(j api.Job) error {
	switch {
	case j.State == api.StateSucceeded:
		return nil
	case j.ExitCode != nil && *j.ExitCode != 0:
		return exitCode(*j.ExitCode)
	}
	return exitCode(1)
}
