package cli

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/urfave/cli/v2"
)

func auditCommand() *cli.Command {
	return withUsageErrors(&cli.Command{
		Name:  "audit",
		Usage: "show the audit log: every state-changing API call (admins: everyone's; users: their own)",
		Description: `--since and --until are durations back from now (24h), dates (2026-11-01)
or RFC 3339 times.

   gantry audit --since 24h --user alice
   gantry audit --method DELETE --json`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "user", Usage: "calls of this user"},
			&cli.StringFlag{Name: "since", Usage: "calls at or after"},
			&cli.StringFlag{Name: "until", Usage: "calls before"},
			&cli.StringFlag{Name: "method", Usage: "calls with this HTTP method (POST, PUT, DELETE, ...)"},
			&cli.IntFlag{Name: "limit", Usage: "at most this many (the newest)", Value: 1000},
			&cli.BoolFlag{Name: "json", Usage: "print JSON"},
			serverFlag,
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("audit: unexpected argument %q", c.Args().First())
			}
			q := url.Values{}
			if u := c.String("user"); u != "" {
				q.Set("user", u)
			}
			if m := c.String("method"); m != "" {
				q.Set("method", strings.ToUpper(m))
			}
			if c.Int("limit") < 1 {
				return usagef("audit: --limit %d: must be positive", c.Int("limit"))
			}
			q.Set("limit", strconv.Itoa(c.Int("limit")))
			now := time.Now()
			for _, key := range []string{"since", "until"} {
				if s := c.String(key); s != "" {
					t, err := parseWhen(s, now)
					if err != nil {
						return usagef("audit: --%s %v", key, err)
					}
					q.Set(key, t.UTC().Format(time.RFC3339Nano))
				}
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			recs, err := cl.Audit(c.Context, q)
			if err != nil {
				return err
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, api.AuditList{Records: recs})
			}
			tw := tabwriter.NewWriter(c.App.Writer, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tUSER\tFROM\tMETHOD\tPATH\tOBJECT\tSTATUS\tERROR")
			for _, r := range recs {
				user := dash(r.User)
				if r.Admin {
					user += "*"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", r.Time.Local().Format("2006-01-02 15:04:05"), user, r.Remote,
					r.Method, r.Path, dash(r.Object), r.Status, r.Error)
			}
			return tw.Flush()
		},
	})
}
