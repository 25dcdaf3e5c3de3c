// Command gantry is Gantry's one binary: the server, the node daemon, the
// job supervisor and the command line.
package main

import (
	"context"
	"os"

	"github.com/gantry-hpc/gantry/cli"
	"github.com/gantry-hpc/gantry/noded/runner"
)

func main() {
	// The job supervisor is a re-exec of this binary by the node daemon;
	// it must not go through the command-line machinery. (libcontainer's
	// own "init" re-exec is handled by package runner's init function,
	// before main runs.)
	if len(os.Args) > 1 && os.Args[1] == "job-supervisor" {
		os.Exit(runner.SupervisorMain(os.Args[2:]))
	}
	os.Exit(cli.Main(context.Background(), os.Args, os.Stdout, os.Stderr))
}
