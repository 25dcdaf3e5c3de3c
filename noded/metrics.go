package noded

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// nodeMetrics are the node daemon's Prometheus metrics (label node: the
// daemon's node name).
type nodeMetrics struct {
	reg      *prometheus.Registry
	labels   prometheus.Labels
	starts   prometheus.Counter
	failures prometheus.Counter
	ends     *prometheus.CounterVec
	launch   prometheus.Histogram
}

func newNodeMetrics(node string) *nodeMetrics {
	l := prometheus.Labels{"node": node}
	m := &nodeMetrics{reg: prometheus.NewRegistry(), labels: l}
	m.starts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_noded_job_starts_total", Help: "Jobs whose supervisor was launched.", ConstLabels: l})
	m.failures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_noded_launch_failures_total", Help: "Jobs whose supervisor could not be launched.", ConstLabels: l})
	m.ends = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gantry_noded_job_ends_total", Help: "Jobs that ended on this node, by outcome (succeeded, failed, killed, timeout, oom, error).", ConstLabels: l},
		[]string{"outcome"})
	m.launch = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "gantry_noded_supervisor_launch_seconds", Help: "Time to launch a job's supervisor, until it reported the container started.", ConstLabels: l,
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}) // 5ms .. 10s
	m.reg.MustRegister(m.starts, m.failures, m.ends, m.launch,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// launched and ended are no-ops on a nil *nodeMetrics (a Daemon not made
// by New, in tests).
func (m *nodeMetrics) launched(took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.failures.Inc()
		return
	}
	m.starts.Inc()
	m.launch.Observe(took.Seconds())
}

func (m *nodeMetrics) ended(r api.JobResult) {
	if m == nil {
		return
	}
	m.ends.WithLabelValues(outcome(r)).Inc()
}

func outcome(r api.JobResult) string {
	switch {
	case r.Error != "":
		return "error"
	case r.TimedOut:
		return "timeout"
	case r.OOMKilled:
		return "oom"
	case r.Killed:
		return "killed"
	case r.ExitCode == 0 && r.Signal == "":
		return "succeeded"
	}
	return "failed"
}

// runningJobs counts the jobs this daemon supervises that have not ended.
func (d *Daemon) runningJobs() float64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, j := range d.jobs {
		if j.result == nil {
			n++
		}
	}
	return float64(n)
}

// serveMetrics answers GET /metrics on l (plain HTTP) until ctx ends.
func (d *Daemon) serveMetrics(ctx context.Context, l net.Listener) {
	m := d.metrics
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "gantry_noded_running_jobs", Help: "Jobs running (or starting) on this node.", ConstLabels: m.labels}, d.runningJobs))
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ErrorLog: slog.NewLogLogger(d.log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	d.log.Info("metrics listening", "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		d.log.Error("metrics listener", "err", err)
	}
}
