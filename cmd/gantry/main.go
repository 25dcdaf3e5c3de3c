// Command gantry is Gantry's one binary: the server, the node daemon, the
// job supervisor and the command line.
package main

import (
	"context"
	"os"

	"github.com/gantry-hpc/gantry/cli"
	// The re-exec'd roles (the job supervisor, libcontainer's "init", the
	// job shim) take over in this package's init functions, before main.
	_ "github.com/gantry-hpc/gantry/noded/runner"
)

func main() {
	os.Exit(cli.Main(context.Background(), os.Args, os.Stdout, os.Stderr))
}
