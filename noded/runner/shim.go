//go:build linux && cgo

package runner

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/gantry-hpc/gantry/noded/runner/shim"
)

// The job shim, PID 1 of every job's container, is package shim (see
// there); it reports the command's wait status ("exit N" or "signal N") on
// shim.StatusFD, the first of the container process's ExtraFiles.

const (
	// ShimArg is the first argument that makes a binary importing this
	// package run as the job shim.
	ShimArg = shim.Arg
	// shimPath is where the shim's executable appears in the container.
	shimPath = "/run/gantry/shim"
)

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
