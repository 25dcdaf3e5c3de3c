package lsf

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/depend"
)

// Submitter is what bsub knows about where it runs.
type Submitter struct {
	Cwd     string   // absolute
	Environ []string // KEY=VALUE
	Host    string
	Now     time.Time
}

// Submission is a job spec built from bsub options, with what bsub itself
// must do beyond submitting it.
type Submission struct {
	Spec api.JobSpec
	// Queues are the candidate queues in order (-q "a b"); empty means
	// the default queue.
	Queues []string
	// Wait is -K: wait for the job and exit with its code.
	Wait bool
	// Hosts are -m's candidate hosts, checked by the caller.
	Hosts []string
	// Warnings are options accepted without effect.
	Warnings []string
}

// OptionError is a bad bsub option value; its message names the option
// and the value, as LSF's do.
type OptionError struct {
	Option string
	Value  string
	Err    error
}

func (e *OptionError) Error() string {
	return fmt.Sprintf("Bad argument for option -%s %q: %v", e.Option, e.Value, e.Err)
}

func (e *OptionError) Unwrap() error { return e.Err }

// jobVars are the variables Gantry sets in each job; copies inherited
// from the submitter's environment (a bsub inside a job) are dropped.
var jobVarPrefixes = []string{"LSB_", "LSF_JOB", "SLURM_", "GANTRY_JOB_ID=", "GANTRY_NODE=", "GANTRY_CPUS=", "GANTRY_ARRAY_", "LS_SUBCWD=", "LS_EXECCWD="}

func inheritedJobVar(kv string) bool {
	for _, p := range jobVarPrefixes {
		if strings.HasPrefix(kv, p) {
			return true
		}
	}
	return false
}

// Build turns options and a command into a submission. script, when not
// empty, is a job script read from stdin: it runs from a private copy,
// and command holds its arguments (usually none).
func Build(o Options, command []string, script string, sub Submitter) (*Submission, error) {
	s := &Submission{}
	spec := &s.Spec
	bad := func(opt string, err error) error { return &OptionError{Option: opt, Value: o.Get(opt), Err: err} }
	// Interactive: -I a terminal without echo, for piped input and
	// output; -Is and -Ip a full terminal (the client's goes raw).
	switch {
	case o.Has("Is") || o.Has("Ip"):
		spec.TTY = "raw"
	case o.Has("I"):
		spec.TTY = "line"
	}
	if o.Has("U") {
		// gantry reserve --users prints the reservation's id.
		id, err := strconv.ParseInt(strings.TrimPrefix(o.Get("U"), "rsv"), 10, 64)
		if err != nil || id <= 0 {
			return nil, bad("U", fmt.Errorf("want an advance reservation id (gantry reservations lists them)"))
		}
		spec.Reservation = id
	}
	if script == "" && len(command) == 0 {
		return nil, fmt.Errorf("no command given: give a command, or a script on stdin (bsub < job.sh)")
	}

	// Name and array.
	if o.Has("J") {
		name, arr, throttle, err := ParseJobName(o.Get("J"))
		if err != nil {
			return nil, bad("J", err)
		}
		spec.Name = name
		if arr != nil {
			spec.Array, spec.ArrayThrottle = arr.String(), throttle
		}
	}
	if spec.Name == "" && script != "" {
		spec.Name = scriptName(script)
	}
	if q := strings.Fields(o.Get("q")); len(q) > 0 {
		s.Queues = q
		spec.Queue = q[0]
	}

	// Resources.
	spec.Cores = 1
	if o.Has("n") {
		lo, hi, hasMax := strings.Cut(o.Get("n"), ",")
		n, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil || n < 1 || n > 1<<20 {
			return nil, bad("n", fmt.Errorf("want a positive number of tasks, or MIN,MAX"))
		}
		if hasMax {
			m, err := strconv.Atoi(strings.TrimSpace(hi))
			if err != nil || m < n || m > 1<<20 {
				return nil, bad("n", fmt.Errorf("MAX must be a number at least MIN"))
			}
		}
		spec.Cores = n // Gantry allocates MIN
	}
	var reqs []*ResReq
	for _, r := range o["R"] {
		rr, err := ParseResReq(r)
		if err != nil {
			return nil, &OptionError{Option: "R", Value: r, Err: err}
		}
		reqs = append(reqs, rr)
	}
	perHost := 0
	if len(reqs) > 0 {
		rr := Merge(reqs...)
		spec.Resources = rr.String()
		if mb := rr.MemoryMB(); mb > 0 && !o.Has("M") {
			spec.MemoryBytes = int64(mb * (1 << 20))
		}
		perHost = rr.Span.PerHost
		spec.Labels = Labels(rr.Select)
	}
	// -n N with span[ptile=P], P < N: a gang over ceil(N/P) hosts of P
	// slots each (the last may run fewer tasks); cores are per host.
	tasksPerHost := 1
	if perHost > 0 && spec.Cores > perHost {
		cpt := 1
		if v, err := strconv.Atoi(o.Get("_cpus_per_task")); err == nil && v > 0 {
			cpt = v // from #SBATCH -c: a task is cpt slots
		}
		spec.Nodes = (spec.Cores + perHost - 1) / perHost
		tasksPerHost = max(perHost/cpt, 1)
		spec.TasksPerNode, spec.Tasks = tasksPerHost, spec.Cores/cpt
		if spec.Tasks <= (spec.Nodes-1)*tasksPerHost || spec.Tasks > spec.Nodes*tasksPerHost {
			spec.Tasks = 0 // uneven: every host runs tasksPerHost
		}
		spec.Cores = perHost
	}
	if o.Has("gpu") {
		g, err := ParseGPU(o.Get("gpu"))
		if err != nil {
			return nil, bad("gpu", err)
		}
		spec.GPUs = g.String()
		// The count is scheduled (on each of the job's nodes); the
		// mode, model and memory are recorded.
		spec.NumGPUs = g.Num
		if g.Per == "task" {
			spec.NumGPUs = g.Num * tasksPerHost
		}
	}
	if o.Has("M") {
		b, err := api.ParseMemory(o.Get("M"))
		if err != nil {
			return nil, bad("M", err)
		}
		spec.MemoryBytes = b
	}
	if o.Has("W") {
		d, err := api.ParseWalltime(o.Get("W"))
		if err != nil {
			return nil, bad("W", err)
		}
		spec.WalltimeSeconds = int64((d + time.Second - 1) / time.Second)
	}
	if o.Has("We") {
		if _, err := api.ParseWalltime(o.Get("We")); err != nil {
			return nil, bad("We", err)
		}
	}
	if o.Has("b") {
		t, err := api.ParseBeginTime(o.Get("b"), sub.Now)
		if err != nil {
			return nil, bad("b", err)
		}
		spec.BeginTime = &t
	}
	if o.Has("w") {
		e, err := depend.Parse(o.Get("w"))
		if err != nil {
			return nil, bad("w", err)
		}
		spec.Dependency = e.String()
	}
	spec.Hold = o.Has("H")
	if o.Has("m") {
		s.Hosts = strings.Fields(o.Get("m"))
		if len(s.Hosts) == 0 {
			return nil, bad("m", fmt.Errorf("want one or more host names"))
		}
	}
	spec.Exclusive = o.Has("x")
	s.Wait = o.Has("K")

	// Where and how it runs.
	spec.Cwd = sub.Cwd
	if o.Has("cwd") {
		d := o.Get("cwd")
		if d == "" {
			return nil, bad("cwd", fmt.Errorf("empty directory"))
		}
		if !filepath.IsAbs(d) {
			d = filepath.Join(sub.Cwd, d)
		}
		spec.Cwd = filepath.Clean(d)
	}
	spec.SubmitHost = sub.Host
	spec.Stdout, spec.Stderr = o.Get("o"), o.Get("e")
	// -o and -e append, as in LSF; -oo and -eo overwrite.
	spec.AppendStdout, spec.AppendStderr = o.Has("o"), o.Has("e")
	if o.Has("oo") {
		spec.Stdout, spec.AppendStdout = o.Get("oo"), false
	}
	if o.Has("eo") {
		spec.Stderr, spec.AppendStderr = o.Get("eo"), false
	}
	if spec.Stdout == "" && spec.Array != "" {
		spec.Stdout = "gantry-%J_%I.out" // one file per element
	}
	if spec.Stdout == "" && spec.TTY != "" {
		spec.Stdout = "/dev/null" // the output goes to the terminal
	}
	env, err := jobEnv(o, sub.Environ)
	if err != nil {
		return nil, err
	}
	if v := o.Get("P"); v != "" {
		env = append(env, "LSB_PROJECT_NAME="+v)
	}
	if v := o.Get("G"); v != "" {
		env = append(env, "LSB_SUB_USER_GROUP="+v)
	}
	if v := o.Get("_cpus_per_task"); v != "" {
		env = append(env, "SLURM_CPUS_PER_TASK="+v)
	}
	spec.Image = o.Get("_image")
	if v := o.Get("_ntasks"); v != "" {
		env = append(env, "SLURM_NTASKS="+v)
	}
	spec.Env = env
	spec.Command, err = wrap(o, command, script)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// jobEnv applies -env to the submitter's environment: "all" (the
// default), "none" (only PATH, HOME, USER, LOGNAME, SHELL, TERM, LANG),
// and comma lists of ~VAR (drop) and VAR=value (set).
func jobEnv(o Options, environ []string) ([]string, error) {
	env := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := env[k]; !ok {
			order = append(order, k)
		}
		env[k] = v
	}
	for _, kv := range environ {
		if inheritedJobVar(kv) {
			continue
		}
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" {
			set(k, v)
		}
	}
	if o.Has("env") {
		spec := o.Get("env")
		for i, item := range strings.Split(spec, ",") {
			item = strings.TrimSpace(item)
			switch {
			case item == "all" && i == 0:
			case item == "none" && i == 0:
				keep := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "TERM": true, "LANG": true}
				for k := range env {
					if !keep[k] {
						delete(env, k)
					}
				}
			case strings.HasPrefix(item, "~"):
				delete(env, strings.TrimSpace(item[1:]))
			case strings.Contains(item, "="):
				k, v, _ := strings.Cut(item, "=")
				k = strings.TrimSpace(k)
				if !isEnvName(k) {
					return nil, &OptionError{Option: "env", Value: spec, Err: fmt.Errorf("variable name %q: want letters, digits and _", k)}
				}
				set(k, v)
			case isEnvName(item):
				// A bare name: keep it (it is kept with all anyway).
			default:
				return nil, &OptionError{Option: "env", Value: spec, Err: fmt.Errorf("%q: want all, none, ~VAR or VAR=value", item)}
			}
		}
	}
	out := make([]string, 0, len(env))
	for _, k := range order {
		if v, ok := env[k]; ok {
			out = append(out, k+"="+v)
		}
	}
	return out, nil
}

func isEnvName(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if !isWordChar(k[i]) {
			return false
		}
	}
	return true
}

// scriptName is the name LSF shows for a script from stdin: its first
// command line.
func scriptName(script string) string {
	for _, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		t = strings.Map(func(r rune) rune {
			if r == '"' || r == '\'' || r < ' ' {
				return -1
			}
			return r
		}, t)
		if len(t) > 256 {
			t = t[:256]
		}
		return strings.TrimSpace(t)
	}
	return "bsub-script"
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ScriptMarker is the name ($0) of the shell that runs a wrapped job; it
// lets bjobs show the job's own command.
const ScriptMarker = "gantry-bsub"

// wrap builds the job's argv. A plain command runs as given. Pre- and
// post-execution commands (-E, -Ep), a login shell (-L), a stdin file
// (-i) or a script from stdin wrap it in a small sh script: the script is
// copied to a private file in the job's /tmp and run from there, as bsub
// spools it.
func wrap(o Options, command []string, script string) ([]string, error) {
	if script == "" && !o.Has("E") && !o.Has("Ep") && !o.Has("L") && !o.Has("i") {
		return command, nil
	}
	var b strings.Builder
	if e := o.Get("E"); e != "" {
		fmt.Fprintf(&b, "( %s ) || { echo \"gantry: pre-execution command failed (exit $?)\" >&2; exit 1; }\n", e)
	}
	argv := []string{"/bin/sh", "-c", "", ScriptMarker}
	if script != "" {
		b.WriteString(`f=$(mktemp "${TMPDIR:-/tmp}/bsub.XXXXXX") && printf '%s' "$1" > "$f" && chmod 700 "$f" || exit 125` + "\n")
		b.WriteString(`shift; set -- "$f" "$@"` + "\n")
		argv = append(argv, script)
	}
	run := `"$@"`
	if l := o.Get("L"); l != "" {
		if !filepath.IsAbs(l) || strings.ContainsAny(l, " \t\n'\"") {
			return nil, &OptionError{Option: "L", Value: l, Err: fmt.Errorf("want the absolute path of a shell, e.g. /bin/bash")}
		}
		run = l + ` -l -c 'exec "$0" "$@"' "$@"`
	}
	if i := o.Get("i"); i != "" {
		run += " < " + ShellQuote(i)
	}
	post := o.Get("Ep")
	if post == "" && script == "" {
		b.WriteString("exec " + run + "\n")
	} else {
		b.WriteString(run + "\nrc=$?\n")
		if script != "" {
			b.WriteString(`rm -f "$f"` + "\n")
		}
		if post != "" {
			fmt.Fprintf(&b, "( %s )\n", post)
		}
		b.WriteString("exit $rc\n")
	}
	argv[2] = b.String()
	return append(argv, command...), nil
}

// DisplayCommand is the command line bjobs shows: the job's own command
// for wrapped jobs, the script's first line for scripts from stdin.
func DisplayCommand(cmd []string) string {
	if len(cmd) >= 4 && cmd[0] == "/bin/sh" && cmd[1] == "-c" && cmd[3] == ScriptMarker {
		rest := cmd[4:]
		if strings.Contains(cmd[2], `printf '%s' "$1"`) && len(rest) > 0 {
			return "#!script: " + scriptName(rest[0])
		}
		return strings.Join(rest, " ")
	}
	return strings.Join(cmd, " ")
}
