package noded

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

func TestNodeMetrics(t *testing.T) {
	d := &Daemon{cfg: Config{Name: "n1"}, log: slog.New(slog.DiscardHandler), metrics: newNodeMetrics("n1"),
		jobs: map[int64]*localJob{1: {id: 1}, 2: {id: 2, result: &api.JobResult{}}}}
	d.metrics.launched(20*time.Millisecond, nil)
	d.metrics.launched(time.Millisecond, errors.New("no such image"))
	for _, r := range []api.JobResult{{}, {ExitCode: 3}, {TimedOut: true, Killed: true}, {OOMKilled: true, ExitCode: 137}, {Killed: true, Signal: "SIGKILL"}, {Error: "x"}} {
		d.metrics.ended(r)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { d.serveMetrics(ctx, l); close(done) }()
	defer func() { cancel(); <-done }()
	resp, err := http.Get("http://" + l.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`gantry_noded_running_jobs{node="n1"} 1`,
		`gantry_noded_job_starts_total{node="n1"} 1`,
		`gantry_noded_launch_failures_total{node="n1"} 1`,
		`gantry_noded_supervisor_launch_seconds_count{node="n1"} 1`,
		`gantry_noded_job_ends_total{node="n1",outcome="succeeded"} 1`,
		`gantry_noded_job_ends_total{node="n1",outcome="failed"} 1`,
		`gantry_noded_job_ends_total{node="n1",outcome="timeout"} 1`,
		`gantry_noded_job_ends_total{node="n1",outcome="oom"} 1`,
		`gantry_noded_job_ends_total{node="n1",outcome="killed"} 1`,
		`gantry_noded_job_ends_total{node="n1",outcome="error"} 1`,
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}
}
