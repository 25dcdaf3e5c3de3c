package integration

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// TestSubmissionStormCrash kills the server with SIGKILL in the middle of
// a storm of submissions from 8 concurrent clients and restarts it: every
// acknowledged job is there after the restart, and none is there twice,
// although the clients retry what was not acknowledged (with the same
// submit token, as gantry sub does). GANTRY_STORM_JOBS sets the size
// (default 10000).
func TestSubmissionStormCrash(t *testing.T) {
	total := 10000
	if v, err := strconv.Atoi(os.Getenv("GANTRY_STORM_JOBS")); err == nil && v > 0 {
		total = v
	}
	const clients = 8
	c := newCluster(t)
	spec := api.JobSpec{Command: []string{"true"}, Cwd: "/tmp", Stdout: "/dev/null", Hold: true}

	var acked atomic.Int64
	ids := make([]int64, total)
	crashed := make(chan struct{})
	var wg sync.WaitGroup
	for w := range clients {
		wg.Go(func() {
			for k := w; k < total; k += clients {
				s := spec
				s.SubmitToken = fmt.Sprintf("storm-%d", k)
				deadline := time.Now().Add(time.Minute)
				for {
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					resp, err := c.client.Submit(ctx, s)
					cancel()
					if err == nil {
						ids[k] = resp.ID
						acked.Add(1)
						break
					}
					if time.Now().After(deadline) {
						t.Errorf("submission %d never acknowledged: %v", k, err)
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	// Crash the server once a fifth of the storm is acknowledged.
	go func() {
		for acked.Load() < int64(total/5) {
			time.Sleep(time.Millisecond)
		}
		c.server.crash()
		close(crashed)
	}()
	<-crashed
	atCrash := acked.Load()
	time.Sleep(200 * time.Millisecond)
	c.startServer()
	wg.Wait()
	if t.Failed() {
		return
	}

	jobs, err := c.client.Jobs(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	byToken := map[string]int64{}
	for _, j := range jobs {
		if prev, dup := byToken[j.Spec.SubmitToken]; dup {
			t.Errorf("submission %q is there twice: jobs %d and %d", j.Spec.SubmitToken, prev, j.ID)
		}
		byToken[j.Spec.SubmitToken] = j.ID
	}
	if len(jobs) != total {
		t.Errorf("%d jobs after the restart, want %d", len(jobs), total)
	}
	for k, id := range ids {
		if got := byToken[fmt.Sprintf("storm-%d", k)]; got != id {
			t.Errorf("submission %d was acknowledged as job %d, the server has %d", k, id, got)
			break
		}
	}
	// Every acknowledged submission is in the audit log (written in the
	// job's own transaction): a retry after the crash may add a record
	// for the same job, never lose one.
	recs, err := c.client.Audit(context.Background(), url.Values{"method": {"POST"}, "limit": {"100000"}})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, r := range recs {
		if r.Path == "/v1/jobs" && r.Status == 201 {
			audited[r.Object] = true
		}
	}
	for k, id := range ids {
		if !audited[fmt.Sprintf("job %d", id)] {
			t.Errorf("submission %d, acknowledged as job %d, is not in the audit log", k, id)
			break
		}
	}
	t.Logf("%d submissions from %d clients; server killed after %d acknowledgements; all present once after the restart, and audited", total, clients, atCrash)
}
