//go:build linux

package shim

import (
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

const (
	// Arg is the first argument that makes a binary importing this
	// package run as the job shim.
	Arg = "job-shim"
	// StatusFD is the descriptor the shim reports the command's wait
	// status on.
	StatusFD = 3
)

// forwarded are the signals the shim passes on to the command.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCONT, syscall.SIGWINCH}

// init makes every binary that imports this package the job shim when
// started as "<exe> job-shim /abs/cmd args...". Package initialisation
// order puts it before the binary's heavier packages.
func init() {
	if len(os.Args) > 1 && os.Args[1] == Arg {
		os.Exit(Main(os.Args[2:]))
	}
}

// Main runs argv (argv[0] absolute) and returns the shim's exit code.
func Main(argv []string) int {
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
	proc, err := os.StartProcess(argv[0], argv, &os.ProcAttr{Files: []*os.File{os.Stdin, os.Stdout, os.Stderr}})
	if err != nil {
		os.Stderr.WriteString("gantry job-shim: " + err.Error() + "\n")
		return 127
	}
	child := proc.Pid
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			_ = syscall.Kill(child, sig.(syscall.Signal))
			continue
		}
		// Reap everything that has exited: the command and any orphan
		// reparented to us.
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
			if pid != child {
				continue
			}
			code := ws.ExitStatus()
			report := "exit " + strconv.Itoa(code)
			if ws.Signaled() {
				code = 128 + int(ws.Signal())
				report = "signal " + strconv.Itoa(int(ws.Signal()))
			}
			if status != nil {
				_, _ = status.WriteString(report)
				_ = status.Close()
			}
			return code
		}
	}
	return 1 // unreachable: sigs is never closed
}
