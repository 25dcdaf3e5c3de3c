//go:build linux && cgo

package runner

import (
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The job shim. A container's first process is PID 1 of its PID
// namespace, and the kernel drops every signal to PID 1 for which it has
// no handler: a plain `sleep` as PID 1 ignores SIGTERM, so a job could only
// ever be stopped with SIGKILL, and orphaned processes would stay zombies.
// So PID 1 is this shim (the gantry binary itself, bound read-only into the
// container at shimPath), as tini is for Docker: it starts the job's
// command, forwards signals to it, reaps every orphan, reports the
// command's exact wait status on fd 3, and exits with the command's status.

const (
	// ShimArg is the first argument that makes a binary importing this
	// package run as the job shim.
	ShimArg = "job-shim"
	// shimPath is where the shim's executable appears in the container.
	shimPath = "/run/gantry/shim"
	// shimStatusFD is the descriptor the shim reports the command's wait
	// status on ("exit N" or "signal N").
	shimStatusFD = 3
)

// forwarded are the signals the shim passes on to the command.
var forwarded = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGCONT, unix.SIGWINCH}

// shimMain runs argv (argv[0] absolute) and returns the shim's exit code.
func shimMain(argv []string) int {
	if len(argv) == 0 {
		fmt.Fprintln(os.Stderr, "gantry job-shim: no command")
		return 127
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append([]os.Signal{unix.SIGCHLD}, forwarded...)...)

	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Args = argv
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	status := os.NewFile(shimStatusFD, "status")
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "gantry job-shim: %v\n", err)
		return 127
	}
	child := cmd.Process.Pid
	for sig := range sigs {
		if sig != unix.SIGCHLD {
			unix.Kill(child, sig.(syscall.Signal))
			continue
		}
		// Reap everything that has exited: the command and any orphan
		// reparented to us.
		for {
			var ws unix.WaitStatus
			pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
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
				status.WriteString(report)
				status.Close()
			}
			return code
		}
	}
	return 1 // unreachable: sigs is never closed
}

// parseShimStatus decodes the shim's report into an exit code and signal.
func parseShimStatus(s string) (code int, sig unix.Signal, ok bool) {
	kind, num, found := strings.Cut(strings.TrimSpace(s), " ")
	n, err := strconv.Atoi(num)
	if !found || err != nil || n < 0 || n > 255 {
		return 0, 0, false
	}
	switch kind {
	case "exit":
		return n, 0, true
	case "signal":
		return 128 + n, unix.Signal(n), true
	}
	return 0, 0, false
}
