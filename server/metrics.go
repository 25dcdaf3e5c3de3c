package server

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the server's Prometheus metrics, on a registry of its own
// (several servers may live in one test process). Job and node figures are
// read from the store at scrape time; the histograms are observed as
// things happen.
type metrics struct {
	s       *Server
	reg     *prometheus.Registry
	handler http.Handler

	passDuration prometheus.Histogram
	queueWait    *prometheus.HistogramVec
	apiLatency   *prometheus.HistogramVec
	auditErrors  prometheus.Counter

	// lastEvent is the newest event already looked at for placements.
	mu        sync.Mutex
	lastEvent int64
}

func newMetrics(s *Server) *metrics {
	m := &metrics{s: s, reg: prometheus.NewRegistry()}
	m.passDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "gantry_schedule_pass_duration_seconds",
		Help:    "Time of one eligibility and scheduling pass.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16), // 0.5ms .. 16s
	})
	m.queueWait = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_job_queue_wait_seconds",
		Help:    "Time from a job's submission to its placement on a node, observed when it is placed.",
		Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400, 259200},
	}, []string{"queue"})
	m.apiLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gantry_api_request_duration_seconds",
		Help:    "Time to answer an API request, by route pattern and HTTP status (long polls and event streams included).",
		Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5ms .. 131s
	}, []string{"route", "code"})
	m.auditErrors = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gantry_audit_write_errors_total",
		Help: "State-changing API calls whose audit record could not be written.",
	})
	m.reg.MustRegister(m.passDuration, m.queueWait, m.apiLatency, m.auditErrors, storeCollector{s},
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Jobs placed before this process started were observed by an
	// earlier one.
	if id, err := s.store.LastEventID(context.Background()); err == nil {
		m.lastEvent = id
	}
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)})
	return m
}

// passDone observes a pass's duration, and the queue wait of every job
// placed since the last call (read back from the event log: a STARTING
// event "placed" against the job's submission time).
func (m *metrics) passDone(ctx context.Context, took time.Duration) {
	m.passDuration.Observe(took.Seconds())
	m.mu.Lock()
	defer m.mu.Unlock()
	placed, last, err := m.s.store.PlacementsSince(ctx, m.lastEvent)
	if err != nil {
		if ctx.Err() == nil {
			m.s.log.Warn("metrics: read placements", "err", err)
		}
		return
	}
	m.lastEvent = last
	for _, p := range placed {
		m.queueWait.WithLabelValues(m.queueName(p.Queue)).Observe(p.Wait.Seconds())
	}
}

func (m *metrics) queueName(q string) string {
	if q == "" {
		return m.s.cfg.DefaultQueue
	}
	return q
}

// observeAPI records one answered request.
func (m *metrics) observeAPI(route string, code int, took time.Duration) {
	m.apiLatency.WithLabelValues(route, strconv.Itoa(code)).Observe(took.Seconds())
}

// serve answers GET /metrics (only) on l, without TLS or authentication,
// until ctx ends.
func (m *metrics) serve(ctx context.Context, l net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.handler)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(m.s.log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	m.s.log.Info("metrics listening", "addr", l.Addr().String())
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		m.s.log.Error("metrics listener", "err", err)
	}
}

// storeCollector reads job and node figures from the store at scrape
// time: one COUNT ... GROUP BY for jobs, the node listing for resources.
type storeCollector struct{ s *Server }

var (
	descJobs      = prometheus.NewDesc("gantry_jobs", "Jobs by state and queue (array parents and started elements count apart).", []string{"state", "queue"}, nil)
	descNodeState = prometheus.NewDesc("gantry_node_state", "1 for the state each node is in (UP, DOWN, DRAINING, DRAINED).", []string{"node", "state"}, nil)
	descCPUs      = prometheus.NewDesc("gantry_node_cpus", "Cores a node offers to jobs.", []string{"node"}, nil)
	descCPUsAlloc = prometheus.NewDesc("gantry_node_cpus_allocated", "Cores held by jobs placed on a node.", []string{"node"}, nil)
	descCPUsFree  = prometheus.NewDesc("gantry_node_cpus_free", "Cores of a node not held by any job.", []string{"node"}, nil)
	descMem       = prometheus.NewDesc("gantry_node_memory_bytes", "Memory a node offers to jobs.", []string{"node"}, nil)
	descMemAlloc  = prometheus.NewDesc("gantry_node_memory_allocated_bytes", "Memory held by jobs placed on a node.", []string{"node"}, nil)
	descMemFree   = prometheus.NewDesc("gantry_node_memory_free_bytes", "Memory of a node not held by any job.", []string{"node"}, nil)
	descGPUs      = prometheus.NewDesc("gantry_node_gpus", "GPUs a node reported.", []string{"node"}, nil)
	descNodeJobs  = prometheus.NewDesc("gantry_node_jobs", "Jobs placed on (starting or running on) a node.", []string{"node"}, nil)
	descScrapeErr = prometheus.NewDesc("gantry_store_scrape_error", "1 if reading the store for this scrape failed.", nil, nil)
)

func (storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descJobs, descNodeState, descCPUs, descCPUsAlloc, descCPUsFree, descMem, descMemAlloc, descMemFree, descGPUs, descNodeJobs, descScrapeErr} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	failed := 0.0
	if err := c.collect(ctx, ch); err != nil {
		c.s.log.Warn("metrics: read store", "err", err)
		failed = 1
	}
	ch <- prometheus.MustNewConstMetric(descScrapeErr, prometheus.GaugeValue, failed)
}

func (c storeCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, err := c.s.store.JobCounts(ctx)
	if err != nil {
		return err
	}
	// Queues may be counted under "" (no name given) and under the
	// default queue's name: add them up.
	type key struct {
		state api.JobState
		queue string
	}
	sums := make(map[key]int64, len(counts))
	for _, jc := range counts {
		sums[key{jc.State, c.s.metrics.queueName(jc.Queue)}] += jc.Count
	}
	for k, n := range sums {
		ch <- prometheus.MustNewConstMetric(descJobs, prometheus.GaugeValue, float64(n), string(k.state), k.queue)
	}
	nodes, err := c.s.store.Nodes(ctx)
	if err != nil {
		return err
	}
	gpus, err := c.s.store.NodeGPUs(ctx)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		gauge := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{n.Name}, labels...)...)
		}
		gauge(descNodeState, 1, string(n.State))
		gauge(descCPUs, float64(len(n.CPUs)))
		gauge(descCPUsAlloc, float64(n.AllocCores))
		gauge(descCPUsFree, float64(max(len(n.CPUs)-n.AllocCores, 0)))
		gauge(descMem, float64(n.MemoryBytes))
		gauge(descMemAlloc, float64(n.AllocMemoryBytes))
		gauge(descMemFree, float64(max(n.MemoryBytes-n.AllocMemoryBytes, 0)))
		gauge(descGPUs, float64(gpus[n.Name]))
		gauge(descNodeJobs, float64(n.Jobs))
	}
	return nil
}
