package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/depend"
	"github.com/gantry-hpc/gantry/lsf"
)

func init() {
	lsfCommands["bjobs"] = &lsfCommand{
		opts: map[string]bool{"a": false, "d": false, "p": false, "r": false, "s": false, "w": false, "l": false,
			"u": true, "q": true, "J": true, "o": true, "noheader": false, "json": false},
		usage: `Usage: bjobs [-a | -d | -p | -r | -s] [-w | -l | -o "FIELDS"] [-noheader] [-json]
             [-u USER|all] [-q QUEUE] [-J NAME] [JOB_ID | "JOB_ID[INDEX]"] ...

Lists your unfinished jobs, as LSF's bjobs:
JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME

  -a         also jobs that finished in the last hour
  -d         only jobs that finished in the last hour
  -p         only pending jobs, with the reason each waits
  -r, -s     only running, only suspended jobs
  -w         wide: no truncated columns
  -l         long format: everything about each job
  -o FIELDS  columns, e.g. "jobid stat:6 job_name:-20 exit_code delimiter=','";
             fields: ` + strings.Join(bjobsFieldNames(), " ") + `
  -noheader  no header line
  -json      JSON (the fields of -o, or the default columns)
  -u USER    another user's jobs, or all

Examples:
  bjobs -noheader -o "jobid stat"      # for scripts
  bjobs -p                             # why is my job waiting?
  bjobs -l 42
`,
		run: runBjobs,
	}
}

// bjobsField is a column of bjobs -o.
type bjobsField struct {
	header string
	width  int
	get    func(j api.Job) string
}

var bjobsFields = map[string]bjobsField{
	"jobid":            {"JOBID", 7, func(j api.Job) string { return strconv.FormatInt(lsfJobID(j), 10) }},
	"jobindex":         {"JOBINDEX", 8, func(j api.Job) string { return strconv.FormatInt(j.ArrayIndex, 10) }},
	"stat":             {"STAT", 5, lsfStat},
	"user":             {"USER", 7, func(j api.Job) string { return j.User }},
	"queue":            {"QUEUE", 10, func(j api.Job) string { return j.Spec.Queue }},
	"job_name":         {"JOB_NAME", 10, lsfJobName},
	"from_host":        {"FROM_HOST", 11, func(j api.Job) string { return dash(j.Spec.SubmitHost) }},
	"exec_host":        {"EXEC_HOST", 11, func(j api.Job) string { return dash(execHost(j)) }},
	"submit_time":      {"SUBMIT_TIME", 15, func(j api.Job) string { return lsfTime(j.SubmitTime) }},
	"start_time":       {"START_TIME", 15, func(j api.Job) string { return timeOrDash(j.StartTime) }},
	"finish_time":      {"FINISH_TIME", 16, func(j api.Job) string { return timeOrDash(j.EndTime) }},
	"exit_code":        {"EXIT_CODE", 9, exitCodeOf},
	"slots":            {"SLOTS", 5, func(j api.Job) string { return strconv.Itoa(max(j.Spec.Cores, 1)) }},
	"nexec_host":       {"NEXEC_HOST", 10, func(j api.Job) string { return map[bool]string{true: "1", false: "-"}[j.Node != ""] }},
	"max_mem":          {"MAX_MEM", 15, func(j api.Job) string { return memOrDash(j.PeakMemoryBytes) }},
	"memlimit":         {"MEMLIMIT", 10, func(j api.Job) string { return memOrDash(j.Spec.MemoryBytes) }},
	"runtimelimit":     {"RUNTIMELIMIT", 12, func(j api.Job) string { return minutesOrDash(j.Spec.WalltimeSeconds) }},
	"run_time":         {"RUN_TIME", 15, func(j api.Job) string { return fmt.Sprintf("%d second(s)", int64(runTime(j).Seconds())) }},
	"cpu_used":         {"CPU_USED", 10, func(j api.Job) string { return fmt.Sprintf("%.1f second(s)", j.CPUTimeSeconds) }},
	"pend_reason":      {"PEND_REASON", 11, pendReason},
	"command":          {"COMMAND", 15, func(j api.Job) string { return lsf.DisplayCommand(j.Spec.Command) }},
	"cwd":              {"CWD", 15, func(j api.Job) string { return j.Spec.Cwd }},
	"output_file":      {"OUTPUT_FILE", 11, func(j api.Job) string { return dash(j.Spec.Stdout) }},
	"error_file":       {"ERROR_FILE", 10, func(j api.Job) string { return dash(j.Spec.Stderr) }},
	"dependency":       {"DEPENDENCY", 15, func(j api.Job) string { return dash(j.Spec.Dependency) }},
	"effective_resreq": {"EFFECTIVE_RESREQ", 17, func(j api.Job) string { return dash(j.Spec.Resources) }},
	"gpu_resreq":       {"GPU_RESREQ", 10, func(j api.Job) string { return dash(j.Spec.GPUs) }},
	"state":            {"STATE", 10, func(j api.Job) string { return string(j.State) }},
}

// bjobsFieldAliases are LSF's short names for some fields.
var bjobsFieldAliases = map[string]string{"id": "jobid", "name": "job_name", "fhost": "from_host", "ehost": "exec_host", "reason": "pend_reason"}

func bjobsFieldNames() []string {
	var out []string
	for k := range bjobsFields {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var bjobsDefault = []string{"jobid", "user", "stat", "queue", "from_host", "exec_host", "job_name", "submit_time"}

func timeOrDash(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return lsfTime(*t)
}

func exitCodeOf(j api.Job) string {
	if j.ExitCode == nil {
		return "-"
	}
	return strconv.Itoa(*j.ExitCode)
}

func memOrDash(b int64) string {
	if b <= 0 {
		return "-"
	}
	return lsfMem(b)
}

// lsfMem is LSF's memory figure: "512 Mbytes", "4 Gbytes".
func lsfMem(b int64) string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%d Gbytes", b>>30)
	case b >= 1<<20:
		return fmt.Sprintf("%d Mbytes", (b+(1<<20)-1)>>20)
	}
	return fmt.Sprintf("%d Kbytes", (b+1023)>>10)
}

func minutesOrDash(sec int64) string {
	if sec <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f min", float64(sec)/60)
}

func runTime(j api.Job) time.Duration {
	if j.StartTime == nil {
		return 0
	}
	end := time.Now()
	if j.EndTime != nil {
		end = *j.EndTime
	}
	return end.Sub(*j.StartTime)
}

func pendReason(j api.Job) string {
	if j.State != api.StatePending && j.State != api.StateRunnable {
		return "-"
	}
	if j.Held {
		return "The job was suspended by the user while pending"
	}
	if j.Reason == "" {
		return "New job is waiting for scheduling"
	}
	return j.Reason
}

// truncLeft keeps the last width-1 characters after a *, as LSF does for
// columns too narrow for their value.
func truncLeft(s string, width int) string {
	if len(s) <= width {
		return s
	}
	return "*" + s[len(s)-width+1:]
}

func runBjobs(x *lsfRun) error {
	cl, err := x.client()
	if err != nil {
		return err
	}
	var jobs []api.Job
	explicit := len(x.args) > 0
	if explicit {
		for _, a := range x.args {
			js, err := jobsOfRef(x.ctx, cl, a)
			if err != nil {
				fmt.Fprintln(x.err, err)
				continue
			}
			jobs = append(jobs, js...)
		}
		if len(jobs) == 0 {
			return exitCode(lsfFailure)
		}
	} else {
		u := x.get("u")
		all, err := cl.Jobs(x.ctx, u != "")
		if err != nil {
			return err
		}
		if all, err = expandArrays(x.ctx, cl, all); err != nil {
			return err
		}
		jobs = filterJobs(x, all, u)
	}
	jobs = arrayRows(jobs)
	if len(jobs) == 0 {
		if x.has("json") {
			return writeBjobsJSON(x, nil)
		}
		what := "unfinished"
		switch {
		case x.has("a"):
			what = ""
		case x.has("d"):
			what = "done"
		case x.has("p"):
			what = "pending"
		case x.has("r"):
			what = "running"
		case x.has("s"):
			what = "suspended"
		}
		fmt.Fprintln(x.err, strings.Join(strings.Fields("No "+what+" job found"), " "))
		return nil
	}
	switch {
	case x.has("json"):
		return writeBjobsJSON(x, jobs)
	case x.has("o"):
		return writeBjobsFields(x, jobs)
	case x.has("l"):
		for i, j := range jobs {
			if i > 0 {
				fmt.Fprintln(x.out, strings.Repeat("-", 78))
			}
			writeBjobsLong(x.out, j)
		}
		return nil
	}
	wide := x.has("w")
	cell := func(s string, w int) string {
		if !wide {
			s = truncLeft(s, w)
		}
		return fmt.Sprintf("%-*s", w, s)
	}
	if x.has("p") {
		if !x.has("noheader") {
			fmt.Fprintln(x.out, "JOBID   USER    STAT  QUEUE      FROM_HOST   JOB_NAME   SUBMIT_TIME")
		}
		for _, j := range jobs {
			fmt.Fprintf(x.out, "%s %s %s %s %s %s %s\n", cell(strconv.FormatInt(lsfJobID(j), 10), 7), cell(j.User, 7),
				cell(lsfStat(j), 5), cell(j.Spec.Queue, 10), cell(dash(j.Spec.SubmitHost), 11), cell(lsfJobName(j), 10), lsfTime(j.SubmitTime))
			fmt.Fprintf(x.out, " %s;\n", pendReason(j))
		}
		return nil
	}
	if !x.has("noheader") {
		fmt.Fprintln(x.out, "JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME")
	}
	for _, j := range jobs {
		stat := cell(lsfStat(j), 5)
		switch lsfStat(j) {
		case "RUN", "DONE":
			stat = colour(x.out, "32", stat)
		case "EXIT":
			stat = colour(x.out, "31", stat)
		case "PEND", "PSUSP":
			stat = colour(x.out, "33", stat)
		}
		fmt.Fprintf(x.out, "%s %s %s %s %s %s %s %s\n", cell(strconv.FormatInt(lsfJobID(j), 10), 7), cell(j.User, 7), stat,
			cell(j.Spec.Queue, 10), cell(dash(j.Spec.SubmitHost), 11), cell(dash(execHost(j)), 11), cell(lsfJobName(j), 10), lsfTime(j.SubmitTime))
	}
	return nil
}

// cleanPeriod is how long finished jobs stay visible (LSF's CLEAN_PERIOD).
const cleanPeriod = time.Hour

// filterJobs applies bjobs' selection options.
func filterJobs(x *lsfRun, all []api.Job, u string) []api.Job {
	if u == "" {
		if me, err := user.Current(); err == nil {
			u = me.Username
		}
	}
	var out []api.Job
	for _, j := range all {
		stat := lsfStat(j)
		finished := j.State.Terminal()
		recent := finished && j.EndTime != nil && time.Since(*j.EndTime) < cleanPeriod
		keep := !finished
		switch {
		case x.has("a"):
			keep = !finished || recent
		case x.has("d"):
			keep = recent
		case x.has("p"):
			keep = stat == "PEND" || stat == "PSUSP"
		case x.has("r"):
			keep = stat == "RUN"
		case x.has("s"):
			keep = strings.HasSuffix(stat, "SUSP")
		}
		if u != "all" && j.User != u {
			keep = false
		}
		if q := x.get("q"); q != "" && j.Spec.Queue != q {
			keep = false
		}
		if n := x.get("J"); n != "" && !depend.Match(n, j.Spec.Name) {
			keep = false
		}
		if keep {
			out = append(out, j)
		}
	}
	sort.SliceStable(out, func(a, b int) bool {
		if lsfJobID(out[a]) != lsfJobID(out[b]) {
			return lsfJobID(out[a]) < lsfJobID(out[b])
		}
		return out[a].ArrayIndex < out[b].ArrayIndex
	})
	return out
}

// arrayRows drops an array's own row when its elements are listed.
func arrayRows(jobs []api.Job) []api.Job {
	hasElems := map[int64]bool{}
	for _, j := range jobs {
		if j.ArrayID != 0 {
			hasElems[j.ArrayID] = true
		}
	}
	var out []api.Job
	for _, j := range jobs {
		if j.ArrayID == 0 && j.Spec.Array != "" && hasElems[j.ID] {
			continue
		}
		out = append(out, j)
	}
	return out
}

type fieldSpec struct {
	name  string
	width int
	right bool
}

// parseFieldList parses -o "f1 f2:10 f3:-8 delimiter=','".
func parseFieldList(s string) ([]fieldSpec, string, error) {
	var out []fieldSpec
	delim := ""
	words, err := lsf.SplitWords(s)
	if err != nil {
		return nil, "", lsfErr("bjobs: -o %q: %v", s, err)
	}
	for _, w := range words {
		if d, ok := strings.CutPrefix(w, "delimiter="); ok {
			delim = d
			continue
		}
		name, width, hasWidth := strings.Cut(strings.ToLower(w), ":")
		if a, ok := bjobsFieldAliases[name]; ok {
			name = a
		}
		f, ok := bjobsFields[name]
		if !ok {
			return nil, "", lsfErr("bjobs: -o: %s: Invalid field name (valid: %s)", name, strings.Join(bjobsFieldNames(), " "))
		}
		fs := fieldSpec{name: name, width: f.width}
		if hasWidth {
			if strings.HasPrefix(width, "-") {
				fs.right, width = true, width[1:]
			}
			n, err := strconv.Atoi(width)
			if err != nil || n < 1 || n > 4096 {
				return nil, "", lsfErr("bjobs: -o: %s: Invalid output width", w)
			}
			fs.width = n
		}
		out = append(out, fs)
	}
	if len(out) == 0 {
		return nil, "", lsfErr("bjobs: -o %q: no fields", s)
	}
	return out, delim, nil
}

func writeBjobsFields(x *lsfRun, jobs []api.Job) error {
	fields, delim, err := parseFieldList(x.get("o"))
	if err != nil {
		return err
	}
	line := func(vals []string) {
		if delim != "" {
			fmt.Fprintln(x.out, strings.Join(vals, delim))
			return
		}
		var b strings.Builder
		for i, v := range vals {
			f := fields[i]
			if len(v) > f.width {
				v = truncLeft(v, f.width)
			}
			if f.right {
				fmt.Fprintf(&b, "%*s ", f.width, v)
			} else {
				fmt.Fprintf(&b, "%-*s ", f.width, v)
			}
		}
		fmt.Fprintln(x.out, strings.TrimRight(b.String(), " "))
	}
	if !x.has("noheader") {
		var h []string
		for _, f := range fields {
			h = append(h, bjobsFields[f.name].header)
		}
		line(h)
	}
	for _, j := range jobs {
		var vals []string
		for _, f := range fields {
			vals = append(vals, bjobsFields[f.name].get(j))
		}
		line(vals)
	}
	return nil
}

// writeBjobsJSON prints LSF's bjobs -json: COMMAND, JOBS and RECORDS,
// each record the fields by header name, in order.
func writeBjobsJSON(x *lsfRun, jobs []api.Job) error {
	names := bjobsDefault
	if x.has("o") {
		fields, _, err := parseFieldList(x.get("o"))
		if err != nil {
			return err
		}
		names = nil
		for _, f := range fields {
			names = append(names, f.name)
		}
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "{\n  \"COMMAND\":\"bjobs\",\n  \"JOBS\":%d,\n  \"RECORDS\":[", len(jobs))
	for i, j := range jobs {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    {")
		for k, n := range names {
			f := bjobsFields[n]
			key, _ := json.Marshal(f.header)
			val, _ := json.Marshal(f.get(j))
			if k > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, "\n      %s:%s", key, val)
		}
		b.WriteString("\n    }")
	}
	if len(jobs) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("]\n}\n")
	_, err := x.out.Write(b.Bytes())
	return err
}

// writeBjobsLong prints bjobs -l for one job.
func writeBjobsLong(w io.Writer, j api.Job) {
	id := strconv.FormatInt(lsfJobID(j), 10)
	if j.ArrayID != 0 {
		id = fmt.Sprintf("%d[%d]", j.ArrayID, j.ArrayIndex)
	}
	fmt.Fprintf(w, "\nJob <%s>, Job Name <%s>, User <%s>, Project <%s>, Status <%s>, Queue <%s>, Command <%s>\n",
		id, lsfJobName(j), j.User, projectOf(j), lsfStat(j), j.Spec.Queue, lsf.DisplayCommand(j.Spec.Command))
	fmt.Fprintf(w, "%s: Submitted from host <%s>, CWD <%s>", lsfLongTime(j.SubmitTime), dash(j.Spec.SubmitHost), j.Spec.Cwd)
	if j.Spec.Stdout != "" {
		fmt.Fprintf(w, ", Output File <%s>", j.Spec.Stdout)
	}
	if j.Spec.Stderr != "" {
		fmt.Fprintf(w, ", Error File <%s>", j.Spec.Stderr)
	}
	if j.Spec.Cores > 1 {
		fmt.Fprintf(w, ", %d Task(s)", j.Spec.Cores)
	}
	if j.Spec.Dependency != "" {
		fmt.Fprintf(w, ", Dependency Condition <%s>", j.Spec.Dependency)
	}
	if j.Spec.Array != "" {
		fmt.Fprintf(w, ", Job Array <[%s]>", j.Spec.Array)
		if j.Spec.ArrayThrottle > 0 {
			fmt.Fprintf(w, ", Array Limit <%d>", j.Spec.ArrayThrottle)
		}
	}
	fmt.Fprintln(w, ";")
	if j.Spec.WalltimeSeconds > 0 || j.Spec.MemoryBytes > 0 {
		fmt.Fprintln(w, "\n RUNLIMIT                MEMLIMIT")
		fmt.Fprintf(w, " %-23s %s\n", minutesOrDash(j.Spec.WalltimeSeconds), memOrDash(j.Spec.MemoryBytes))
	}
	if j.StartTime != nil {
		fmt.Fprintf(w, "%s: Started %d Task(s) on Host(s) <%s>, Allocated %d Slot(s) on Host(s) <%s>, Execution Home <%s>, Execution CWD <%s>;\n",
			lsfLongTime(*j.StartTime), max(j.Spec.Cores, 1), j.Node, max(len(j.CPUs), 1), j.Node, homeOf(j), j.Spec.Cwd)
	}
	if j.EndTime != nil {
		switch lsfStat(j) {
		case "DONE":
			fmt.Fprintf(w, "%s: Done successfully. The CPU time used is %.1f seconds.\n", lsfLongTime(*j.EndTime), j.CPUTimeSeconds)
		default:
			code := exitCodeOf(j)
			fmt.Fprintf(w, "%s: Exited with exit code %s. The CPU time used is %.1f seconds.\n", lsfLongTime(*j.EndTime), code, j.CPUTimeSeconds)
		}
		if j.PeakMemoryBytes > 0 {
			fmt.Fprintf(w, "%s: Completed <%s>; MAX MEM: %s.\n", lsfLongTime(*j.EndTime), strings.ToLower(lsfStat(j)), lsfMem(j.PeakMemoryBytes))
		}
	}
	if r := pendReason(j); r != "-" {
		fmt.Fprintf(w, " PENDING REASONS:\n %s;\n", r)
	}
	if j.Reason != "" && j.State.Terminal() {
		fmt.Fprintf(w, " REASON: %s;\n", j.Reason)
	}
	fmt.Fprintln(w, "\n SCHEDULING PARAMETERS:")
	fmt.Fprintf(w, " Gantry state: %s\n", j.State)
	if j.Spec.Resources != "" || j.Spec.GPUs != "" {
		fmt.Fprintln(w, "\n RESOURCE REQUIREMENT DETAILS:")
		if j.Spec.Resources != "" {
			fmt.Fprintf(w, " Combined: %s\n", j.Spec.Resources)
			fmt.Fprintln(w, "   (Gantry enforces rusage[mem] as the memory limit, span[ptile] as the hosts, and select[] terms on node labels; the rest is recorded)")
		}
		if j.Spec.GPUs != "" {
			fmt.Fprintf(w, " GPU REQUIREMENT: %s\n", j.Spec.GPUs)
			fmt.Fprintln(w, "   (Gantry schedules and confines the GPU count per host; mode, model and memory are recorded)")
		}
	}
}

func projectOf(j api.Job) string {
	for _, kv := range j.Spec.Env {
		if v, ok := strings.CutPrefix(kv, "LSB_PROJECT_NAME="); ok {
			return v
		}
	}
	return "default"
}

func homeOf(j api.Job) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(j.UID), 10)); err == nil {
		return u.HomeDir
	}
	return "-"
}
