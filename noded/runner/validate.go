package runner

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/gantry-hpc/gantry/cgroups"
)

// Validate checks s before anything is created for it. A job may run as
// uid 0 only because root submitted it (the server takes the identity from
// the kernel); it still has no capabilities and no new privileges.
func (s Spec) Validate() error {
	var errs []error
	if err := cgroups.ValidJobID(s.JobID); err != nil {
		errs = append(errs, err)
	}
	if len(s.Argv) == 0 || s.Argv[0] == "" {
		errs = append(errs, errors.New("argv: empty command"))
	}
	if !filepath.IsAbs(s.Cwd) || filepath.Clean(s.Cwd) != s.Cwd {
		errs = append(errs, fmt.Errorf("cwd %q: must be a clean absolute path", s.Cwd))
	}
	for name, p := range map[string]string{"stdout": s.Stdout, "stderr": s.Stderr} {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("%s %q: must be an absolute path", name, p))
		}
	}
	for _, kv := range s.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" || strings.IndexByte(kv, 0) >= 0 {
			errs = append(errs, fmt.Errorf("env %q: want KEY=VALUE without NUL", kv))
		}
	}
	seen := map[int]bool{}
	for _, c := range s.CPUs {
		if c < 0 || seen[c] {
			errs = append(errs, fmt.Errorf("cpus %v: cpu %d negative or repeated", s.CPUs, c))
			break
		}
		seen[c] = true
	}
	if s.Image != "" && !filepath.IsAbs(s.ImageCache) {
		errs = append(errs, fmt.Errorf("image %s: image cache %q must be an absolute path", s.Image, s.ImageCache))
	}
	for _, m := range s.Mems {
		if m < 0 {
			errs = append(errs, fmt.Errorf("mems %v: node %d negative", s.Mems, m))
			break
		}
	}
	gpuIdx, gpuMinor := map[int]bool{}, map[int]bool{}
	for _, g := range s.GPUs {
		if g.Index < 0 || g.Minor < 0 || gpuIdx[g.Index] || gpuMinor[g.Minor] || g.UUID == "" || strings.ContainsAny(g.UUID, ",= \x00") {
			errs = append(errs, fmt.Errorf("gpus %+v: gpu %d (minor %d, uuid %q): index and minor must be unique and not negative, uuid set", s.GPUs, g.Index, g.Minor, g.UUID))
			break
		}
		gpuIdx[g.Index], gpuMinor[g.Minor] = true, true
	}
	if s.DevDir != "" && !filepath.IsAbs(s.DevDir) {
		errs = append(errs, fmt.Errorf("dev_dir %q: must be an absolute path", s.DevDir))
	}
	if s.MemoryBytes < 0 || s.PidsLimit < 0 || s.Walltime < 0 || s.KillGrace < 0 {
		errs = append(errs, fmt.Errorf("limits memory %d pids %d walltime %v kill_grace %v: must not be negative",
			s.MemoryBytes, s.PidsLimit, s.Walltime, s.KillGrace))
	}
	if s.TTY != "" && s.TTY != TTYLine && s.TTY != TTYRaw {
		errs = append(errs, fmt.Errorf("tty %q: want %s or %s", s.TTY, TTYLine, TTYRaw))
	}
	if s.Tasks < 0 || s.Tasks > 1024 || s.FirstTask < 0 {
		errs = append(errs, fmt.Errorf("tasks %d from rank %d: want 0 to 1024 tasks, ranks from 0", s.Tasks, s.FirstTask))
	}
	for _, f := range s.Files {
		if filepath.Clean(f.Path) != f.Path || !strings.HasPrefix(f.Path, "/run/gantry/") || f.Path == shimPath || len(f.Content) > 1<<20 {
			errs = append(errs, fmt.Errorf("file %q: must be a clean path below /run/gantry/ (not the shim's), at most 1 MiB", f.Path))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid spec for job %q: %w", s.JobID, errors.Join(errs...))
	}
	return nil
}
