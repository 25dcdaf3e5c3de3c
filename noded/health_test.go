package noded

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/gpu"
)

func TestCheckHealth(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nif [ -e "+dir+"/sick ]; then echo 'scratch full'; echo more; exit 3; fi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	fake := gpu.NewFakePCIe4()
	d := &Daemon{cfg: Config{HealthCheck: script, HealthInterval: time.Second}, log: slog.New(slog.DiscardHandler)}
	if why := d.checkHealth(t.Context(), fake); why != "" {
		t.Fatalf("healthy node: %q", why)
	}
	os.WriteFile(filepath.Join(dir, "sick"), nil, 0o644)
	fake.Problems = []gpu.Problem{{Index: 2, UUID: "GPU-2", Reason: "XID 79"}}
	want := "health check check failed (exit 3): scratch full; gpu 2 (GPU-2): XID 79"
	if why := d.checkHealth(t.Context(), fake); why != want {
		t.Fatalf("unhealthy node: %q, want %q", why, want)
	}
	d.cfg.HealthCheck = filepath.Join(dir, "missing")
	if why := d.checkHealth(t.Context(), nil); why == "" {
		t.Fatal("a health check that cannot run passed")
	}
}
