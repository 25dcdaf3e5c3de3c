package noded

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/gpu"
)

// Health. Every HealthInterval the daemon runs its health-check script
// (Config.HealthCheck) and asks its GPU backend, when it can tell, which
// GPUs are unhealthy (uncorrected ECC errors, critical XID errors). Any
// failure makes the node unhealthy with the reasons joined; each status
// report carries them (api.NodeStatus.Unhealthy) and the server drains the
// node with them, and resumes it once the checks pass again.

// healthLoop checks the node's health until ctx ends.
func (d *Daemon) healthLoop(ctx context.Context) {
	hc, gpus := d.cfg.Discover.GPU.(gpu.HealthChecker)
	if d.cfg.HealthCheck == "" && !gpus {
		return
	}
	t := time.NewTicker(d.cfg.HealthInterval)
	defer t.Stop()
	for {
		why := d.checkHealth(ctx, hc)
		d.mu.Lock()
		changed := why != d.unhealthy
		d.unhealthy = why
		d.mu.Unlock()
		if changed {
			if why != "" {
				d.log.Warn("node unhealthy", "reason", why)
			} else {
				d.log.Info("node healthy again")
			}
			d.poke()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// checkHealth runs the checks once and returns why the node is unhealthy,
// or "".
func (d *Daemon) checkHealth(ctx context.Context, hc gpu.HealthChecker) string {
	var why []string
	if script := d.cfg.HealthCheck; script != "" {
		run, cancel := context.WithTimeout(ctx, min(d.cfg.HealthInterval, time.Minute))
		out, err := exec.CommandContext(run, script).CombinedOutput()
		cancel()
		if ctx.Err() != nil {
			return ""
		}
		if err != nil {
			line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
			if len(line) > 200 {
				line = line[:200]
			}
			what := err.Error()
			var ee *exec.ExitError
			if errors.As(err, &ee) && ee.Exited() {
				what = fmt.Sprintf("exit %d", ee.ExitCode())
			}
			msg := fmt.Sprintf("health check %s failed (%s)", filepath.Base(script), what)
			if line != "" {
				msg += ": " + line
			}
			why = append(why, msg)
		}
	}
	if hc != nil {
		probs, err := hc.Health(ctx)
		if err != nil {
			d.log.Error("gpu health", "err", err)
		}
		for _, p := range probs {
			why = append(why, fmt.Sprintf("gpu %d (%s): %s", p.Index, p.UUID, p.Reason))
		}
	}
	return strings.Join(why, "; ")
}
