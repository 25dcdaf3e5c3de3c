package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
)

// gantryBin is the binary under test, built once by TestMain.
var gantryBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gantry-it-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gantryBin = filepath.Join(dir, "gantry")
	build := exec.Command("go", "build", "-o", gantryBin, "github.com/gantry-hpc/gantry/cmd/gantry")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gantry:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireJobHost skips t unless this host can run real jobs: root, and a
// memory cgroup (v1 or v2) to confine them.
func requireJobHost(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: the node daemon creates containers and cgroups")
	}
	v1 := "/sys/fs/cgroup/memory/memory.limit_in_bytes"
	v2 := "/sys/fs/cgroup/cgroup.controllers"
	if _, err := os.Stat(v1); err != nil {
		b, err := os.ReadFile(v2)
		if err != nil || !strings.Contains(string(b), "memory") {
			t.Skip("needs a memory cgroup controller (v1 or v2) at /sys/fs/cgroup")
		}
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux) to submit as another user")
	}
}

// proc is a daemon started by a test.
type proc struct {
	cmd *exec.Cmd
	log *bytes.Buffer
}

// cluster is a server and its node daemons, each a gantry process.
type cluster struct {
	t      *testing.T
	dir    string // state, socket, logs
	work   string // a job directory every user can write, outside /tmp
	socket string
	server *proc
	nodes  map[string]*proc
	// serverArgs are extra flags of gantry server.
	serverArgs []string
	client     *client.Client
}

// newCluster starts a server and no nodes. Its directories are outside
// /tmp so the jobs' private /tmp does not hide them, and removed at the end.
func newCluster(t *testing.T, serverArgs ...string) *cluster {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "gantry-it-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	work := filepath.Join(dir, "work")
	os.Mkdir(work, 0o777)
	os.Chmod(work, 0o1777)
	c := &cluster{t: t, dir: dir, work: work, socket: filepath.Join(dir, "gantry.sock"), nodes: map[string]*proc{}, serverArgs: serverArgs}
	c.client, err = client.New(c.socket, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.killUnfinished()
		for _, p := range c.nodes {
			p.stop()
		}
		if c.server != nil {
			c.server.stop()
		}
		if t.Failed() {
			c.dumpLogs()
		}
		os.RemoveAll(dir)
	})
	c.startServer()
	return c
}

// killUnfinished kills the jobs still running at the end of a test and
// waits a while for them to end: jobs outlive their node daemon by design,
// and a test must not leave any behind.
func (c *cluster) killUnfinished() {
	ctx := context.Background()
	jobs, err := c.client.Jobs(ctx, true, api.StateStarting, api.StateRunning)
	if err != nil || len(jobs) == 0 {
		return
	}
	for _, j := range jobs {
		c.client.Kill(ctx, j.ID)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		left, err := c.client.Jobs(ctx, true, api.StateStarting, api.StateRunning)
		if err != nil || len(left) == 0 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// with returns c reporting to t, for use inside a subtest.
func (c *cluster) with(t *testing.T) *cluster {
	cc := *c
	cc.t = t
	return &cc
}

func (c *cluster) dumpLogs() {
	if c.server != nil {
		c.t.Logf("server log:\n%s", c.server.log)
	}
	for name, p := range c.nodes {
		c.t.Logf("node %s log:\n%s", name, p.log)
	}
}

func (c *cluster) spawn(args ...string) *proc {
	c.t.Helper()
	p := &proc{cmd: exec.Command(gantryBin, args...), log: &bytes.Buffer{}}
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	return p
}

// stop ends a daemon gracefully, or kills it after 10s.
func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// crash kills a daemon with SIGKILL.
func (p *proc) crash() {
	p.cmd.Process.Kill()
	p.cmd.Wait()
}

func (c *cluster) startServer() {
	c.t.Helper()
	c.server = c.spawn(append([]string{"server", "--state-dir", filepath.Join(c.dir, "server"), "--socket", c.socket, "--log-level", "debug"}, c.serverArgs...)...)
	c.waitFor("the server to answer", 20*time.Second, func() bool {
		_, err := c.client.Nodes(context.Background())
		return err == nil
	})
}

// startNode starts a node daemon offering cpus and mem, and waits until
// the server lists it UP.
func (c *cluster) startNode(name, cpus, mem string, extra ...string) {
	c.t.Helper()
	c.nodes[name] = c.spawn(append([]string{"node", "--server", c.socket, "--name", name, "--state-dir", filepath.Join(c.dir, "node-"+name),
		"--cpus", cpus, "--memory", mem, "--log-level", "debug"}, extra...)...)
	c.waitFor("node "+name+" to register", 20*time.Second, func() bool {
		nodes, err := c.client.Nodes(context.Background())
		if err != nil {
			return false
		}
		for _, n := range nodes {
			if n.Name == name && n.State == api.NodeUp {
				return true
			}
		}
		return false
	})
}

func (c *cluster) waitFor(what string, timeout time.Duration, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// result is one run of the gantry command line.
type result struct {
	stdout, stderr string
	code           int
}

// gantry runs the CLI against the cluster as root, in the work directory.
func (c *cluster) gantry(args ...string) result {
	c.t.Helper()
	return c.gantryAs(0, args...)
}

// gantryAs runs the CLI as uid (with gid = uid and no other groups, via
// setpriv) unless uid is 0.
func (c *cluster) gantryAs(uid int, args ...string) result {
	c.t.Helper()
	argv := append([]string{gantryBin, "--server", c.socket}, args...)
	if uid != 0 {
		argv = append([]string{"setpriv", fmt.Sprintf("--reuid=%d", uid), fmt.Sprintf("--regid=%d", uid), "--clear-groups"}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = c.work
	return c.run(cmd)
}

// run runs cmd and returns its output and exit code; it fails the test
// if cmd cannot be run at all.
func (c *cluster) run(cmd *exec.Cmd) result {
	c.t.Helper()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		c.t.Fatalf("run %v: %v", cmd.Args, err)
	}
	return r
}

// submit runs `gantry sub ARGS` as uid and returns the new job's id.
func (c *cluster) submit(uid int, args ...string) int64 {
	c.t.Helper()
	r := c.gantryAs(uid, append([]string{"sub"}, args...)...)
	var id int64
	if _, err := fmt.Sscanf(r.stdout, "Job <%d> is submitted to default queue <normal>.", &id); err != nil || r.code != 0 {
		c.t.Fatalf("gantry sub %v: code %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
	}
	return id
}

// submitQ runs `gantry sub -q QUEUE ARGS` as uid and returns the job id.
func (c *cluster) submitQ(uid int, queue string, args ...string) int64 {
	c.t.Helper()
	r := c.gantryAs(uid, append([]string{"sub", "-q", queue}, args...)...)
	var id int64
	if _, err := fmt.Sscanf(r.stdout, "Job <%d> is submitted to queue <"+queue+">.", &id); err != nil || r.code != 0 {
		c.t.Fatalf("gantry sub -q %s %v: code %d, stdout %q, stderr %q", queue, args, r.code, r.stdout, r.stderr)
	}
	return id
}

// job fetches a job through the API.
func (c *cluster) job(id int64) api.Job {
	c.t.Helper()
	j, err := c.client.Job(context.Background(), id)
	if err != nil {
		c.t.Fatalf("job %d: %v", id, err)
	}
	return j
}

// waitState waits until job id reaches one of states.
func (c *cluster) waitState(id int64, timeout time.Duration, states ...api.JobState) api.Job {
	c.t.Helper()
	var j api.Job
	c.waitFor(fmt.Sprintf("job %d to reach %v", id, states), timeout, func() bool {
		j = c.job(id)
		for _, s := range states {
			if j.State == s {
				return true
			}
		}
		return j.State.Terminal() // a wrong final state fails below
	})
	for _, s := range states {
		if j.State == s {
			return j
		}
	}
	c.t.Fatalf("job %d ended %s (%s), want %v", id, j.State, j.Reason, states)
	return j
}

// fileExists reports whether the work directory has a file name.
func (c *cluster) fileExists(name string) bool {
	_, err := os.Stat(filepath.Join(c.work, name))
	return err == nil
}

// output reads a file of the work directory.
func (c *cluster) output(name string) string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.work, name))
	if err != nil {
		c.t.Fatalf("read output: %v", err)
	}
	return string(b)
}
