package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"text/tabwriter"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/api"
)

// allCommands is every visible command of gantry with its full name
// ("queue add"), depth first.
func allCommands() map[string]*cli.Command {
	out := map[string]*cli.Command{}
	var walk func(prefix string, cmds []*cli.Command)
	walk = func(prefix string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden {
				continue
			}
			out[prefix+c.Name] = c
			walk(prefix+c.Name+" ", c.Subcommands)
		}
	}
	walk("", newApp(io.Discard, io.Discard).Commands)
	return out
}

// TestDescriptionsHaveExamples: every command's --help shows at least one
// example command line (an indented line of its Description).
func TestDescriptionsHaveExamples(t *testing.T) {
	example := regexp.MustCompile(`(?m)^[ \t]+.*\bgantry\b`)
	for name, c := range allCommands() {
		if !example.MatchString(c.Description) {
			t.Errorf("gantry %s: no example in its Description", name)
		}
	}
}

func TestCompletion(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	table := map[string]compEntry{}
	for _, e := range completionTable(app) {
		table[e.path] = e
	}
	// Every command is offered by its parent and has an entry.
	for name, c := range allCommands() {
		e, ok := table["gantry "+name]
		if !ok {
			t.Errorf("no completion entry for gantry %s", name)
			continue
		}
		parent := "gantry " + strings.TrimSpace(strings.TrimSuffix(name, c.Name))
		if !strings.Contains(" "+words(table[strings.TrimSpace(parent)].subs)+" ", " "+c.Name+" ") {
			t.Errorf("%s does not offer %s", parent, c.Name)
		}
		if !strings.Contains(" "+words(e.flags)+" ", " --help ") {
			t.Errorf("gantry %s: no --help", name)
		}
	}
	tests := []struct {
		path       string
		flag, vals string // one flag offered, one flag that takes a value
	}{
		{"gantry", "--server", "--server"},
		{"gantry sub", "--cores", "-M"},
		{"gantry sub", "--json", "-o"},
		{"gantry jobs", "-a", "--state"},
		{"gantry queue add", "--json", "--max-walltime"},
		{"gantry token list", "--all", "--user"},
		{"gantry man", "--dir", "--dir"},
	}
	for _, tt := range tests {
		e := table[tt.path]
		if !strings.Contains(" "+words(e.flags)+" ", " "+tt.flag+" ") {
			t.Errorf("%s: flags %q lack %s", tt.path, words(e.flags), tt.flag)
		}
		if !strings.Contains(" "+strings.Join(e.vals, " ")+" ", " "+tt.vals+" ") {
			t.Errorf("%s: value flags %q lack %s", tt.path, e.vals, tt.vals)
		}
	}
	if strings.Contains(" "+strings.Join(table["gantry sub"].vals, " ")+" ", " --json ") {
		t.Error("gantry sub: --json listed as taking a value")
	}

	for _, shell := range []string{"bash", "zsh"} {
		var out, errb bytes.Buffer
		if code := Main(context.Background(), []string{"gantry", "completion", shell}, &out, &errb); code != 0 {
			t.Fatalf("completion %s: exit %d: %s", shell, code, errb.String())
		}
		script := out.String()
		for _, want := range []string{"'gantry queue add'", "--max-walltime", "'gantry cron pause'", "--retry-on"} {
			if !strings.Contains(script, want) {
				t.Errorf("completion %s: no %s", shell, want)
			}
		}
		if sh, err := exec.LookPath(shell); err == nil {
			if msg, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
				t.Errorf("%s -n: %v: %s", shell, err, msg)
			}
		}
	}
	var errb bytes.Buffer
	if code := Main(context.Background(), []string{"gantry", "completion", "fish"}, io.Discard, &errb); code != exitUsage {
		t.Errorf("completion fish: exit %d, want %d", code, exitUsage)
	}
}

// TestBashCompletes runs the bash script's completion function on typed
// command lines.
func TestBashCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	var script bytes.Buffer
	if err := writeBashCompletion(&script, newApp(io.Discard, io.Discard)); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ line, want string }{
		{"gantry qu", "queues queue"},
		{"gantry queue ''", "add set rm open close activate inactivate"},
		{"gantry --server /s queue a", "add activate"},
		{"gantry queue add gpu --max-w", "--max-walltime"},
		{"gantry token list --u", "--user"},
		{"gantry completion ''", "bash zsh"},
		{"gantry sub -q ''", ""},      // a value: file names
		{"gantry sub -n 2 -- py", ""}, // the job's command line
		{"gantry kill --j", "--json"}, //
		{"gantry cron add '*' --o", "--overlap"},
	}
	var prog strings.Builder
	prog.WriteString(script.String())
	prog.WriteString(`t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMPREPLY=(); _gantry; echo "${COMPREPLY[*]}"; }` + "\n")
	for _, tt := range tests {
		prog.WriteString("t " + tt.line + "\n")
	}
	out, err := exec.Command(bash, "--norc", "-c", prog.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v: %s", err, out)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(tests) {
		t.Fatalf("bash printed %q", out)
	}
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s<TAB>: %q, want %q", tt.line, got[i], tt.want)
		}
	}
}

func TestManPages(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("SOURCE_DATE_EPOCH", "1764169440") // 2025-11-26
	var errb bytes.Buffer
	if code := Main(context.Background(), []string{"gantry", "man", "--dir", dir}, io.Discard, &errb); code != 0 {
		t.Fatalf("man: exit %d: %s", code, errb.String())
	}
	want := map[string]bool{"gantry.1": true}
	for name := range allCommands() {
		if !strings.Contains(name, " ") {
			want["gantry-"+name+".1"] = true
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) != len(want) {
		t.Errorf("%d pages, want %d", len(files), len(want))
	}
	th := regexp.MustCompile(`(?m)^\.TH "GANTRY(\\-[A-Z]+)?" 1 "2025-11-26" "Gantry" "Gantry Manual"$`)
	groff, _ := exec.LookPath("groff")
	for file := range want {
		b, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Error(err)
			continue
		}
		page := string(b)
		if !th.MatchString(page) || !strings.Contains(page, "\n.SH NAME\n") || !strings.Contains(page, "\n.SH SYNOPSIS\n") {
			t.Errorf("%s: no valid header (.TH, NAME, SYNOPSIS):\n%.300s", file, page)
		}
		for i, l := range strings.Split(page, "\n") {
			if strings.HasPrefix(l, "'") || (strings.HasPrefix(l, ".") && !regexp.MustCompile(`^\.(\\"|TH|SH|SS|PP|TP|RS|RE|nf|fi|B)( |$)`).MatchString(l)) {
				t.Errorf("%s:%d: unexpected request %q", file, i+1, l)
			}
		}
		if groff != "" {
			cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
			cmd.Stdin = bytes.NewReader(b)
			if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
				t.Errorf("%s: groff: %v %s", file, err, msg)
			}
		}
	}
	sub, _ := os.ReadFile(filepath.Join(dir, "gantry-sub.1"))
	for _, want := range []string{`\fB\-n\fR, \fB\-\-cores\fR \fIvalue\fR`, `gantry sub \-n 4 \-M 8G`, ".SH OPTIONS", `(default: 1)`} {
		if !strings.Contains(string(sub), want) {
			t.Errorf("gantry-sub.1 lacks %q", want)
		}
	}
	queue, _ := os.ReadFile(filepath.Join(dir, "gantry-queue.1"))
	if !strings.Contains(string(queue), `.SS "gantry queue add"`) {
		t.Errorf("gantry-queue.1 lacks its subcommands")
	}
}

// TestColour: no escape codes unless the output is a terminal and
// $NO_COLOR is unset; coloured tables stay aligned.
func TestColour(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for _, out := range []io.Writer{&bytes.Buffer{}, w, io.Discard} {
		if colourOn(out) || colour(out, "31", "FAILED") != "FAILED" {
			t.Errorf("%T: coloured", out)
		}
	}
	if tty := openPTY(t); tty != nil {
		if !colourOn(tty) || colour(tty, "31", "FAILED") != "\x1b[31mFAILED\x1b[0m" {
			t.Error("a terminal is not coloured")
		}
		t.Setenv("NO_COLOR", "1")
		if colourOn(tty) {
			t.Error("coloured with NO_COLOR set")
		}
	}

	table := func(on bool) string {
		var b bytes.Buffer
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		paint := columnPainter(on)
		fmt.Fprintf(tw, "JOBID\t%s\tQUEUE\n", paint("", "STATE"))
		for _, st := range []api.JobState{api.StatePending, api.StateRunning, api.StateFailed, api.StateSucceeded} {
			fmt.Fprintf(tw, "1\t%s\tnormal\n", paint(stateColour(st), string(st)))
		}
		tw.Flush()
		return b.String()
	}
	plain, coloured := table(false), table(true)
	if strings.Contains(plain, "\x1b") || !strings.Contains(coloured, "\x1b[31mFAILED") || !strings.Contains(coloured, "\x1b[32mSUCCEEDED") ||
		!strings.Contains(coloured, "\x1b[34mRUNNING") {
		t.Errorf("plain %q, coloured %q", plain, coloured)
	}
	if stripped := regexp.MustCompile("\x1b\\[[0-9]+m").ReplaceAllString(coloured, ""); stripped != plain {
		t.Errorf("coloured table misaligned:\n%s\nwant\n%s", stripped, plain)
	}
}

// openPTY opens a pseudo-terminal's secondary side, or nil where there is
// none.
func openPTY(t *testing.T) *os.File {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Logf("no pty: %v", err)
		return nil
	}
	t.Cleanup(func() { m.Close() })
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Logf("no pty: %v", err)
		return nil
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Logf("no pty: %v", err)
		return nil
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Logf("no pty: %v", err)
		return nil
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestJSONOutputs runs the native commands with --json against a real
// server (no node daemon: jobs stay pending) and decodes what they print.
func TestJSONOutputs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	dir, err := os.MkdirTemp("", "gantry-json") // short: a socket path
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	_, stop, err := startBenchServer(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	sock := filepath.Join(dir, "gantry.sock")

	// run runs gantry ARGS and decodes its stdout into v.
	run := func(wantCode int, v any, args ...string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := Main(ctx, append([]string{"gantry", "--server", sock}, args...), &out, &errb)
		if code != wantCode {
			t.Fatalf("gantry %s: exit %d, want %d; stderr %q", strings.Join(args, " "), code, wantCode, errb.String())
		}
		dec := json.NewDecoder(&out)
		dec.DisallowUnknownFields()
		if err := dec.Decode(v); err != nil {
			t.Fatalf("gantry %s: %v in %q", strings.Join(args, " "), err, out.String())
		}
		if dec.More() {
			t.Fatalf("gantry %s: more than one JSON value in %q", strings.Join(args, " "), out.String())
		}
	}

	var sub, held api.SubmitResponse
	run(0, &sub, "sub", "--json", "-n", "1", "--", "/bin/true")
	run(0, &held, "sub", "-H", "--json", "--", "/bin/true")
	if sub.ID == 0 || sub.Queue == "" || held.ID == sub.ID {
		t.Fatalf("sub --json: %+v, %+v", sub, held)
	}
	id, heldID := fmt.Sprint(sub.ID), fmt.Sprint(held.ID)

	var jl api.JobList
	run(0, &jl, "hold", id, "--json")
	if len(jl.Jobs) != 1 || jl.Jobs[0].ID != sub.ID || !jl.Jobs[0].Held {
		t.Errorf("hold --json: %+v", jl)
	}
	jl = api.JobList{}
	run(0, &jl, "release", "--json", id)
	if len(jl.Jobs) != 1 || jl.Jobs[0].Held {
		t.Errorf("release --json: %+v", jl)
	}
	var j api.Job
	run(0, &j, "mod", id, "-n", "2", "--json")
	if j.ID != sub.ID || j.Spec.Cores != 2 {
		t.Errorf("mod --json: %+v", j.Spec)
	}
	jl = api.JobList{}
	run(0, &jl, "jobs", "--json")
	if len(jl.Jobs) != 2 {
		t.Errorf("jobs --json: %d jobs", len(jl.Jobs))
	}
	jl = api.JobList{}
	run(0, &jl, "kill", id, heldID, "--json")
	if len(jl.Jobs) != 2 || jl.Jobs[0].State != api.StateCancelled || jl.Jobs[1].ID != held.ID {
		t.Errorf("kill --json: %+v", jl)
	}
	var evs api.History
	run(1, &evs, "wait", "--json", id, heldID) // cancelled: exit 1
	if len(evs.Events) != 2 || evs.Events[0].JobID != sub.ID || evs.Events[1].State != api.StateCancelled {
		t.Errorf("wait --json: %+v", evs)
	}
	evs = api.History{}
	run(0, &evs, "hist", id, "--json")
	if len(evs.Events) == 0 {
		t.Error("hist --json: no events")
	}

	var q api.Queue
	run(0, &q, "queue", "add", "gpu", "--priority", "5", "--json")
	if q.Name != "gpu" || q.Priority != 5 {
		t.Errorf("queue add --json: %+v", q)
	}
	run(0, &q, "queue", "set", "gpu", "--priority", "7", "--json")
	if q.Priority != 7 {
		t.Errorf("queue set --json: %+v", q)
	}
	run(0, &q, "queue", "close", "gpu", "--json")
	if q.Open {
		t.Errorf("queue close --json: %+v", q)
	}
	var ql api.QueueList
	run(0, &ql, "queues", "--json")

	var cr api.Cron
	run(0, &cr, "cron", "add", "@daily", "--json", "--", "--", "/bin/true")
	if cr.ID == 0 || cr.Schedule != "@daily" {
		t.Errorf("cron add --json: %+v", cr)
	}
	run(0, &cr, "cron", "pause", fmt.Sprint(cr.ID), "--json")
	if !cr.Paused {
		t.Errorf("cron pause --json: %+v", cr)
	}
	var cl api.CronList
	run(0, &cl, "cron", "ls", "--json")

	// No node: drain and reserve fail, drain still prints a (empty) list.
	var nl api.NodeList
	run(1, &nl, "drain", "nosuch", "--reason", "test", "--json")
	if len(nl.Nodes) != 0 {
		t.Errorf("drain --json: %+v", nl)
	}
	run(0, &nl, "nodes", "--json")
	var rl api.ReservationList
	run(0, &rl, "reservations", "--json")
	var al api.AcctList
	run(0, &al, "acct", "--json")
	var audit api.AuditList
	run(0, &audit, "audit", "--json")
	var tl api.TokenList
	run(0, &tl, "token", "ls", "--json")
}
