package lsf

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// sbatchOption is one sbatch option: its long name, short letter, and
// whether it takes a value.
type sbatchOption struct {
	long  string
	short byte
	value bool
}

var sbatchOptions = []sbatchOption{
	{"nodes", 'N', true}, {"ntasks", 'n', true}, {"cpus-per-task", 'c', true}, {"ntasks-per-node", 0, true},
	{"mem", 0, true}, {"mem-per-cpu", 0, true}, {"gres", 0, true}, {"gpus", 'G', true}, {"gpus-per-node", 0, true},
	{"gpus-per-task", 0, true}, {"time", 't', true}, {"job-name", 'J', true}, {"output", 'o', true},
	{"error", 'e', true}, {"array", 'a', true}, {"partition", 'p', true}, {"dependency", 'd', true},
	{"begin", 'b', true}, {"exclusive", 0, false}, {"chdir", 'D', true}, {"account", 'A', true},
	{"hold", 'H', false}, {"requeue", 0, false}, {"no-requeue", 0, false}, {"nodelist", 'w', true},
	{"wait", 'W', false}, {"input", 'i', true}, {"constraint", 'C', true},
	{"container-image", 0, true}, // pyxis's: the job runs in an OCI image
	{"reservation", 0, true},
	// Accepted without effect.
	{"mail-type", 0, true}, {"mail-user", 0, true}, {"qos", 'q', true}, {"comment", 0, true},
	{"export", 0, true}, {"open-mode", 0, true}, {"quiet", 'Q', false}, {"parsable", 0, false},
	{"get-user-env", 0, false}, {"signal", 0, true}, {"threads-per-core", 0, true}, {"hint", 0, true},
}

// ignoredSbatch are accepted and have no effect in Gantry.
var ignoredSbatch = map[string]bool{
	"mail-type": true, "mail-user": true, "qos": true, "comment": true, "quiet": true,
	"parsable": true, "get-user-env": true, "signal": true, "threads-per-core": true, "hint": true,
}

// SbatchError is an sbatch option Gantry cannot translate, or a bad value.
type SbatchError struct {
	Option string
	Value  string
	Msg    string
}

func (e *SbatchError) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("sbatch option --%s=%s: %s", e.Option, e.Value, e.Msg)
	}
	return fmt.Sprintf("sbatch option %s: %s", e.Option, e.Msg)
}

// TranslateSbatch turns sbatch options (from #SBATCH lines) into the
// equivalent bsub options. now anchors relative begin times. Warnings
// name options accepted without effect.
func TranslateSbatch(args []string, now time.Time) (Options, []string, error) {
	vals := map[string]string{}
	var warnings []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		var opt *sbatchOption
		val, hasVal := "", false
		switch {
		case strings.HasPrefix(a, "--"):
			name, v, ok := strings.Cut(a[2:], "=")
			for j := range sbatchOptions {
				if sbatchOptions[j].long == name {
					opt = &sbatchOptions[j]
				}
			}
			val, hasVal = v, ok
		case strings.HasPrefix(a, "-") && len(a) >= 2:
			for j := range sbatchOptions {
				if sbatchOptions[j].short == a[1] {
					opt = &sbatchOptions[j]
				}
			}
			if len(a) > 2 {
				val, hasVal = strings.TrimPrefix(a[2:], "="), true
			}
		default:
			return nil, nil, &SbatchError{Option: a, Msg: "not an option (sbatch directives take options only)"}
		}
		if opt == nil {
			return nil, nil, &SbatchError{Option: a, Msg: "not supported by Gantry (see docs/user-guide.md for the supported sbatch options)"}
		}
		if opt.value && !hasVal {
			if i+1 >= len(args) {
				return nil, nil, &SbatchError{Option: a, Msg: "needs a value"}
			}
			i++
			val = args[i]
		}
		if !opt.value && hasVal {
			return nil, nil, &SbatchError{Option: a, Msg: "takes no value"}
		}
		if ignoredSbatch[opt.long] {
			warnings = append(warnings, fmt.Sprintf("sbatch option --%s has no effect in Gantry", opt.long))
			continue
		}
		vals[opt.long] = val
	}
	o := Options{}
	bad := func(name, msg string) error { return &SbatchError{Option: name, Value: vals[name], Msg: msg} }
	posInt := func(name string) (int, error) {
		n, err := strconv.Atoi(vals[name])
		if err != nil || n < 1 || n > 1<<20 {
			return 0, bad(name, "want a positive whole number")
		}
		return n, nil
	}
	// Tasks and cores: cores = tasks * cpus per task.
	nodes, tasks, cpt := 1, 0, 1
	var err error
	if v, ok := vals["nodes"]; ok {
		lo, _, _ := strings.Cut(v, "-") // MIN[-MAX]: Gantry gives MIN
		if nodes, err = strconv.Atoi(lo); err != nil || nodes < 1 || nodes > 1<<20 {
			return nil, nil, bad("nodes", "want N or MIN-MAX nodes")
		}
	}
	if _, ok := vals["ntasks"]; ok {
		if tasks, err = posInt("ntasks"); err != nil {
			return nil, nil, err
		}
	}
	if _, ok := vals["ntasks-per-node"]; ok {
		tpn, err := posInt("ntasks-per-node")
		if err != nil {
			return nil, nil, err
		}
		if tasks == 0 {
			tasks = tpn * nodes
		}
	}
	if tasks == 0 {
		tasks = nodes // sbatch's default: one task per node
	}
	if _, ok := vals["cpus-per-task"]; ok {
		if cpt, err = posInt("cpus-per-task"); err != nil {
			return nil, nil, err
		}
		o["_cpus_per_task"] = []string{strconv.Itoa(cpt)}
	}
	cores := tasks * cpt
	if cores > 1<<20 {
		return nil, nil, bad("ntasks", "too many cores in all")
	}
	if cores != 1 || vals["ntasks"] != "" || vals["cpus-per-task"] != "" {
		o["n"] = []string{strconv.Itoa(cores)}
	}
	o["_ntasks"] = []string{strconv.Itoa(tasks)}
	if _, ok := vals["nodes"]; ok {
		if nodes == 1 {
			o["R"] = append(o["R"], "span[hosts=1]")
		} else {
			o["R"] = append(o["R"], fmt.Sprintf("span[ptile=%d]", (cores+nodes-1)/nodes))
		}
	}
	if v, ok := vals["constraint"]; ok {
		sel, err := constraintSelect(v)
		if err != nil {
			return nil, nil, bad("constraint", err.Error())
		}
		o["R"] = append(o["R"], "select["+sel+"]")
	}
	if v, ok := vals["mem"]; ok {
		b, err := api.ParseMemory(v)
		if err != nil {
			return nil, nil, bad("mem", "want a size such as 4G or 4000 (MB)")
		}
		o["M"] = []string{strconv.FormatInt(b>>10, 10) + "K"}
	} else if v, ok := vals["mem-per-cpu"]; ok {
		b, err := api.ParseMemory(v)
		if err != nil || b > 1<<60/int64(cores) {
			return nil, nil, bad("mem-per-cpu", "want a size such as 2G or 2000 (MB)")
		}
		o["M"] = []string{strconv.FormatInt(b*int64(cores)>>10, 10) + "K"}
	}
	gpu := ""
	for _, k := range []string{"gres", "gpus", "gpus-per-node", "gpus-per-task"} {
		v, ok := vals[k]
		if !ok {
			continue
		}
		if gpu != "" {
			return nil, nil, bad(k, "give GPUs once (--gres, --gpus, --gpus-per-node or --gpus-per-task)")
		}
		if gpu, err = gpuOf(k, v); err != nil {
			return nil, nil, bad(k, err.Error())
		}
	}
	if gpu != "" {
		o["gpu"] = []string{gpu}
	}
	if v, ok := vals["time"]; ok {
		d, err := SlurmTime(v)
		if err != nil {
			return nil, nil, bad("time", err.Error())
		}
		if d > 0 {
			o["W"] = []string{strconv.FormatInt(int64(d/time.Second), 10) + "s"}
		}
	}
	name := vals["job-name"]
	if v, ok := vals["array"]; ok {
		idx, throttle, hasT := strings.Cut(v, "%")
		arr, err := ParseArray(idx, 0)
		if err != nil {
			return nil, nil, bad("array", err.(*ArrayError).Msg)
		}
		j := name + "[" + arr.String() + "]"
		if hasT {
			if n, err := strconv.Atoi(throttle); err != nil || n < 1 {
				return nil, nil, bad("array", "want %N with N a positive number after the indexes")
			}
			j += "%" + throttle
		}
		o["J"] = []string{j}
	} else if name != "" {
		o["J"] = []string{name}
	}
	// Output files: sbatch's default is slurm-%j.out in the submit
	// directory, both streams.
	out := "slurm-%j.out"
	if _, ok := vals["array"]; ok {
		out = "slurm-%A_%a.out"
	}
	if v, ok := vals["output"]; ok {
		out = v
	}
	// sbatch truncates the output files unless --open-mode=append:
	// bsub's -oo and -eo, or -o and -e.
	outOpt, errOpt := "oo", "eo"
	switch vals["open-mode"] {
	case "append":
		outOpt, errOpt = "o", "e"
	case "", "truncate":
	default:
		if _, ok := vals["open-mode"]; ok {
			return nil, nil, bad("open-mode", "want append or truncate")
		}
	}
	if o[outOpt], err = slurmPattern("output", out, name); err != nil {
		return nil, nil, err
	}
	if v, ok := vals["error"]; ok {
		if o[errOpt], err = slurmPattern("error", v, name); err != nil {
			return nil, nil, err
		}
	}
	if v, ok := vals["reservation"]; ok {
		o["U"] = []string{v} // a Gantry reservation's id
	}
	if v, ok := vals["container-image"]; ok {
		o["_image"] = []string{v}
	}
	if v, ok := vals["partition"]; ok {
		o["q"] = []string{strings.ReplaceAll(v, ",", " ")}
	}
	if v, ok := vals["dependency"]; ok {
		dep, err := SlurmDependency(v)
		if err != nil {
			return nil, nil, bad("dependency", err.Error())
		}
		o["w"] = []string{dep}
	}
	if v, ok := vals["begin"]; ok {
		t, err := SlurmBegin(v, now)
		if err != nil {
			return nil, nil, bad("begin", err.Error())
		}
		o["b"] = []string{t.Format(time.RFC3339)}
	}
	simple := []struct{ sbatch, bsub string }{
		{"exclusive", "x"}, {"chdir", "cwd"}, {"account", "P"}, {"hold", "H"}, {"requeue", "r"},
		{"no-requeue", "rn"}, {"nodelist", "m"}, {"wait", "K"}, {"input", "i"},
	}
	for _, m := range simple {
		if v, ok := vals[m.sbatch]; ok {
			o[m.bsub] = []string{v}
		}
	}
	if v, ok := vals["export"]; ok {
		switch strings.ToUpper(v) {
		case "ALL":
		case "NONE":
			o["env"] = []string{"none"}
		default:
			o["env"] = []string{"all, " + v}
		}
	}
	return o, warnings, nil
}

// constraintSelect turns Slurm's --constraint "a&b|c" (features) into an
// LSF selection on boolean resources: "defined(a) && defined(b) || ...".
func constraintSelect(v string) (string, error) {
	var ors []string
	for _, alt := range strings.Split(v, "|") {
		var ands []string
		for _, f := range strings.Split(alt, "&") {
			f = strings.TrimSpace(f)
			if !isIdent(f) {
				return "", fmt.Errorf("feature %q: want names joined by & or |", f)
			}
			ands = append(ands, "defined("+f+")")
		}
		ors = append(ors, strings.Join(ands, " && "))
	}
	return strings.Join(ors, " || "), nil
}

// gpuOf translates --gres=gpu[:TYPE]:N, --gpus[-per-node|-per-task]=[TYPE:]N.
func gpuOf(opt, v string) (string, error) {
	parts := strings.Split(v, ":")
	per := "/host"
	switch opt {
	case "gres":
		if parts[0] != "gpu" {
			return "", fmt.Errorf("only gpu generic resources are supported (want gpu[:TYPE]:N)")
		}
		parts = parts[1:]
		if len(parts) == 0 {
			parts = []string{"1"}
		}
	case "gpus-per-task":
		per = "/task"
	}
	var model string
	switch len(parts) {
	case 1:
	case 2:
		model, parts = parts[0], parts[1:]
		if !isModelName(model) {
			return "", fmt.Errorf("GPU type %q: want a model name", model)
		}
	default:
		return "", fmt.Errorf("want [TYPE:]N")
	}
	n, err := strconv.Atoi(parts[0])
	if err != nil || n < 1 || n > 1024 {
		return "", fmt.Errorf("GPU count %q: want 1 to 1024", parts[0])
	}
	g := "num=" + strconv.Itoa(n) + per
	if model != "" {
		g += ":gmodel=" + model
	}
	return g, nil
}

// slurmPattern translates an sbatch file name pattern to bsub's: %j and
// %A become %J, %a becomes %I, %x the job name, %% stays.
func slurmPattern(opt, p, name string) ([]string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		if p[i] != '%' {
			b.WriteByte(p[i])
			continue
		}
		i++
		// %5a and friends: a zero-padding width, which Gantry ignores.
		for i < len(p) && p[i] >= '0' && p[i] <= '9' {
			i++
		}
		if i >= len(p) {
			return nil, &SbatchError{Option: opt, Value: p, Msg: "ends with %"}
		}
		switch p[i] {
		case 'j', 'A':
			b.WriteString("%J")
		case 'a':
			b.WriteString("%I")
		case 'x':
			if name == "" {
				name = "sbatch"
			}
			b.WriteString(name)
		case '%':
			b.WriteString("%%")
		case 'n', 't', 's':
			b.WriteString("0")
		default:
			return nil, &SbatchError{Option: opt, Value: p, Msg: fmt.Sprintf("pattern %%%c is not supported (use %%j, %%A, %%a, %%x)", p[i])}
		}
	}
	return []string{b.String()}, nil
}

// SlurmTime parses sbatch --time: minutes, minutes:seconds,
// hours:minutes:seconds, days-hours, days-hours:minutes and
// days-hours:minutes:seconds. 0, "UNLIMITED" and "infinite" mean no
// limit (0).
func SlurmTime(v string) (time.Duration, error) {
	switch strings.ToLower(v) {
	case "unlimited", "infinite", "0":
		return 0, nil
	}
	bad := fmt.Errorf("want MIN, MIN:SEC, H:MIN:SEC, D-H, D-H:MIN or D-H:MIN:SEC")
	days := int64(0)
	rest := v
	if d, r, ok := strings.Cut(v, "-"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		if err != nil || n < 0 || n > 3650 || d[0] == '+' {
			return 0, bad
		}
		days, rest = n, r
	}
	var nums []int64
	for _, f := range strings.Split(rest, ":") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 || n > 1e7 || f[0] == '+' {
			return 0, bad
		}
		nums = append(nums, n)
	}
	var h, m, s int64
	switch {
	case len(nums) > 3 || days > 0 && len(nums) == 0:
		return 0, bad
	case days > 0 || strings.Contains(v, "-"):
		// D-H, D-H:M, D-H:M:S
		h = nums[0]
		if len(nums) > 1 {
			m = nums[1]
		}
		if len(nums) > 2 {
			s = nums[2]
		}
	case len(nums) == 1:
		m = nums[0]
	case len(nums) == 2:
		m, s = nums[0], nums[1]
	default:
		h, m, s = nums[0], nums[1], nums[2]
	}
	total := ((days*24+h)*60+m)*60 + s
	if total <= 0 || total > 10*365*24*3600 {
		return 0, fmt.Errorf("out of range (1 second to ten years)")
	}
	return time.Duration(total) * time.Second, nil
}

// SlurmDependency translates sbatch --dependency into LSF's language:
// after (started), afterany (ended), afterok (done), afternotok (exit);
// "," joins with &&, "?" with ||.
func SlurmDependency(v string) (string, error) {
	sep, join := ",", " && "
	if strings.Contains(v, "?") {
		if strings.Contains(v, ",") {
			return "", fmt.Errorf("mixes , and ? (Slurm allows one kind)")
		}
		sep, join = "?", " || "
	}
	var out []string
	for _, term := range strings.Split(v, sep) {
		kind, ids, ok := strings.Cut(term, ":")
		if term == "singleton" {
			return "", fmt.Errorf("singleton is not supported")
		}
		cond := map[string]string{"after": "started", "afterany": "ended", "afterok": "done", "afternotok": "exit"}[kind]
		if !ok || cond == "" {
			return "", fmt.Errorf("%q: want after, afterany, afterok or afternotok, then :JOBID[:JOBID...]", term)
		}
		for _, id := range strings.Split(ids, ":") {
			n, err := strconv.ParseInt(id, 10, 64)
			if err != nil || n <= 0 || id[0] == '+' {
				return "", fmt.Errorf("job id %q: want a positive whole number", id)
			}
			out = append(out, fmt.Sprintf("%s(%d)", cond, n))
		}
	}
	return strings.Join(out, join), nil
}

// SlurmBegin parses sbatch --begin: HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]],
// now+N[seconds|minutes|hours|days|weeks], midnight, noon, teatime,
// today, tomorrow.
func SlurmBegin(v string, now time.Time) (time.Time, error) {
	loc := now.Location()
	y, mo, d := now.Date()
	today := time.Date(y, mo, d, 0, 0, 0, 0, loc)
	next := func(t time.Time) time.Time {
		if t.Before(now) {
			return t.AddDate(0, 0, 1)
		}
		return t
	}
	switch strings.ToLower(v) {
	case "now":
		return now, nil
	case "today":
		return today, nil
	case "tomorrow":
		return today.AddDate(0, 0, 1), nil
	case "midnight":
		return next(today), nil
	case "noon":
		return next(today.Add(12 * time.Hour)), nil
	case "teatime":
		return next(today.Add(16 * time.Hour)), nil
	}
	if rest, ok := strings.CutPrefix(strings.ToLower(v), "now+"); ok {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		unit := map[string]time.Duration{"": time.Second, "s": time.Second, "seconds": time.Second, "minutes": time.Minute,
			"hours": time.Hour, "days": 24 * time.Hour, "weeks": 7 * 24 * time.Hour}[rest[i:]]
		if err != nil || unit == 0 || n > int64(3650*24*time.Hour/unit) {
			return time.Time{}, fmt.Errorf("want now+N with seconds, minutes, hours, days or weeks")
		}
		return now.Add(time.Duration(n) * unit), nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.ParseInLocation(layout, v, loc); err == nil {
			return next(time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), 0, loc)), nil
		}
	}
	return time.Time{}, fmt.Errorf("want HH:MM[:SS], YYYY-MM-DD[THH:MM[:SS]], now+N[units], midnight, noon, teatime, today or tomorrow")
}
