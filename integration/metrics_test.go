package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// requirePrometheus returns the prometheus binary, installing Debian's
// package when it is missing and this is root on a host where apt works;
// otherwise it skips t with the reason.
func requirePrometheus(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("needs the prometheus binary (Debian package prometheus); not root, so not installing it")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		t.Skip("needs the prometheus binary; no apt-get to install it")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "prometheus")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("needs the prometheus binary; apt-get install prometheus failed: %v\n%s", err, lastLines(out, 5))
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Skip("needs the prometheus binary; the package installed none")
	}
	return p
}

func lastLines(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	return bytes.Join(lines[max(len(lines)-n, 0):], []byte("\n"))
}

// promSample is one series of an instant query's answer.
type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

func promQuery(base, q string) ([]promSample, error) {
	resp, err := http.Get(base + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Status string `json:"status"`
		Data   struct {
			Result []promSample `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.Status != "success" {
		return nil, fmt.Errorf("query %s: %s %v", q, body, err)
	}
	return out.Data.Result, nil
}

// TestPrometheusScrapes runs a real Prometheus that scrapes the server's
// and a node daemon's metrics listeners, and reads the scraped job,
// node and node-daemon figures back through its query API.
func TestPrometheusScrapes(t *testing.T) {
	requireJobHost(t)
	prom := requirePrometheus(t)
	srvMetrics, nodeMetrics, promAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	c := newCluster(t, "--metrics-listen", srvMetrics)
	c.startNode("n1", "0", "1G", "--metrics-listen", nodeMetrics)
	done := c.submit(0, "-o", "/dev/null", "--", "true")
	c.submit(0, "-H", "-o", "/dev/null", "--", "true") // stays PENDING
	c.waitState(done, time.Minute, api.StateSucceeded)

	dir := filepath.Join(c.dir, "prometheus")
	os.MkdirAll(dir, 0o700)
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: gantry-server
    static_configs: [{targets: ["%s"]}]
  - job_name: gantry-node
    static_configs: [{targets: ["%s"]}]
`, srvMetrics, nodeMetrics)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p := &proc{log: &bytes.Buffer{}, cmd: exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promAddr)}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		p.stop()
		if t.Failed() {
			t.Logf("prometheus log:\n%s", p.log)
		}
	}()

	base := "http://" + promAddr
	value := func(q string, labels map[string]string) (float64, bool) {
		res, err := promQuery(base, q)
		if err != nil {
			return 0, false
		}
	sample:
		for _, s := range res {
			for k, v := range labels {
				if s.Metric[k] != v {
					continue sample
				}
			}
			str, _ := s.Value[1].(string)
			f, err := strconv.ParseFloat(str, 64)
			return f, err == nil
		}
		return 0, false
	}
	for _, w := range []struct {
		query  string
		labels map[string]string
		want   float64
	}{
		{"gantry_jobs", map[string]string{"state": "SUCCEEDED", "queue": "normal", "job": "gantry-server"}, 1},
		{"gantry_jobs", map[string]string{"state": "PENDING", "queue": "normal"}, 1},
		{"gantry_node_cpus", map[string]string{"node": "n1"}, 1},
		{"gantry_node_cpus_free", map[string]string{"node": "n1"}, 1},
		{"gantry_node_memory_bytes", map[string]string{"node": "n1"}, 1 << 30},
		{"gantry_job_queue_wait_seconds_count", map[string]string{"queue": "normal"}, 1},
		{"gantry_noded_job_starts_total", map[string]string{"node": "n1", "job": "gantry-node"}, 1},
		{`gantry_noded_job_ends_total{outcome="succeeded"}`, map[string]string{"node": "n1"}, 1},
		{"gantry_noded_running_jobs", map[string]string{"node": "n1"}, 0},
		{"gantry_noded_supervisor_launch_seconds_count", map[string]string{"node": "n1"}, 1},
		{"sum(gantry_api_request_duration_seconds_count)", nil, -1}, // any value
	} {
		c.waitFor(fmt.Sprintf("prometheus to have %s%v = %v", w.query, w.labels, w.want), 30*time.Second, func() bool {
			v, ok := value(w.query, w.labels)
			return ok && (w.want < 0 || v == w.want)
		})
	}
}
