package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
	"github.com/gantry-hpc/gantry/lsf"
)

// The LSF commands: the gantry binary invoked as bsub, bjobs, ... (through
// a symlink, see make install) behaves like that command. They find the
// server through $GANTRY_SERVER or the default socket, print what LSF
// prints, and exit 255 on failure as LSF's commands do.

// lsfCommand is one LSF command.
type lsfCommand struct {
	// opts are its options: name (without the dash) to whether it takes
	// a value.
	opts  map[string]bool
	usage string // the help text, with examples
	run   func(x *lsfRun) error
}

// lsfRun is one invocation of an LSF command.
type lsfRun struct {
	ctx      context.Context
	name     string
	opts     map[string][]string
	args     []string
	stdin    io.Reader
	out, err io.Writer
	cl       *client.Client
}

// lsfStdin is where bsub reads a script from (a variable for tests).
var lsfStdin io.Reader = os.Stdin

const lsfFailure = 255

// lsfCommands is filled by the lsf*.go files' init functions.
var lsfCommands = map[string]*lsfCommand{}

// LSFCommands lists the names the binary answers to (for make install).
func LSFCommands() []string {
	var out []string
	for k := range lsfCommands {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// lsfMain runs args as an LSF command if args[0]'s base name is one; ok
// is false otherwise.
func lsfMain(ctx context.Context, args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if len(args) == 0 {
		return 0, false
	}
	name := filepath.Base(args[0])
	cmd, ok := lsfCommands[name]
	if !ok {
		return 0, false
	}
	return runLSF(ctx, name, cmd, args[1:], lsfStdin, stdout, stderr), true
}

func runLSF(ctx context.Context, name string, cmd *lsfCommand, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	x := &lsfRun{ctx: ctx, name: name, stdin: stdin, out: stdout, err: stderr}
	if len(args) == 1 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
		fmt.Fprint(stdout, cmd.usage)
		return 0
	}
	if len(args) == 1 && (args[0] == "-V" || args[0] == "--version") {
		fmt.Fprintf(stdout, "Gantry's %s (LSF compatible)\n", name)
		return 0
	}
	if cmd.opts != nil {
		opts, rest, err := parseLSFOpts(cmd.opts, args)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n%s", name, err, cmd.usage)
			return lsfFailure
		}
		x.opts, x.args = opts, rest
	} else {
		x.args = args
	}
	err := cmd.run(x)
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	if msg := err.Error(); msg != "" {
		fmt.Fprintln(stderr, msg)
	}
	return lsfFailure
}

// parseLSFOpts parses single-dash options (LSF's -noheader, -o "fields")
// anywhere among the arguments, up to "--".
func parseLSFOpts(spec map[string]bool, args []string) (map[string][]string, []string, error) {
	opts := map[string][]string{}
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			rest = append(rest, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" || isNumber(a) {
			rest = append(rest, a)
			continue
		}
		name := strings.TrimLeft(a, "-")
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok && strings.HasPrefix(a, "--") {
			name, val, hasVal = k, v, true
		}
		takes, ok := spec[name]
		if !ok {
			return nil, nil, lsfErr("illegal option -- %s", name)
		}
		if takes && !hasVal {
			if i+1 >= len(args) {
				return nil, nil, lsfErr("option requires an argument -- %s", name)
			}
			i++
			val = args[i]
		}
		opts[name] = append(opts[name], val)
	}
	return opts, rest, nil
}

func isNumber(s string) bool {
	_, err := fmt.Sscan(s, new(float64))
	return err == nil
}

func (x *lsfRun) has(name string) bool { _, ok := x.opts[name]; return ok }

func (x *lsfRun) get(name string) string {
	v := x.opts[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// client connects to $GANTRY_SERVER or the default socket.
func (x *lsfRun) client() (*client.Client, error) {
	if x.cl == nil {
		cl, err := client.New("", "")
		if err != nil {
			return nil, err
		}
		x.cl = cl
	}
	return x.cl, nil
}

// lsfStat is a job's LSF status: PEND, PSUSP (held), RUN, DONE, EXIT.
func lsfStat(j api.Job) string {
	switch j.State {
	case api.StatePending, api.StateRunnable:
		if j.Held {
			return "PSUSP"
		}
		return "PEND"
	case api.StateStarting, api.StateRunning:
		if j.Suspended || j.SuspendRequested {
			return "USUSP"
		}
		return "RUN"
	case api.StateSucceeded:
		return "DONE"
	}
	if j.State.Terminal() {
		return "EXIT"
	}
	if strings.Contains(string(j.State), "SUSP") {
		return "USUSP"
	}
	return string(j.State)
}

// lsfJobName is the name LSF shows: -J's name, else the command line;
// array elements get their [index].
func lsfJobName(j api.Job) string {
	n := j.Spec.Name
	if n == "" {
		n = lsf.DisplayCommand(j.Spec.Command)
	}
	if j.ArrayID != 0 {
		n += fmt.Sprintf("[%d]", j.ArrayIndex)
	} else if j.Spec.Array != "" {
		n += "[" + j.Spec.Array + "]"
	}
	return n
}

// lsfJobID is the id LSF shows: an element's is its array's.
func lsfJobID(j api.Job) int64 {
	if j.ArrayID != 0 {
		return j.ArrayID
	}
	return j.ID
}

// lsfTime is LSF's short time: "Aug 22 10:59".
func lsfTime(t time.Time) string { return t.Local().Format("Jan _2 15:04") }

// lsfLongTime is LSF's long time: "Tue Aug 22 10:59:02".
func lsfLongTime(t time.Time) string { return t.Local().Format("Mon Jan _2 15:04:05") }

// execHost is EXEC_HOST: the node, as "N*node" for N slots.
func execHost(j api.Job) string {
	if j.Node == "" {
		return ""
	}
	if len(j.Parts) > 1 {
		// A multi-node job: every host with its slots, as bjobs -w
		// writes them ("4*n1:4*n2").
		hosts := make([]string, len(j.Parts))
		for i, p := range j.Parts {
			hosts[i] = slotsOn(len(p.CPUs), p.Node)
		}
		return strings.Join(hosts, ":")
	}
	return slotsOn(len(j.CPUs), j.Node)
}

// slotsOn is LSF's "N*host", or the host alone for one slot.
func slotsOn(n int, host string) string {
	if n > 1 {
		return fmt.Sprintf("%d*%s", n, host)
	}
	return host
}

// colour wraps s in an ANSI colour when w is a terminal and NO_COLOR is
// unset.
func colour(w io.Writer, code, s string) string {
	if !colourOn(w) {
		return s
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// jobRef resolves "42" or "42[3]" to jobs: the job, or the array's
// elements named.
func jobsOfRef(ctx context.Context, cl *client.Client, s string) ([]api.Job, error) {
	ref, err := lsf.ParseJobRef(s)
	if err != nil {
		return nil, err
	}
	if ref.Array == nil {
		j, err := cl.Job(ctx, ref.ID)
		if client.NotFound(err) {
			return nil, lsfErr("Job <%s> is not found", s)
		}
		if err != nil {
			return nil, err
		}
		return expandArrays(ctx, cl, []api.Job{j})
	}
	var out []api.Job
	for _, idx := range ref.Array.Indexes(lsf.MaxArrayElements) {
		r := fmt.Sprintf("%d[%d]", ref.ID, idx)
		j, err := jobByRef(ctx, cl, r)
		if client.NotFound(err) {
			return nil, lsfErr("Job <%s> is not found", r)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// maxExpand is the largest array bjobs lists element by element.
const maxExpand = 1000

// expandArrays replaces each array's own row by its elements, as LSF
// lists them (elements that have not started are fetched as views of
// their array).
func expandArrays(ctx context.Context, cl *client.Client, jobs []api.Job) ([]api.Job, error) {
	listed := map[string]bool{}
	for _, j := range jobs {
		if j.ArrayID != 0 {
			listed[refOf(j)] = true
		}
	}
	var out []api.Job
	for _, j := range jobs {
		if j.ArrayID != 0 || j.Spec.Array == "" {
			out = append(out, j)
			continue
		}
		arr, err := lsf.ParseArray(j.Spec.Array, 0)
		if err != nil || arr.Count() > maxExpand {
			out = append(out, j)
			continue
		}
		for _, idx := range arr.Indexes(maxExpand) {
			ref := fmt.Sprintf("%d[%d]", j.ID, idx)
			if listed[ref] {
				continue
			}
			e, err := cl.JobByRef(ctx, ref)
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// lsfMessage is an error whose text is printed as it is: LSF's messages
// start with capitals and end with full stops ("Job not submitted.").
type lsfMessage string

func (m lsfMessage) Error() string { return string(m) }

func lsfErr(format string, args ...any) error { return lsfMessage(fmt.Sprintf(format, args...)) }
