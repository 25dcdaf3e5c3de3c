package lsf

import (
	"fmt"
	"sort"
	"strings"
)

// bsubOption describes one bsub option: whether it takes a value and
// whether it may be repeated (values accumulate).
type bsubOption struct {
	value, repeat bool
	help          string
}

// bsubOptions is bsub's option set as Gantry implements it. Options not
// here are rejected with their name.
var bsubOptions = map[string]bsubOption{
	"n":    {value: true, help: "number of tasks (cores): N, or MIN,MAX"},
	"q":    {value: true, help: `queue, or several candidates: "short normal"`},
	"W":    {value: true, help: "run-time limit, [hours:]minutes"},
	"We":   {value: true, help: "estimated run time, [hours:]minutes (recorded)"},
	"J":    {value: true, help: `job name; an array: "name[1-100:2]%10"`},
	"Jd":   {value: true, help: "job description (recorded)"},
	"o":    {value: true, help: "stdout file; %J is the job id, %I the array index"},
	"e":    {value: true, help: "stderr file"},
	"oo":   {value: true, help: "stdout file, overwritten"},
	"eo":   {value: true, help: "stderr file, overwritten"},
	"i":    {value: true, help: "stdin file"},
	"R":    {value: true, repeat: true, help: `resource requirement: "select[...] order[...] rusage[mem=...] span[...] same[...]"`},
	"gpu":  {value: true, help: `GPUs: "num=N[/host|/task]:mode=shared|exclusive_process:gmodel=NAME:gmem=SIZE:j_exclusive=yes|no"`},
	"w":    {value: true, help: `dependency: "done(42) && ended(prep*)"`},
	"b":    {value: true, help: "begin time, [[[year:]month:]day:]hour:minute"},
	"M":    {value: true, help: "memory limit, e.g. 4G (a bare number is MB)"},
	"cwd":  {value: true, help: "working directory of the job"},
	"env":  {value: true, help: `environment: "all", "none", or "all, ~VAR, VAR=value"`},
	"P":    {value: true, help: "project (recorded as LSB_PROJECT_NAME)"},
	"G":    {value: true, help: "user group (recorded)"},
	"m":    {value: true, help: "candidate hosts: the job runs on one of them"},
	"U":    {value: true, help: "run in this advance reservation (gantry reserve --users; its id)"},
	"E":    {value: true, help: "pre-execution command: runs before the job; if it fails the job fails"},
	"Ep":   {value: true, help: "post-execution command: runs after the job"},
	"L":    {value: true, help: "login shell that runs the job"},
	"json": {value: true, help: "read options from a JSON file"},
	"u":    {value: true, help: "mail address (ignored: no mail)"},
	"g":    {value: true, help: "job group (recorded)"},
	"app":  {value: true, help: "application profile (recorded)"},
	"x":    {help: "exclusive use of the hosts: all their cores, memory and GPUs, no other job"},
	"K":    {help: "wait for the job to finish; exit with its exit code"},
	"I":    {help: "interactive: the job's input and output are this terminal's"},
	"Is":   {help: "interactive with a pseudo-terminal, for shells and editors"},
	"Ip":   {help: "interactive with a pseudo-terminal (as -Is)"},
	"r":    {help: "rerunnable (recorded)"},
	"rn":   {help: "not rerunnable"},
	"H":    {help: "submit held (release with bresume)"},
	"N":    {help: "mail the report (ignored)"},
	"B":    {help: "mail at dispatch (ignored)"},
}

// Options are bsub options: by name (without the dash), the values given
// in order. Later sources override earlier ones option by option.
type Options map[string][]string

// OptionNames lists bsub's options, sorted, for help and completion.
func OptionNames() []string {
	var out []string
	for k := range bsubOptions {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// OptionHelp returns the one-line help of an option.
func OptionHelp(name string) string { return bsubOptions[name].help }

// OptionTakesValue reports whether option name takes a value.
func OptionTakesValue(name string) bool { return bsubOptions[name].value }

// ParseBsubArgs parses bsub's options up to the command: the first
// argument that is not an option, or what follows "--".
func ParseBsubArgs(args []string) (Options, []string, error) {
	o := Options{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return o, args[i+1:], nil
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return o, args[i:], nil
		}
		name := strings.TrimPrefix(a, "-")
		name = strings.TrimPrefix(name, "-") // --json and friends
		val, hasVal := "", false
		if k, v, ok := strings.Cut(name, "="); ok && strings.HasPrefix(a, "--") {
			name, val, hasVal = k, v, true
		}
		opt, ok := bsubOptions[name]
		if !ok {
			return nil, nil, fmt.Errorf("%s: unknown option (see bsub -h)", a)
		}
		if opt.value {
			if !hasVal {
				if i+1 >= len(args) {
					return nil, nil, fmt.Errorf("%s: option requires an argument", a)
				}
				i++
				val = args[i]
			}
			if opt.repeat {
				o[name] = append(o[name], val)
			} else {
				o[name] = []string{val}
			}
			continue
		}
		if hasVal {
			return nil, nil, fmt.Errorf("%s: option takes no argument", a)
		}
		o[name] = []string{""}
	}
	return o, nil, nil
}

// Override applies later's options over o: each option later sets
// replaces o's.
func (o Options) Override(later Options) {
	for k, v := range later {
		o[k] = v
	}
}

// Has reports whether option name was given.
func (o Options) Has(name string) bool { _, ok := o[name]; return ok }

// Get is the last value of option name ("" if not given).
func (o Options) Get(name string) string {
	v := o[name]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

// Args renders the options back as bsub arguments, sorted by name.
func (o Options) Args() []string {
	var names []string
	for k := range o {
		names = append(names, k)
	}
	sort.Strings(names)
	var out []string
	for _, k := range names {
		if strings.HasPrefix(k, "_") {
			continue
		}
		for _, v := range o[k] {
			out = append(out, "-"+k)
			if bsubOptions[k].value {
				out = append(out, v)
			}
		}
	}
	return out
}
