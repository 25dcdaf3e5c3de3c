package api

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Limits on what a JobSpec may ask for; they keep one request from
// exhausting the server's memory or the scheduler's arithmetic.
const (
	MaxCommandArgs = 4096
	MaxEnvEntries  = 8192
	MaxSpecBytes   = 4 << 20 // the largest accepted request body
	maxCores       = 1 << 20
	maxNameLen     = 256
	// MaxNodes caps the nodes of one gang.
	MaxNodes        = 4096
	maxTasksPerNode = 1024
	maxLabels       = 64
)

// Validate checks a submission and returns an error naming the first
// offending field and value. It does not apply defaults.
func (s *JobSpec) Validate() error {
	switch {
	case len(s.Command) == 0 || s.Command[0] == "":
		return fmt.Errorf("command: missing (give the program to run, e.g. gantry sub -- ./train.sh)")
	case len(s.Command) > MaxCommandArgs:
		return fmt.Errorf("command: %d arguments, more than %d", len(s.Command), MaxCommandArgs)
	case len(s.Env) > MaxEnvEntries:
		return fmt.Errorf("env: %d entries, more than %d", len(s.Env), MaxEnvEntries)
	case !filepath.IsAbs(s.Cwd):
		return fmt.Errorf("cwd %q: must be an absolute path", s.Cwd)
	case s.Cores < 0 || s.Cores > maxCores:
		return fmt.Errorf("cores %d: must be between 1 and %d", s.Cores, maxCores)
	case s.NumGPUs < 0 || s.NumGPUs > 64:
		return fmt.Errorf("gpus %d: must be between 0 and 64", s.NumGPUs)
	case s.MemoryBytes < 0 || s.MemoryBytes > 1<<60:
		return fmt.Errorf("memory %d bytes: out of range", s.MemoryBytes)
	case s.WalltimeSeconds < 0 || s.WalltimeSeconds > int64(maxWalltime.Seconds()):
		return fmt.Errorf("walltime %d s: out of range (0 to ten years)", s.WalltimeSeconds)
	case len(s.Name) > maxNameLen || strings.ContainsAny(s.Name, "\x00\n\"'"):
		return fmt.Errorf("name %q: at most %d characters, no newlines or quotes", s.Name, maxNameLen)
	case len(s.SubmitToken) > 128:
		return fmt.Errorf("submit token: %d characters, more than 128", len(s.SubmitToken))
	case len(s.Dependency) > 4096:
		return fmt.Errorf("dependency: %d characters, more than 4096", len(s.Dependency))
	case s.ArrayThrottle < 0 || s.ArrayThrottle > 0 && s.Array == "":
		return fmt.Errorf("array throttle %d: must be positive, on an array", s.ArrayThrottle)
	case s.Nodes < 0 || s.Nodes > MaxNodes:
		return fmt.Errorf("nodes %d: must be between 1 and %d", s.Nodes, MaxNodes)
	case len(s.Image) > 1024 || strings.ContainsAny(s.Image, " \t\n\x00"):
		return fmt.Errorf("image %q: want a registry reference, oci:PATH or oci-archive:PATH", s.Image)
	case s.Reservation < 0:
		return fmt.Errorf("reservation %d: want a reservation id", s.Reservation)
	case len(s.Hosts) > MaxNodes:
		return fmt.Errorf("hosts: %d names, more than %d", len(s.Hosts), MaxNodes)
	case s.TTY != "" && s.TTY != "line" && s.TTY != "raw":
		return fmt.Errorf("tty %q: want line (bsub -I) or raw (bsub -Is)", s.TTY)
	case s.TTY != "" && (s.Nodes > 1 || s.Array != ""):
		return fmt.Errorf("tty %q: an interactive job runs on one node, and is not an array", s.TTY)
	case s.Nodes > 1 && s.Array != "":
		return fmt.Errorf("nodes %d with array %q: an array's elements run on one node each", s.Nodes, s.Array)
	case s.TasksPerNode < 0 || s.TasksPerNode > maxTasksPerNode:
		return fmt.Errorf("tasks per node %d: must be between 1 and %d", s.TasksPerNode, maxTasksPerNode)
	case s.TasksPerGPU < 0 || s.TasksPerGPU > 1:
		return fmt.Errorf("tasks per gpu %d: only 1 (one process per GPU) is supported", s.TasksPerGPU)
	case s.TasksPerGPU == 1 && s.NumGPUs == 0:
		return fmt.Errorf("tasks per gpu 1: the job asks for no GPUs (give --gpus)")
	case s.TasksPerGPU == 1 && s.TasksPerNode > 0 && s.TasksPerNode != s.NumGPUs:
		return fmt.Errorf("tasks per node %d with one task per GPU: the job has %d GPUs per node", s.TasksPerNode, s.NumGPUs)
	case s.Tasks < 0 || s.Tasks > max(s.Nodes, 1)*s.NodeTasks():
		return fmt.Errorf("tasks %d: must be between 1 and %d (%d nodes × %d tasks per node)", s.Tasks, max(s.Nodes, 1)*s.NodeTasks(), max(s.Nodes, 1), s.NodeTasks())
	case s.Tasks > 0 && s.Tasks <= (max(s.Nodes, 1)-1)*s.NodeTasks():
		return fmt.Errorf("tasks %d: fewer than the %d nodes need (%d tasks per node leave the last node empty)", s.Tasks, s.Nodes, s.NodeTasks())
	}
	if s.Array != "" {
		if _, err := ParseArray(s.Array); err != nil {
			return err
		}
	}
	if r := s.Retry; r != nil {
		if r.Attempts < 1 || r.Attempts > MaxAttempts {
			return fmt.Errorf("retry attempts %d: want 1 to %d", r.Attempts, MaxAttempts)
		}
		for _, c := range r.ExitCodes {
			if c < 1 || c > 255 {
				return fmt.Errorf("retry exit code %d: want 1 to 255", c)
			}
		}
		for _, sig := range r.Signals {
			if !strings.HasPrefix(sig, "SIG") || len(sig) > 16 {
				return fmt.Errorf("retry signal %q: want a name like SIGKILL", sig)
			}
		}
	}
	if len(s.Labels) > maxLabels {
		return fmt.Errorf("labels: %d, more than %d", len(s.Labels), maxLabels)
	}
	for _, l := range s.Labels {
		if l == "" || l[0] == '=' || len(l) > 256 || strings.ContainsAny(l, ", \t\n\x00") {
			return fmt.Errorf("label %q: want KEY=VALUE or KEY", l)
		}
	}
	for _, h := range s.Hosts {
		if h == "" || len(h) > 253 || strings.ContainsAny(h, ", \t\n\x00") {
			return fmt.Errorf("host %q: want a node name", h)
		}
	}
	for _, arg := range s.Command {
		if strings.IndexByte(arg, 0) >= 0 {
			return fmt.Errorf("command argument %q: contains a NUL byte", arg)
		}
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("env entry %q: want KEY=VALUE", kv)
		}
	}
	for _, p := range []struct{ name, path string }{{"stdout", s.Stdout}, {"stderr", s.Stderr}} {
		if strings.IndexByte(p.path, 0) >= 0 || strings.Contains(p.path, "\n") {
			return fmt.Errorf("%s path %q: contains a NUL byte or newline", p.name, p.path)
		}
	}
	return nil
}

// OutputPath resolves an output path template for a job: %J becomes the
// job id (an array's id, for its elements), %I the array index (0 outside
// arrays), %% a percent sign, and a relative path is taken from cwd.
func OutputPath(template, cwd string, id, index int64) string {
	var b strings.Builder
	for i := 0; i < len(template); i++ {
		if template[i] == '%' && i+1 < len(template) {
			switch template[i+1] {
			case 'J':
				fmt.Fprintf(&b, "%d", id)
				i++
				continue
			case 'I':
				fmt.Fprintf(&b, "%d", index)
				i++
				continue
			case '%':
				b.WriteByte('%')
				i++
				continue
			}
		}
		b.WriteByte(template[i])
	}
	p := b.String()
	if !filepath.IsAbs(p) {
		p = filepath.Join(cwd, p)
	}
	return filepath.Clean(p)
}

// RankOutput is the output file of a gang's part of rank r > 0, beside
// the first part's path: "train.out" becomes "train.rank3.out", and a
// name without an extension gets ".rank3".
func RankOutput(path string, rank int) string {
	if rank == 0 {
		return path
	}
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	if ext == base {
		ext = "" // ".hidden" is a name, not an extension
	}
	return dir + strings.TrimSuffix(base, ext) + fmt.Sprintf(".rank%d", rank) + ext
}
