//go:build linux && cgo

package shim

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// shim runs this test binary as the shim (its C constructor takes over)
// with args, and returns its exit code, the status it reported on fd 3,
// and its stdout.
func shim(t *testing.T, args ...string) (code int, status, stdout string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, append([]string{Arg}, args...)...)
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "RANK=99"}
	var out strings.Builder
	cmd.Stdout = &out
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, string(b), out.String()
}

func TestShim(t *testing.T) {
	for _, tt := range []struct {
		name         string
		args         []string
		code         int
		status, want string
	}{
		{"exit code", []string{"/bin/sh", "-c", "exit 7"}, 7, "exit 7", ""},
		{"success", []string{"/bin/sh", "-c", "echo hi"}, 0, "exit 0", "hi\n"},
		{"killed by a signal", []string{"/bin/sh", "-c", "kill -KILL $$"}, 137, "signal 9", ""},
		{"no such command", []string{"/nonexistent/cmd"}, 127, "exit 127", ""},
		{"no command", nil, 127, "", ""},
		{"bad tasks", []string{"--tasks=0:1", "/bin/true"}, 127, "", ""},
		{"tasks and ranks", []string{"--tasks=2:6", "/bin/sh", "-c", `[ "$LOCAL_RANK" = 1 ] && sleep 0.2; echo "$RANK $LOCAL_RANK $SLURM_PROCID"`}, 0, "exit 0", "6 0 6\n7 1 7\n"},
		{"first failure ends the others", []string{"--tasks=3:0", "/bin/sh", "-c",
			`if [ "$RANK" = 1 ]; then sleep 0.3; exit 4; fi; trap 'echo stopped; exit 1' TERM; while :; do sleep 0.05; done`}, 4, "exit 4", "stopped\nstopped\n"},
		{"one task keeps the inherited rank", []string{"/bin/sh", "-c", `echo $RANK`}, 0, "exit 0", "99\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, status, out := shim(t, tt.args...)
			if code != tt.code || status != tt.status || out != tt.want {
				t.Errorf("code %d status %q output %q; want %d %q %q", code, status, out, tt.code, tt.status, tt.want)
			}
		})
	}
}

func TestShimForwardsSignals(t *testing.T) {
	exe, _ := os.Executable()
	cmd := exec.Command(exe, Arg, "/bin/sh", "-c", `trap 'echo got TERM; exit 3' TERM; echo ready; while :; do sleep 0.05; done`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(out, buf); err != nil || string(buf) != "ready\n" {
		t.Fatalf("read %q, %v", buf, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	rest, _ := io.ReadAll(out)
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || string(rest) != "got TERM\n" {
		t.Errorf("after SIGTERM: %v, output %q", err, rest)
	}
}
