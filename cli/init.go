package cli

import (
	"fmt"
	"strings"

	"github.com/gantry-hpc/gantry/server"
	"github.com/urfave/cli/v2"
)

// serverInitCommand is gantry server init: the cluster's PKI and join
// token, made once on the server's host.
func serverInitCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "init",
		Usage: "create the cluster CA, the server's TLS certificate and the node join token",
		Description: `Run once on the server's host, before gantry server --listen. Makes, in
STATE/tls, a cluster CA (ECDSA P-256; kept if it exists) and the server's
certificate for the host name, localhost and --hosts (re-issued on every
run: run it again to add a name); and STATE/join-token, the standing join
token for node daemons (kept if it exists). Keys and token are 0600.

   gantry server init --hosts head.cluster.example,10.0.0.1`,
		Flags: []cli.Flag{
			stateDirFlag(),
			&cli.StringSliceFlag{Name: "hosts", Usage: "more names and IP addresses clients use to reach the server (comma-separated)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("server init: unexpected argument %q", c.Args().First())
			}
			res, err := server.Init(server.InitOptions{StateDir: c.String("state-dir"), Hosts: c.StringSlice("hosts")})
			if err != nil {
				return err
			}
			w := c.App.Writer
			verb := "kept"
			if res.CreatedCA {
				verb = "created"
			}
			fmt.Fprintf(w, "cluster CA %s: %s\n", verb, res.CAFile)
			fmt.Fprintf(w, "server certificate: %s, for %s\n", res.ServerCert, strings.Join(res.Hosts, ", "))
			if res.CreatedJoinToken {
				fmt.Fprintf(w, "join token created: %s\n  %s\n", res.JoinTokenFile, res.JoinToken)
			} else {
				fmt.Fprintf(w, "join token kept: %s\n", res.JoinTokenFile)
			}
			fmt.Fprintf(w, "Copy the CA to every node (gantry node --ca) and user (~/.config/gantry/ca.pem).\n")
			return nil
		},
	})
}
