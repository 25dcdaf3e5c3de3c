package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// gathered returns the value of a gauge, or the sample count of a
// histogram, whose labels include want; ok is false when none matches.
func gathered(t *testing.T, s *Server, name string, want map[string]string) (float64, bool) {
	t.Helper()
	fams, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue metric
				}
			}
			switch f.GetType() {
			case dto.MetricType_HISTOGRAM:
				return float64(m.GetHistogram().GetSampleCount()), true
			case dto.MetricType_COUNTER:
				return m.GetCounter().GetValue(), true
			default:
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func TestMetricsCollectors(t *testing.T) {
	s := newTestServer(t)
	ctx := t.Context()
	call(t, s, root, "POST", "/v1/nodes/register", `{"name":"n1","cpus":[0,1,2,3],"memory_bytes":1073741824,"topology":{"gpus":[{"index":0},{"index":1}]}}`, nil)
	call(t, s, root, "PUT", "/v1/queues/gpu", `{"name":"gpu","open":true,"active":true}`, nil)
	for _, body := range []string{
		`{"command":["true"],"cwd":"/tmp","cores":3,"memory_bytes":268435456}`,
		`{"command":["true"],"cwd":"/tmp","cores":3}`, // waits: 1 core left
		`{"command":["true"],"cwd":"/tmp","queue":"gpu","hold":true}`,
	} {
		if code := call(t, s, alice, "POST", "/v1/jobs", body, nil); code != http.StatusCreated {
			t.Fatalf("submit %s: %d", body, code)
		}
	}
	if err := s.schedulePass(ctx); err != nil {
		t.Fatal(err)
	}
	s.metrics.passDone(ctx, 3*time.Millisecond)

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gantry_jobs", map[string]string{"state": "STARTING", "queue": "normal"}, 1},
		{"gantry_jobs", map[string]string{"state": "RUNNABLE", "queue": "normal"}, 1},
		{"gantry_jobs", map[string]string{"state": "PENDING", "queue": "gpu"}, 1},
		{"gantry_node_cpus", map[string]string{"node": "n1"}, 4},
		{"gantry_node_cpus_allocated", map[string]string{"node": "n1"}, 3},
		{"gantry_node_cpus_free", map[string]string{"node": "n1"}, 1},
		{"gantry_node_memory_allocated_bytes", map[string]string{"node": "n1"}, 268435456},
		{"gantry_node_memory_free_bytes", map[string]string{"node": "n1"}, 1073741824 - 268435456},
		{"gantry_node_gpus", map[string]string{"node": "n1"}, 2},
		{"gantry_node_jobs", map[string]string{"node": "n1"}, 1},
		{"gantry_node_state", map[string]string{"node": "n1", "state": "UP"}, 1},
		{"gantry_store_scrape_error", nil, 0},
		{"gantry_schedule_pass_duration_seconds", nil, 1},
		{"gantry_job_queue_wait_seconds", map[string]string{"queue": "normal"}, 1},
		{"gantry_api_request_duration_seconds", map[string]string{"route": "POST /v1/jobs", "code": "201"}, 3},
	} {
		got, ok := gathered(t, s, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Nothing new placed: the queue wait is not observed twice.
	s.metrics.passDone(ctx, time.Millisecond)
	if got, _ := gathered(t, s, "gantry_job_queue_wait_seconds", map[string]string{"queue": "normal"}); got != 1 {
		t.Errorf("queue wait observed %v times, want 1", got)
	}

	// /metrics on the API, for any authenticated caller.
	r := callRaw(t, s, alice, "GET", "/metrics")
	if r.Code != 200 || !strings.Contains(r.Body.String(), `gantry_jobs{queue="normal",state="RUNNABLE"} 1`) {
		t.Fatalf("GET /metrics: %d\n%s", r.Code, r.Body.String())
	}
}

// callRaw sends one request as caller c and returns the recorded answer.
func callRaw(t *testing.T, s *Server, c Caller, method, path string) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r = r.WithContext(context.WithValue(r.Context(), callerKey{}, c))
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, r)
	return w
}
