//go:build linux

package shim

import (
	"fmt"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

const (
	// Arg is the first argument that makes a binary importing this
	// package run as the job shim.
	Arg = "job-shim"
	// StatusFD is the descriptor the shim reports the command's wait
	// status on.
	StatusFD = 3
	// TasksFlag, before the command, makes the shim start it once per
	// task: "--tasks=N:FIRST" starts N copies, copy i with LOCAL_RANK=i
	// and RANK=FIRST+i (and Slurm's SLURM_LOCALID and SLURM_PROCID).
	TasksFlag = "--tasks="
)

// forwarded are the signals the shim passes on to the command.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT, syscall.SIGWINCH}

// init makes every binary that imports this package the job shim when
// started as "<exe> job-shim [--tasks=N:FIRST] /abs/cmd args...". Package
// initialisation order puts it before the binary's heavier packages.
func init() {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		os.Exit(Main(os.Args[2:]))
	}
}

// TasksArg returns the argument that makes the shim start n tasks, the
// first of rank first.
func TasksArg(n, first int) string { return fmt.Sprintf("%s%d:%d", TasksFlag, n, first) }

// parseTasks reads an optional TasksFlag argument off argv.
func parseTasks(argv []string) (n, first int, rest []string, err error) {
	if len(argv) == 0 || !strings.HasPrefix(argv[0], TasksFlag) {
		return 1, -1, argv, nil
	}
	a, b, ok := strings.Cut(strings.TrimPrefix(argv[0], TasksFlag), ":")
	n, err1 := strconv.Atoi(a)
	first, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || n > 1024 || first < 0 {
		return 0, 0, nil, fmt.Errorf("bad %s argument %q: want N:FIRST", TasksFlag, argv[0])
	}
	return n, first, argv[1:], nil
}

// Main runs argv (argv[0] absolute) and returns the shim's exit code. With
// several tasks, the first to fail (exit non-zero, or killed by a signal)
// ends the others with SIGTERM, and its status is the shim's; otherwise
// the status is 0 once every task has exited 0.
func Main(argv []string) int {
	n, first, argv, err := parseTasks(argv)
	if err != nil {
		os.Stderr.WriteString("gantry job-shim: " + err.Error() + "\n")
		return 127
	}
	if len(argv) == 0 {
		os.Stderr.WriteString("gantry job-shim: no command\n")
		return 127
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append([]os.Signal{syscall.SIGCHLD}, forwarded...)...)

	// The status descriptor is the shim's alone: the command and its
	// children do not inherit it.
	syscall.CloseOnExec(StatusFD)
	status := os.NewFile(StatusFD, "status")
	report := func(s string) {
		if status != nil {
			_, _ = status.WriteString(s)
			_ = status.Close()
		}
	}
	live := map[int]bool{}
	for i := range n {
		attr := &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}}
		if n == 1 && isTerminal(0) {
			// An interactive job: the command is the terminal's
			// foreground process group, so ^C and job control reach
			// it (the shim, the session leader, stays in the
			// background).
			attr.Sys = &syscall.SysProcAttr{Setpgid: true, Foreground: true, Ctty: 0}
		}
		if first >= 0 {
			r, l := strconv.Itoa(first+i), strconv.Itoa(i)
			attr.Env = withEnv(os.Environ(), "LOCAL_RANK="+l, "RANK="+r, "SLURM_LOCALID="+l, "SLURM_PROCID="+r)
		}
		proc, err := os.StartProcess(argv[0], argv, attr)
		if err != nil {
			os.Stderr.WriteString("gantry job-shim: " + err.Error() + "\n")
			for pid := range live {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			return 127
		}
		live[proc.Pid] = true
	}
	failed := ""
	code := 0
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			for pid := range live {
				_ = syscall.Kill(pid, sig.(syscall.Signal))
			}
			continue
		}
		// Reap everything that has exited: the tasks and any orphan
		// reparented to us.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if !live[pid] {
				continue
			}
			delete(live, pid)
			c, what := ws.ExitStatus(), "exit "+strconv.Itoa(ws.ExitStatus())
			if ws.Signaled() {
				c, what = 128+int(ws.Signal()), "signal "+strconv.Itoa(int(ws.Signal()))
			}
			if c != 0 && failed == "" {
				// The first failure ends the job's other tasks.
				failed, code = what, c
				for other := range live {
					_ = syscall.Kill(other, syscall.SIGTERM)
				}
			}
			if len(live) == 0 {
				if failed == "" {
					failed = what
				}
				report(failed)
				return code
			}
		}
	}
	return 1 // unreachable: sigs is never closed
}

// withEnv returns env with the variables of set (KEY=VALUE) replacing any
// it had: a program sees the first of two copies.
func withEnv(env []string, set ...string) []string {
	out := make([]string, 0, len(env)+len(set))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.ContainsFunc(set, func(s string) bool { return strings.HasPrefix(s, k+"=") }) {
			out = append(out, kv)
		}
	}
	return append(out, set...)
}

// isTerminal reports whether fd is a terminal.
func isTerminal(fd int) bool {
	var t syscall.Termios
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TCGETS, uintptr(unsafe.Pointer(&t)))
	return errno == 0
}
