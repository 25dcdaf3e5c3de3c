package integration

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"golang.org/x/sys/unix"
)

// hosts is a small network of separate hosts: one network namespace per
// host, each with its own address on a bridge that lives in a namespace
// of its own, so the machine's own network is never touched.
type hosts struct {
	t      *testing.T
	prefix string   // names start with it, so parallel runs never clash
	ns     []string // the hosts' namespaces
	addrs  []string // and their addresses
}

// newHosts makes n hosts at 10.231.X.1..n, or skips t when this machine
// cannot (not root, no iproute2 or nsenter, no network namespaces).
func newHosts(t *testing.T, n int) *hosts {
	t.Helper()
	for _, tool := range []string{"ip", "nsenter"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (iproute2, util-linux) to make hosts in network namespaces", tool)
		}
	}
	h := &hosts{t: t, prefix: fmt.Sprintf("g%d", os.Getpid()%100000)}
	subnet := 1 + os.Getpid()%250
	t.Cleanup(h.remove)
	sw := h.prefix + "sw"
	if out, err := exec.Command("ip", "netns", "add", sw).CombinedOutput(); err != nil {
		t.Skipf("cannot make network namespaces: %v: %s", err, out)
	}
	h.ip("-n", sw, "link", "add", "br0", "type", "bridge")
	h.ip("-n", sw, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%sh%d", h.prefix, i)
		addr := fmt.Sprintf("10.231.%d.%d", subnet, i)
		veth, port := fmt.Sprintf("%sv%d", h.prefix, i), fmt.Sprintf("%sp%d", h.prefix, i)
		h.ip("netns", "add", ns)
		h.ns, h.addrs = append(h.ns, ns), append(h.addrs, addr)
		h.ip("link", "add", veth, "type", "veth", "peer", "name", port)
		h.ip("link", "set", veth, "netns", ns)
		h.ip("link", "set", port, "netns", sw)
		h.ip("-n", ns, "link", "set", "lo", "up")
		h.ip("-n", ns, "addr", "add", addr+"/24", "dev", veth)
		h.ip("-n", ns, "link", "set", veth, "up")
		h.ip("-n", sw, "link", "set", port, "master", "br0")
		h.ip("-n", sw, "link", "set", port, "up")
	}
	return h
}

func (h *hosts) ip(args ...string) {
	h.t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		h.t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// remove deletes the namespaces (and with them the links).
func (h *hosts) remove() {
	for _, ns := range append(h.ns, h.prefix+"sw") {
		exec.Command("ip", "netns", "delete", ns).Run()
	}
}

// startNodes starts one node daemon per host, inside its network
// namespace only (nsenter --net: the mounts, cgroups and the server's
// Unix socket stay the machine's), named n1..nN with its address, each
// offering cpus and mem and four fake GPUs.
func (c *cluster) startGangNodes(h *hosts, cpus, mem string, extra ...string) []string {
	c.t.Helper()
	var names []string
	for i, ns := range h.ns {
		name := fmt.Sprintf("n%d", i+1)
		args := append([]string{"--net=/run/netns/" + ns, gantryBin, "node", "--server", c.socket, "--name", name,
			"--state-dir", filepath.Join(c.dir, "node-"+name), "--cpus", cpus, "--memory", mem, "--log-level", "debug",
			"--address", h.addrs[i], "--heartbeat-interval", "500ms"}, extra...)
		p := &proc{cmd: exec.Command("nsenter", args...), log: &bytes.Buffer{}}
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			c.t.Fatal(err)
		}
		c.nodes[name] = p
		names = append(names, name)
	}
	c.waitFor("every node to register", 30*time.Second, func() bool {
		nodes, err := c.client.Nodes(c.t.Context())
		up := 0
		for _, n := range nodes {
			if n.State == api.NodeUp {
				up++
			}
		}
		return err == nil && up == len(names)
	})
	return names
}

// fakeGPUs makes device nodes for four GPUs (the pcie4-2numa fixture) and
// returns the node daemon flags that report them: --gpu-fixture FILE
// --gpu-dev-dir DIR.
func fakeGPUs(t *testing.T) []string {
	t.Helper()
	dev := t.TempDir()
	for minor := range 4 {
		if err := unix.Mknod(filepath.Join(dev, fmt.Sprintf("nvidia%d", minor)), unix.S_IFCHR|0o666, int(unix.Mkdev(195, uint32(minor)))); err != nil {
			t.Skipf("cannot make device nodes: %v", err)
		}
	}
	if err := unix.Mknod(filepath.Join(dev, "nvidiactl"), unix.S_IFCHR|0o666, int(unix.Mkdev(195, 255))); err != nil {
		t.Fatal(err)
	}
	fixture, err := filepath.Abs("../testdata/gpu/pcie4-2numa.json")
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--gpu-fixture", fixture, "--gpu-dev-dir", dev}
}

// buildRendezvous builds the rendezvous program into dir (seen by jobs).
func buildRendezvous(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "rendezvous")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/rendezvous").CombinedOutput()
	if err != nil {
		t.Fatalf("build rendezvous: %v: %s", err, out)
	}
	return bin
}

// TestGangJobs runs jobs over four hosts (network namespaces with their
// own addresses, each with four fake GPUs): a gang whose parts meet at
// MASTER_ADDR:MASTER_PORT as torch.distributed's do, one per GPU too,
// and on one node; the start barrier timing out on a frozen node; then fail-together when
// one part exits 1, and when a node daemon is killed.
func TestGangJobs(t *testing.T) {
	requireJobHost(t)
	h := newHosts(t, 4)
	gpus := fakeGPUs(t)
	c := newCluster(t, "--heartbeat-timeout", "6s", "--gang-start-timeout", "2s")
	rdv := buildRendezvous(t, c.dir)
	names := c.startGangNodes(h, "0-1", "1G", gpus...)

	t.Run("rendezvous", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "--nodes", "4", "--gpus-per-node", "2", "-M", "64M", "-o", "rdv.%J.out", "--", rdv)
		j := c.waitState(id, 2*time.Minute, api.StateSucceeded)
		if len(j.Parts) != 4 {
			t.Fatalf("job has %d parts, want 4: %+v", len(j.Parts), j.Parts)
		}
		var onNodes []string
		for r, p := range j.Parts {
			onNodes = append(onNodes, p.Node)
			if p.Address != h.addrs[slices.Index(names, p.Node)] || len(p.GPUs) != 2 || p.ExitCode == nil || *p.ExitCode != 0 {
				t.Errorf("part %d: %+v", r, p)
			}
		}
		slices.Sort(onNodes)
		if !slices.Equal(onNodes, names) {
			t.Errorf("parts on %v, want one on each of %v", onNodes, names)
		}
		master := j.Parts[0].Address
		out := c.output(fmt.Sprintf("rdv.%d.out", id))
		want := fmt.Sprintf("rank 0 of 4 (node 0, gpus \"0,1\"): all 4 ranks joined on %s:%d; hostfile %q", master, j.Parts[0].Port,
			j.Parts[0].Address+"\n"+j.Parts[1].Address+"\n"+j.Parts[2].Address+"\n"+j.Parts[3].Address+"\n")
		if strings.TrimSpace(out) != want {
			t.Errorf("rank 0 wrote %q, want %q", out, want)
		}
		for r := 1; r < 4; r++ {
			out := c.output(fmt.Sprintf("rdv.%d.rank%d.out", id, r))
			want := fmt.Sprintf("rank %d of 4 (node %d, local rank 0, gpus \"0,1\"): joined %s:%d\n", r, r, master, j.Parts[0].Port)
			if out != want {
				t.Errorf("rank %d wrote %q, want %q", r, out, want)
			}
		}
		if r := c.lsf("", "bjobs", "-a", "-w", "-noheader", "-o", "exec_host", fmt.Sprint(id)); !strings.Contains(r.stdout, j.Parts[0].Node+":") || strings.Count(r.stdout, ":") != 3 {
			t.Errorf("bjobs exec_host of a 4-node job: %q (%s)", r.stdout, r.stderr)
		}
		if r := c.gantry("logs", "--rank", "2", fmt.Sprint(id)); r.code != 0 || !strings.Contains(r.stdout, "rank 2 of 4") {
			t.Errorf("gantry logs --rank 2: %d %q %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("per-gpu", func(t *testing.T) {
		c := c.with(t)
		// Two nodes, two GPUs each, one process per GPU: ranks 0-3.
		id := c.submit(0, "--nodes", "2", "--gpus-per-node", "2", "--task-per-gpu", "-o", "pergpu.%J.out", "--", rdv)
		j := c.waitState(id, 2*time.Minute, api.StateSucceeded, api.StateFailed)
		all := c.output(fmt.Sprintf("pergpu.%d.out", id)) + c.output(fmt.Sprintf("pergpu.%d.rank1.out", id))
		for _, want := range []string{"rank 0 of 4 (node 0", "rank 1 of 4 (node 0, local rank 1", "rank 2 of 4 (node 1, local rank 0", "rank 3 of 4 (node 1, local rank 1"} {
			if !strings.Contains(all, want) {
				t.Errorf("missing %q in the output:\n%s", want, all)
			}
		}
		if len(j.Parts) != 2 {
			t.Errorf("parts %+v", j.Parts)
		}
	})

	t.Run("one-node-per-gpu", func(t *testing.T) {
		c := c.with(t)
		// One node, one process per GPU: a gang of one, whose node
		// picks the rendezvous port when it starts the job.
		id := c.submit(0, "--nodes", "1", "--gpus-per-node", "2", "--task-per-gpu", "-o", "one.%J.out", "--", rdv)
		j := c.waitState(id, time.Minute, api.StateSucceeded, api.StateFailed)
		out := c.output(fmt.Sprintf("one.%d.out", id))
		if j.State != api.StateSucceeded || !strings.Contains(out, "all 2 ranks joined on 127.0.0.1:") ||
			!strings.Contains(out, "rank 1 of 2 (node 0, local rank 1") {
			t.Errorf("state %s, output:\n%s", j.State, out)
		}
		if len(j.Parts) != 0 {
			t.Errorf("a one-node job has parts %+v", j.Parts)
		}
	})

	t.Run("barrier-timeout", func(t *testing.T) {
		c := c.with(t)
		// n2's daemon is frozen: it cannot prepare its part, so the
		// gang is taken back after the start timeout (2s), and runs
		// as its second try once n2 thaws (before it is declared down).
		frozen := c.nodes["n2"].cmd.Process
		if err := frozen.Signal(unix.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		thawed := false
		thaw := func() {
			if !thawed {
				frozen.Signal(unix.SIGCONT)
				thawed = true
			}
		}
		defer thaw()
		id := c.submit(0, "--nodes", "4", "-o", "/dev/null", "--", "true")
		var hist string
		c.waitFor("the start barrier to time out", 30*time.Second, func() bool {
			hist = c.gantry("hist", fmt.Sprint(id)).stdout
			return strings.Contains(hist, "gang start barrier timed out")
		})
		thaw()
		if !strings.Contains(hist, "(n2) not ready; requeued") {
			t.Errorf("history does not name n2's rank:\n%s", hist)
		}
		j := c.waitState(id, time.Minute, api.StateSucceeded)
		if j.Attempt < 2 {
			t.Errorf("attempt %d after a requeue", j.Attempt)
		}
	})

	t.Run("fail-together", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "--nodes", "4", "-o", "fail.%J.out", "--", "sh", "-c", `if [ "$NODE_RANK" = 2 ]; then exit 1; fi; sleep 300`)
		j := c.waitState(id, time.Minute, api.StateFailed)
		if !strings.Contains(j.Reason, "rank 2 on ") || !strings.Contains(j.Reason, "exited with code 1") {
			t.Errorf("reason %q", j.Reason)
		}
		// Every other part is stopped and reports how it ended.
		c.waitFor("every part to end", 30*time.Second, func() bool {
			for _, p := range c.job(id).Parts {
				if p.EndTime == nil {
					return false
				}
			}
			return true
		})
		for _, p := range c.job(id).Parts {
			if p.Rank != 2 && (p.ExitCode == nil || *p.ExitCode == 0) {
				t.Errorf("part %d was not stopped: %+v", p.Rank, p)
			}
		}
	})

	t.Run("node-lost", func(t *testing.T) {
		c := c.with(t)
		id := c.submit(0, "--nodes", "4", "-o", "lost.%J.out", "--", "sleep", "300")
		j := c.waitState(id, time.Minute, api.StateRunning)
		victim := j.Parts[3].Node
		c.nodes[victim].crash()
		j = c.waitState(id, time.Minute, api.StateNodeFail)
		if !strings.Contains(j.Reason, victim) {
			t.Errorf("reason %q does not name node %s", j.Reason, victim)
		}
		c.waitFor("the other parts to end", 30*time.Second, func() bool {
			for _, p := range c.job(id).Parts {
				if p.Node != victim && p.EndTime == nil {
					return false
				}
			}
			return true
		})
		// The lost node comes back and kills its stale part.
		args := slices.Clone(c.nodes[victim].cmd.Args[1:])
		p := &proc{cmd: exec.Command("nsenter", args...), log: &bytes.Buffer{}}
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		c.nodes[victim] = p
		c.waitFor("the lost part's end", time.Minute, func() bool { return c.job(id).Parts[3].EndTime != nil })
	})
}
