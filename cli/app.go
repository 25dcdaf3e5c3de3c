package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/gantry-hpc/gantry/client"
	"github.com/urfave/cli/v2"
)

// Exit codes: 0 success, 1 a failed operation, 2 a usage error.
const (
	exitFailure = 1
	exitUsage   = 2
)

// usageError is bad input on the command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// Main runs the gantry command line with args (args[0] is the program
// name) and returns the exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if code, ok := lsfMain(ctx, args, stdout, stderr); ok { // bsub, bjobs, ... (lsf.go)
		return code
	}
	app := newApp(stdout, stderr)
	err := app.RunContext(ctx, hoistFlags(args))
	if err == nil {
		return 0
	}
	var code exitCode
	if errors.As(err, &code) {
		return int(code)
	}
	fmt.Fprintf(stderr, "gantry: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		return exitUsage
	}
	return exitFailure
}

// interspersed are the commands whose flags may follow their arguments
// (gantry job 42 --json), with the flags that take a value. sub is not
// among them: what follows its flags is the job's command line.
var interspersed = map[string]map[string]bool{
	"job":              {"server": true},
	"hist":             {"server": true},
	"wait":             {"server": true, "timeout": true},
	"jobs":             {"server": true, "state": true},
	"kill":             {"server": true},
	"hold":             {"server": true},
	"suspend":          {"server": true},
	"top":              {"server": true},
	"bot":              {"server": true},
	"continue":         {"server": true},
	"mod":              {"server": true, "n": true, "M": true, "W": true, "q": true, "J": true, "o": true, "e": true, "w": true, "b": true, "throttle": true},
	"release":          {"server": true},
	"nodes":            {"server": true, "l": true},
	"drain":            {"server": true, "reason": true, "deadline": true},
	"resume":           {"server": true},
	"queue add":        queueValueFlags,
	"cron add":         {"server": true, "tz": true, "overlap": true},
	"cron rm":          {"server": true},
	"cron pause":       {"server": true},
	"cron resume":      {"server": true},
	"queue set":        queueValueFlags,
	"queue rm":         {"server": true},
	"queue open":       {"server": true},
	"queue close":      {"server": true},
	"queue activate":   {"server": true},
	"queue inactivate": {"server": true},
}

// queueValueFlags are the flags of queue add and set that take a value.
var queueValueFlags = map[string]bool{
	"server": true, "priority": true, "description": true, "default-walltime": true, "max-walltime": true,
	"users": true, "groups": true, "nodes": true, "max-running-jobs-per-user": true, "max-cores-per-user": true,
	"max-gpus-per-user": true, "preempts": true, "preempt-mode": true,
}

// hoistFlags moves the flags of an interspersed command in front of its
// arguments, because the flag parser stops at the first argument.
func hoistFlags(args []string) []string {
	i := 1
	for i < len(args) && strings.HasPrefix(args[i], "-") { // global flags
		if strings.TrimLeft(args[i], "-") == "server" {
			i++
		}
		i++
	}
	if i >= len(args) {
		return args
	}
	valued, ok := interspersed[args[i]]
	if !ok && i+1 < len(args) {
		// A command with subcommands: gantry queue add NAME --priority 5.
		if valued, ok = interspersed[args[i]+" "+args[i+1]]; ok {
			i++
		}
	}
	if !ok {
		return args
	}
	out := append([]string(nil), args[:i+1]...)
	var positional []string
	rest := args[i+1:]
	for j := 0; j < len(rest); j++ {
		a := rest[j]
		switch {
		case a == "--":
			positional = append(positional, rest[j+1:]...)
			j = len(rest)
		case strings.HasPrefix(a, "-") && a != "-":
			out = append(out, a)
			if name := strings.TrimLeft(a, "-"); valued[name] && j+1 < len(rest) {
				out = append(out, rest[j+1])
				j++
			}
		default:
			positional = append(positional, a)
		}
	}
	return append(out, positional...)
}

// isFlagError recognises urfave/cli's (untyped) flag parsing errors.
func isFlagError(err error) bool {
	msg := err.Error()
	return strings.HasPrefix(msg, "flag provided but not defined") || strings.HasPrefix(msg, "invalid value") ||
		strings.HasPrefix(msg, "flag needs an argument") || strings.Contains(msg, "Required flag")
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:            "gantry",
		Usage:           "a batch scheduler for CPU and GPU clusters",
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // Main reports errors
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err.Error()}
		},
		Flags: []cli.Flag{serverFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("unknown command %q (see gantry --help)", c.Args().First())
			}
			return cli.ShowAppHelp(c)
		},
		Commands: []*cli.Command{
			subCommand(), jobsCommand(), jobCommand(), logsCommand(), attachCommand(), killCommand(), holdCommand(true), holdCommand(false), suspendCommand(true), suspendCommand(false), moveCommand(true), moveCommand(false), histCommand(), waitCommand(), nodesCommand(), drainCommand(), resumeCommand(), reserveCommand(), reservationsCommand(), queuesCommand(), queueCommand(), cronCommand(), acctCommand(), benchCommand(), modCommand(),
			tokenCommand(), auditCommand(), completionCommand(), manCommand(),
			serverCommand(), nodeCommand(), devCommand(), simCommand(),
		},
	}
}

// withUsageErrors makes a command's flag errors usage errors.
func withUsageErrors(c *cli.Command) *cli.Command {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err.Error()} }
	return c
}

// newClient connects to the server named by --server (given before or
// after the command name), $GANTRY_SERVER or the default socket.
func newClient(c *cli.Context) (*client.Client, error) {
	return client.New(serverAddr(c), "")
}

// serverAddr is the innermost --server that was set, or "".
func serverAddr(c *cli.Context) string {
	for _, ctx := range c.Lineage() {
		if ctx.IsSet("server") {
			return ctx.String("server")
		}
	}
	return ""
}

// defaultStateDir is /var/lib/gantry for root, $XDG_STATE_HOME/gantry
// (default ~/.local/state/gantry) otherwise.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/gantry"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "gantry")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".local", "state", "gantry")
}
