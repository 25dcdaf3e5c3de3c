package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestGPUScheduling runs GPU jobs end to end on a node that reports four
// PCIe GPUs (a fixture: this machine has none) with device nodes made by
// the test: the scheduler gives each job GPUs that share a PCIe switch,
// the job sees exactly its devices, and a job that does not fit waits.
func TestGPUScheduling(t *testing.T) {
	requireJobHost(t)
	gpus := fakeGPUs(t)
	dev := gpus[3]
	c := newCluster(t)
	c.startNode("g1", "0-1", "1G", gpus...)
	if r := c.gantry("nodes", "-l", "g1"); !strings.Contains(r.stdout, "NVIDIA A30-PCIE-24GB") {
		t.Fatalf("gantry nodes -l g1 shows no GPUs:\n%s", r.stdout)
	}

	script := `echo "cuda=$CUDA_VISIBLE_DEVICES gpus=$GANTRY_GPUS"; ls /dev | grep '^nvidia[0-9]' | tr '\n' ' '; sleep 3`
	first := c.submit(0, "--gpus", "2", "-o", "gpu.%J", "--", "sh", "-c", script)
	second := c.submit(0, "--gpus", "2", "-o", "gpu.%J", "--", "sh", "-c", script)
	third := c.submit(0, "--gpus", "1", "-o", "gpu.%J", "--", "true")
	var pairs [][]int
	for _, id := range []int64{first, second} {
		j := c.waitState(id, time.Minute, api.StateRunning)
		if len(j.GPUs) != 2 {
			t.Fatalf("job %d got GPUs %v, want 2", id, j.GPUs)
		}
		pairs = append(pairs, j.GPUs)
	}
	// Each job gets a PCIe pair (0,1 or 2,3: one switch, one NUMA node),
	// and the two jobs share nothing.
	for _, p := range pairs {
		if !slices.Equal(p, []int{0, 1}) && !slices.Equal(p, []int{2, 3}) {
			t.Errorf("GPUs %v do not share a PCIe switch", p)
		}
	}
	if slices.Equal(pairs[0], pairs[1]) {
		t.Errorf("both jobs got GPUs %v", pairs[0])
	}
	c.waitFor("the third job's reason", 10*time.Second, func() bool { return c.job(third).Reason != "" })
	if j := c.job(third); j.State != api.StateRunnable || !strings.Contains(j.Reason, "GPU") {
		t.Errorf("third job while all GPUs are taken: %s %q", j.State, j.Reason)
	}
	for i, id := range []int64{first, second} {
		c.waitState(id, time.Minute, api.StateSucceeded)
		out := c.output(fmt.Sprintf("gpu.%d", id))
		want := fmt.Sprintf("cuda=0,1 gpus=%d,%d\nnvidia%d nvidia%d ", pairs[i][0], pairs[i][1], pairs[i][0], pairs[i][1])
		if out != want {
			t.Errorf("job %d saw %q, want %q", id, out, want)
		}
	}
	c.waitState(third, time.Minute, api.StateSucceeded)
	if _, err := os.Stat(filepath.Join(dev, "nvidia0")); err != nil {
		t.Errorf("device nodes gone: %v", err)
	}
}
