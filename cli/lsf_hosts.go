package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/gantry-hpc/gantry/api"
)

func init() {
	lsfCommands["bhosts"] = &lsfCommand{
		opts: map[string]bool{"w": false, "l": false, "json": false, "noheader": false},
		usage: `Usage: bhosts [-w | -l] [-json] [-noheader] [HOST ...]

Lists the hosts (nodes), as LSF's bhosts:
HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV

STATUS is ok, closed_Full (every slot in use), closed_Adm (drained by an
administrator: badmin hclose) or unavail (not heard from). MAX is the
host's cores; NJOBS and RUN count the slots of its jobs.

Examples:
  bhosts
  bhosts -l node07       # with the drain reason
`,
		run: runBhosts,
	}
	lsfCommands["bqueues"] = &lsfCommand{
		opts: map[string]bool{"w": false, "l": false, "json": false, "noheader": false},
		usage: `Usage: bqueues [-w | -l] [-json] [-noheader] [QUEUE ...]

Lists the queues, as LSF's bqueues:
QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP

Examples:
  bqueues
  bqueues -l normal
`,
		run: runBqueues,
	}
	lsfCommands["badmin"] = &lsfCommand{
		usage: `Usage: badmin SUBCOMMAND ...

  hclose [-C COMMENT] HOST ... | all    drain hosts: running jobs finish, no new ones start
  hopen HOST ... | all                  resume drained hosts
  qclose QUEUE ...   qopen QUEUE ...    stop and resume accepting jobs
  qinact QUEUE ...   qact QUEUE ...     stop and resume dispatching jobs

Examples:
  badmin hclose -C "replace DIMM" node07
  badmin hopen node07
`,
		run: runBadmin,
	}
}

// hostStatus is bhosts' STATUS.
func hostStatus(n api.Node) string {
	switch {
	case n.State == api.NodeDown:
		return "unavail"
	case n.State == api.NodeDraining || n.State == api.NodeDrained || n.Drain != nil:
		return "closed_Adm"
	case n.State != api.NodeUp:
		return "unavail"
	case len(n.CPUs) > 0 && n.AllocCores >= len(n.CPUs):
		return "closed_Full"
	}
	return "ok"
}

func selectNodes(x *lsfRun) ([]api.Node, error) {
	cl, err := x.client()
	if err != nil {
		return nil, err
	}
	nodes, err := cl.Nodes(x.ctx)
	if err != nil || len(x.args) == 0 {
		return nodes, err
	}
	var out []api.Node
	for _, a := range x.args {
		found := false
		for _, n := range nodes {
			if n.Name == a || n.Hostname == a {
				out = append(out, n)
				found = true
			}
		}
		if !found {
			return nil, lsfErr("%s: Bad host name, host group name or cluster name", a)
		}
	}
	return out, nil
}

func runBhosts(x *lsfRun) error {
	nodes, err := selectNodes(x)
	if err != nil {
		return err
	}
	row := func(n api.Node) []string {
		return []string{n.Name, hostStatus(n), "-", strconv.Itoa(len(n.CPUs)), strconv.Itoa(n.AllocCores), strconv.Itoa(n.AllocCores), "0", "0", "0"}
	}
	headers := []string{"HOST_NAME", "STATUS", "JL/U", "MAX", "NJOBS", "RUN", "SSUSP", "USUSP", "RSV"}
	if x.has("json") {
		var recs [][]string
		for _, n := range nodes {
			recs = append(recs, row(n))
		}
		return writeLSFJSON(x.out, "bhosts", "HOSTS", headers, recs)
	}
	if x.has("l") {
		for i, n := range nodes {
			if i > 0 {
				fmt.Fprintln(x.out)
			}
			r := row(n)
			fmt.Fprintf(x.out, "HOST  %s\n", n.Name)
			fmt.Fprintln(x.out, "STATUS           CPUF  JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV DISPATCH_WINDOW")
			fmt.Fprintf(x.out, "%-15s %5s %5s %6s %6s %6s %6s %6s %6s      -\n", r[1], "1.00", r[2], r[3], r[4], r[5], r[6], r[7], r[8])
			fmt.Fprintf(x.out, "\n MEMORY: %s total, %s allocated\n", lsfMem(n.MemoryBytes), memOrDash(n.AllocMemoryBytes))
			fmt.Fprintf(x.out, " GANTRY STATE: %s\n", n.State)
			if n.Drain != nil {
				fmt.Fprintf(x.out, "\n ADMIN ACTION COMMENT: \"%s\" (by %s, %s)\n", n.Drain.Reason, n.Drain.By, lsfLongTime(n.Drain.Since))
			}
		}
		return nil
	}
	if !x.has("noheader") {
		fmt.Fprintln(x.out, "HOST_NAME          STATUS       JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV")
	}
	for _, n := range nodes {
		r := row(n)
		name := r[0]
		if !x.has("w") {
			name = truncLeft(name, 18)
		}
		status := fmt.Sprintf("%-12s", r[1])
		switch r[1] {
		case "ok":
			status = colour(x.out, "32", status)
		case "unavail":
			status = colour(x.out, "31", status)
		default:
			status = colour(x.out, "33", status)
		}
		fmt.Fprintf(x.out, "%-18s %s %4s %6s %6s %6s %6s %6s %6s\n", name, status, r[2], r[3], r[4], r[5], r[6], r[7], r[8])
	}
	return nil
}

func runBqueues(x *lsfRun) error {
	cl, err := x.client()
	if err != nil {
		return err
	}
	qs, err := cl.Queues(x.ctx)
	if err != nil {
		return err
	}
	if len(x.args) > 0 {
		var sel []api.Queue
		for _, a := range x.args {
			found := false
			for _, q := range qs {
				if q.Name == a {
					sel, found = append(sel, q), true
				}
			}
			if !found {
				return lsfErr("%s: No such queue", a)
			}
		}
		qs = sel
	}
	jlu := func(q api.Queue) string {
		if q.MaxRunningJobsPerUser > 0 {
			return strconv.Itoa(q.MaxRunningJobsPerUser)
		}
		return "-"
	}
	row := func(q api.Queue) []string {
		pend := q.Pending + q.Runnable
		return []string{q.Name, strconv.Itoa(q.Priority), queueStatus(q), "-", jlu(q), "-", "-",
			strconv.Itoa(pend + q.Running), strconv.Itoa(pend), strconv.Itoa(q.Running), "0"}
	}
	headers := []string{"QUEUE_NAME", "PRIO", "STATUS", "MAX", "JL/U", "JL/P", "JL/H", "NJOBS", "PEND", "RUN", "SUSP"}
	if x.has("json") {
		var recs [][]string
		for _, q := range qs {
			recs = append(recs, row(q))
		}
		return writeLSFJSON(x.out, "bqueues", "QUEUES", headers, recs)
	}
	if x.has("l") {
		for i, q := range qs {
			if i > 0 {
				fmt.Fprintln(x.out, strings.Repeat("-", 78))
			}
			r := row(q)
			fmt.Fprintf(x.out, "\nQUEUE: %s\n  -- %s\n\nPARAMETERS/STATISTICS\n", q.Name, dashIfEmpty(q.Description, "No description provided."))
			fmt.Fprintln(x.out, "PRIO NICE STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN SSUSP USUSP  RSV")
			fmt.Fprintf(x.out, "%4s %4s  %-15s%4s %4s %4s %4s %5s %5s %5s %5s %5s %4s\n", r[1], "0", r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], "0", "0", "0")
			if q.MaxWalltimeSeconds > 0 {
				fmt.Fprintf(x.out, "\n RUNLIMIT\n %s\n", minutesOrDash(q.MaxWalltimeSeconds))
			}
			if q.DefaultWalltimeSeconds > 0 {
				fmt.Fprintf(x.out, "\n DEFAULT LIMITS:\n RUNLIMIT\n %s\n", minutesOrDash(q.DefaultWalltimeSeconds))
			}
			fmt.Fprintf(x.out, "\nUSERS: %s\n", usersOf(q))
			hosts := "all"
			if len(q.Nodes) > 0 {
				var ls []string
				for k, v := range q.Nodes {
					ls = append(ls, k+"="+v)
				}
				hosts = "nodes labelled " + strings.Join(ls, ",")
			}
			fmt.Fprintf(x.out, "HOSTS:  %s\n", hosts)
		}
		return nil
	}
	if !x.has("noheader") {
		fmt.Fprintln(x.out, "QUEUE_NAME      PRIO STATUS          MAX JL/U JL/P JL/H NJOBS  PEND   RUN  SUSP")
	}
	for _, q := range qs {
		r := row(q)
		name := r[0]
		if !x.has("w") {
			name = truncLeft(name, 15)
		}
		fmt.Fprintf(x.out, "%-15s %-4s %-15s%4s %4s %4s %4s %5s %5s %5s %5s\n", name, r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10])
	}
	return nil
}

func dashIfEmpty(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func usersOf(q api.Queue) string {
	if len(q.Users) == 0 && len(q.Groups) == 0 {
		return "all"
	}
	var out []string
	out = append(out, q.Users...)
	for _, g := range q.Groups {
		out = append(out, g+"/")
	}
	return strings.Join(out, " ")
}

// writeLSFJSON prints LSF's -json layout: COMMAND, the count, RECORDS.
func writeLSFJSON(w io.Writer, command, countKey string, headers []string, recs [][]string) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"COMMAND\":\"%s\",\n  \"%s\":%d,\n  \"RECORDS\":[", command, countKey, len(recs))
	for i, r := range recs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    {")
		for k, h := range headers {
			key, _ := json.Marshal(h)
			val, _ := json.Marshal(r[k])
			if k > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n      %s:%s", key, val)
		}
		b.WriteString("\n    }")
	}
	if len(recs) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func runBadmin(x *lsfRun) error {
	if len(x.args) == 0 {
		fmt.Fprint(x.err, lsfCommands["badmin"].usage)
		return exitCode(lsfFailure)
	}
	sub, args := x.args[0], x.args[1:]
	cl, err := x.client()
	if err != nil {
		return err
	}
	failed := false
	switch sub {
	case "hclose", "hopen":
		opts, hosts, err := parseLSFOpts(map[string]bool{"C": true, "i": true}, args)
		if err != nil {
			return lsfErr("badmin %s: %v", sub, err)
		}
		comment := ""
		if v := opts["C"]; len(v) > 0 {
			comment = v[len(v)-1]
		}
		if len(hosts) == 0 {
			return lsfErr("badmin %s: missing host name (or all)", sub)
		}
		if len(hosts) == 1 && hosts[0] == "all" {
			nodes, err := cl.Nodes(x.ctx)
			if err != nil {
				return err
			}
			hosts = nil
			for _, n := range nodes {
				hosts = append(hosts, n.Name)
			}
		}
		verb := "Open"
		if sub == "hclose" {
			verb = "Close"
			if comment == "" {
				comment = "closed by badmin hclose"
			}
		}
		for _, h := range hosts {
			fmt.Fprintf(x.out, "%s <%s> ...... ", verb, h)
			var err error
			if sub == "hclose" {
				_, err = cl.Drain(x.ctx, h, api.DrainRequest{Reason: comment})
			} else {
				_, err = cl.ResumeNode(x.ctx, h)
			}
			if err != nil {
				fmt.Fprintf(x.out, "%v\n", err)
				failed = true
				continue
			}
			fmt.Fprintln(x.out, "done")
		}
	case "qclose", "qopen", "qact", "qinact":
		action := map[string]string{"qclose": "close", "qopen": "open", "qact": "activate", "qinact": "inactivate"}[sub]
		done := map[string]string{"qclose": "closed", "qopen": "opened", "qact": "activated", "qinact": "inactivated"}[sub]
		if len(args) == 0 {
			return lsfErr("badmin %s: missing queue name", sub)
		}
		for _, q := range args {
			if _, err := cl.QueueAction(x.ctx, q, action); err != nil {
				fmt.Fprintf(x.err, "Queue <%s>: %v\n", q, err)
				failed = true
				continue
			}
			fmt.Fprintf(x.out, "Queue <%s> is %s\n", q, done)
		}
	case "help", "-h":
		fmt.Fprint(x.out, lsfCommands["badmin"].usage)
	default:
		return lsfErr("badmin: %s: unknown or unsupported subcommand (see badmin -h)", sub)
	}
	if failed {
		return exitCode(lsfFailure)
	}
	return nil
}
