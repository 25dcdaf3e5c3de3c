package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func tokenCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "token",
		Usage: "API tokens for remote use (TCP with TLS), and node join tokens",
		Description: `A user token lets gantry (or a script) act as its user from another host,
over the server's TLS listener: put it in $GANTRY_TOKEN or in
~/.config/gantry/token (mode 0600), and the cluster CA in $GANTRY_CA or
~/.config/gantry/ca.pem. Users create tokens for themselves on a host with
the server's socket; admins for anyone. The secret is shown once; the
server keeps only its hash.

   umask 077; mkdir -p ~/.config/gantry
   gantry token create --ttl 720h > ~/.config/gantry/token`,
		Subcommands: []*cli.Command{tokenCreateCommand(), tokenListCommand(), tokenRevokeCommand()},
	})
}

func tokenCreateCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "create",
		Usage: "make a token and print its secret (once)",
		Description: `Prints the secret on stdout and what the token is on stderr.

   gantry token create --ttl 720h --description laptop > ~/.config/gantry/token
   gantry token create --node --ttl 1h`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Usage: "the user the token acts as (default: you; others: admins only)"},
			&cli.DurationFlag{Name: "ttl", Usage: "expire after this long (default: never for user tokens, 24h for join tokens)"},
			&cli.BoolFlag{Name: "node", Usage: "a join token for node daemons (admins)"},
			&cli.StringFlag{Name: "description", Usage: "a note shown in gantry token ls"},
			jsonFlag("print the token, its secret included, as JSON"),
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("token create: unexpected argument %q", c.Args().First())
			}
			if c.Duration("ttl") < 0 {
				return usagef("token create: --ttl %s: must not be negative", c.Duration("ttl"))
			}
			req := api.TokenRequest{Kind: api.TokenUser, User: c.String("user"), Description: c.String("description"),
				TTLSeconds: int64((c.Duration("ttl") + time.Second - 1) / time.Second)}
			if c.Bool("node") {
				if req.User != "" {
					return usagef("token create: --node and --user: a join token is for nodes, not a user")
				}
				req.Kind = api.TokenJoin
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			t, err := cl.CreateToken(c.Context, req)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, t)
			}
			fmt.Fprintln(c.App.Writer, t.Secret)
			what := "user " + t.User
			if t.Kind == api.TokenJoin {
				what = "joining nodes"
			}
			exp := "never expires"
			if t.Expires != nil {
				exp = "expires " + t.Expires.Local().Format(time.RFC3339)
			}
			fmt.Fprintf(c.App.ErrWriter, "token %s for %s, %s; the secret above is shown only once\n", t.ID, what, exp)
			return nil
		},
	})
}

func tokenListCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:    "ls",
		Aliases: []string{"list"},
		Usage:   "list tokens (yours; everyone's with -a, admins)",
		Description: `Never shows secrets.

   gantry token ls
   gantry token ls -a --json`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "a", Aliases: []string{"all"}, Usage: "every user's tokens (admins)"},
			&cli.StringFlag{Name: "user", Usage: "one user's tokens (admins)"},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			who := c.String("user")
			if c.Bool("a") {
				who = "all"
			}
			ts, err := cl.Tokens(c.Context, who)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.TokenList{Tokens: ts})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tKIND\tUSER\tCREATED\tBY\tEXPIRES\tLAST USED\tSTATUS\tDESCRIPTION")
			now := time.Now()
			for _, t := range ts {
				status := "valid"
				switch {
				case t.Revoked != nil:
					status = "revoked"
				case !t.Valid(now):
					status = "expired"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Kind, dash(t.User), shortTime(&t.Created), t.CreatedBy,
					shortTime(t.Expires), shortTime(t.LastUsed), status, t.Description)
			}
			return tw.Flush()
		},
	})
}

func tokenRevokeCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:      "revoke",
		Usage:     "revoke tokens (yours; any, admins)",
		ArgsUsage: "ID...",
		Description: `A revoked token is refused at once; ids are those of gantry token ls.

   gantry token revoke 1a2b3c4d5e6f`,
		Flags: []cli.Flag{serverFlag},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("token revoke: missing token id (see gantry token ls)")
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			failed := 0
			for _, id := range c.Args().Slice() {
				if _, err := cl.RevokeToken(c.Context, id); err != nil {
					fmt.Fprintf(c.App.ErrWriter, "Token <%s>: %v\n", id, err)
					failed++
					continue
				}
				fmt.Fprintf(c.App.Writer, "Token <%s> is revoked\n", id)
			}
			if failed > 0 {
				return fmt.Errorf("token revoke: %d of %d tokens failed", failed, c.NArg())
			}
			return nil
		},
	})
}

func shortTime(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}
