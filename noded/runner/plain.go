//go:build linux && cgo

package runner

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/runc/libcontainer"

	"github.com/gantry-hpc/gantry/cgroups"
)

// RunPlain runs spec's command as a bare libcontainer create, start, wait
// and destroy in dir, in this process: the same container configuration
// and cgroup limits as a job, but no supervisor, no shim, no output files
// and no result. It is the baseline the benchmarks compare the real path
// with (BenchmarkLaunchOverhead, gantry bench e2e), and nothing else uses
// it. dir must not exist.
func RunPlain(host *cgroups.Host, dir string, spec Spec) error {
	job, err := host.Job(spec.JobID)
	if err != nil {
		return err
	}
	// libcontainer creates and removes the cgroup itself here.
	cg := job.Cgroup()
	if cg.Resources, err = host.Resources(cgroups.Limits{CPUs: spec.CPUs, MemoryBytes: spec.MemoryBytes, PidsLimit: spec.PidsLimit}); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o700); err != nil {
		return fmt.Errorf("plain run: %w", err)
	}
	cfg, _, err := containerConfig(&spec, filepath.Join(dir, rootfsDir), job, nil, nil)
	if err != nil {
		return err
	}
	cfg.Cgroups.Resources.CpusetCpus = cg.Resources.CpusetCpus
	cfg.Cgroups.Resources.Memory = cg.Resources.Memory
	cfg.Cgroups.Resources.PidsLimit = cg.Resources.PidsLimit
	ctr, err := libcontainer.Create(filepath.Join(dir, stateDir), spec.JobID, cfg)
	if err != nil {
		return fmt.Errorf("plain run: create: %w", err)
	}
	p := &libcontainer.Process{Args: spec.Argv, Env: spec.Env, UID: int(spec.UID), GID: int(spec.GID), Cwd: spec.Cwd, Init: true}
	if err := ctr.Run(p); err != nil {
		_ = ctr.Destroy()
		return fmt.Errorf("plain run: start: %w", err)
	}
	if _, err := p.Wait(); err != nil {
		_ = ctr.Destroy()
		return fmt.Errorf("plain run: wait: %w", err)
	}
	return ctr.Destroy()
}
