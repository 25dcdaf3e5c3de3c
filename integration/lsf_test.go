package integration

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

var updateGolden = flag.Bool("update", false, "rewrite the golden files of testdata/lsf")

var lsfNames = []string{"bsub", "bjobs", "bkill", "bstop", "bresume", "bhosts", "bqueues", "bpeek", "bhist", "bacct", "badmin"}

// lsfEnv makes a directory of LSF command symlinks to the binary under
// test and returns the environment that puts them first on PATH and
// points them at the cluster.
func (c *cluster) lsfEnv() []string {
	c.t.Helper()
	bin := filepath.Join(c.dir, "lsfbin")
	if _, err := os.Stat(bin); err != nil {
		os.Mkdir(bin, 0o755)
		for _, n := range lsfNames {
			if err := os.Symlink(gantryBin, filepath.Join(bin, n)); err != nil {
				c.t.Fatal(err)
			}
		}
	}
	return append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "GANTRY_SERVER="+c.socket,
		"GANTRY_SUBMIT_HOST=login1", "NO_COLOR=1", "TZ=UTC")
}

// lsf runs an LSF command (through its symlink) in the work directory.
func (c *cluster) lsf(stdin string, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(filepath.Join(c.dir, "lsfbin", args[0]), args[1:]...)
	cmd.Env = c.lsfEnv()
	cmd.Dir = c.work
	cmd.Stdin = strings.NewReader(stdin)
	return c.run(cmd)
}

var (
	shortTime = regexp.MustCompile(`[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d`)
	longTime  = regexp.MustCompile(`[A-Z][a-z]{2} [A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d`)
)

// golden compares got, with times and the work directory masked, with
// testdata/lsf/NAME.golden (rewritten with -update).
func (c *cluster) golden(name, got string) {
	c.t.Helper()
	got = strings.ReplaceAll(got, c.work, "/WORK")
	got = longTime.ReplaceAllString(got, "Www Mmm dd hh:mm:ss")
	got = shortTime.ReplaceAllString(got, "Mmm dd hh:mm")
	path := filepath.Join("..", "testdata", "lsf", name+".golden")
	if *updateGolden {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			c.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		c.t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		c.t.Errorf("%s differs from %s:\n--- got\n%s--- want\n%s", name, path, got, want)
	}
}

func (c *cluster) bsubID(r result) int64 {
	c.t.Helper()
	var id int64
	if _, err := fmt.Sscanf(r.stdout, "Job <%d> is submitted to", &id); err != nil {
		c.t.Fatalf("bsub: %+v", r)
	}
	return id
}

// TestLSF drives the LSF commands against a real server and node. Job ids
// are predictable because the cluster is fresh and the subtests run in
// order.
func TestLSF(t *testing.T) {
	requireJobHost(t)
	c := newCluster(t)
	c.startNode("n1", "0-1", "1G")

	t.Run("bsub and bjobs, golden", func(t *testing.T) {
		c := c.with(t)
		r := c.lsf("", "bsub", "-J", "held", "-H", "-n", "2", "-M", "64M", "-W", "1:30", "-o", "held.%J", "-R", "rusage[mem=32MB] span[hosts=1]",
			"-gpu", "num=1:mode=exclusive_process", "-P", "proj", "sleep", "60")
		c.golden("bsub", r.stdout)
		held := c.bsubID(r) // 1
		r = c.lsf("", "bsub", "-q", "nosuch normal", "-J", "a-rather-long-job-name", "-o", "/dev/null", "sleep", "60")
		run := c.bsubID(r) // 2
		if !strings.Contains(r.stdout, "to queue <normal>") {
			t.Errorf("second candidate queue not used: %+v", r)
		}
		c.waitState(run, 30*time.Second, api.StateRunning)
		c.golden("bjobs", c.lsf("", "bjobs").stdout)
		c.golden("bjobs-w", c.lsf("", "bjobs", "-w").stdout)
		c.golden("bjobs-noheader-o", c.lsf("", "bjobs", "-noheader", "-o", "jobid stat:6 job_name:-12 slots delimiter=','").stdout)
		c.golden("bjobs-o", c.lsf("", "bjobs", "-o", "jobid user stat queue exec_host memlimit runtimelimit").stdout)
		c.golden("bjobs-json", c.lsf("", "bjobs", "-json", "-o", "jobid stat job_name").stdout)
		c.golden("bjobs-p", c.lsf("", "bjobs", "-p").stdout)
		c.golden("bjobs-l", c.lsf("", "bjobs", "-l", fmt.Sprint(held)).stdout)
		c.golden("bstop-bresume", c.lsf("", "bresume", fmt.Sprint(held)).stdout+c.lsf("", "bstop", fmt.Sprint(held)).stdout)
		// bstop of a running job freezes it (USUSP); bresume thaws it.
		r = c.lsf("", "bstop", fmt.Sprint(run))
		if r.code != 0 || !strings.Contains(r.stdout, "is being stopped") || !strings.Contains(c.lsf("", "bjobs", fmt.Sprint(run)).stdout, "USUSP") {
			t.Errorf("bstop of a running job: %+v", r)
		}
		if r = c.lsf("", "bresume", fmt.Sprint(run)); r.code != 0 || !strings.Contains(r.stdout, "is being resumed") {
			t.Errorf("bresume of a stopped job: %+v", r)
		}
		// A signal the job ignores (WINCH) leaves it running.
		r = c.lsf("", "bkill", "-s", "WINCH", fmt.Sprint(run))
		if r.code != 0 || r.stdout != fmt.Sprintf("Job <%d> is being signaled\n", run) {
			t.Errorf("bkill -s WINCH: %+v", r)
		}
		r = c.lsf("", "bkill", "0")
		c.golden("bkill-0", r.stdout)
		c.waitState(run, 30*time.Second, api.StateCancelled, api.StateFailed)
		r = c.lsf("", "bkill", "999")
		if r.code != 255 || r.stderr != "Job <999>: No matching job found\n" {
			t.Errorf("bkill 999: %+v", r)
		}
		r = c.lsf("", "bjobs")
		if r.stdout != "" || r.stderr != "No unfinished job found\n" || r.code != 0 {
			t.Errorf("bjobs with nothing unfinished: %+v", r)
		}
		r = c.lsf("", "bjobs", "77")
		if r.code != 255 || r.stderr != "Job <77> is not found\n" {
			t.Errorf("bjobs 77: %+v", r)
		}
	})

	t.Run("hosts, queues, badmin, golden", func(t *testing.T) {
		c := c.with(t)
		c.golden("bhosts", c.lsf("", "bhosts").stdout)
		c.golden("bqueues", c.lsf("", "bqueues").stdout)
		c.golden("bhosts-json", c.lsf("", "bhosts", "-json").stdout)
		r := c.lsf("", "badmin", "hclose", "-C", "bad fan", "n1")
		c.golden("badmin-hclose", r.stdout+c.lsf("", "bhosts").stdout)
		r = c.lsf("", "badmin", "hopen", "n1")
		c.golden("badmin-hopen", r.stdout+c.lsf("", "bhosts").stdout)
		r = c.lsf("", "badmin", "qclose", "normal")
		r2 := c.lsf("", "badmin", "qopen", "normal")
		c.golden("badmin-queue", r.stdout+r2.stdout)
	})

	t.Run("script on stdin with #BSUB, -K, bpeek, bhist, bacct", func(t *testing.T) {
		c := c.with(t)
		script := "#!/bin/sh\n#BSUB -J peek\n#BSUB -o peek.%J.out\n#BSUB -n 2\necho hello from $LSB_JOBNAME on $LSB_MCPU_HOSTS\nexit 3\n"
		r := c.lsf(script, "bsub", "-K", "-n", "1")
		if r.code != 3 || !strings.Contains(r.stdout, "<<Waiting for dispatch ...>>\n<<Starting on n1>>\n<<Job is finished>>\n") {
			t.Fatalf("bsub -K: %+v", r)
		}
		id := c.bsubID(r)
		j := c.job(id)
		if j.Spec.Cores != 1 || j.Spec.Name != "peek" {
			t.Errorf("command line did not override #BSUB: %+v", j.Spec)
		}
		r = c.lsf("", "bpeek", fmt.Sprint(id))
		if r.stdout != "<< output from stdout >>\nhello from peek on n1 1\n" {
			t.Errorf("bpeek: %+v", r)
		}
		r = c.lsf("", "bhist", fmt.Sprint(id))
		if !strings.HasPrefix(r.stdout, "Summary of time in seconds spent in various states:\nJOBID   USER    JOB_NAME  PEND    PSUSP   RUN     USUSP   SSUSP   UNKWN   TOTAL\n"+fmt.Sprint(id)+"       root    peek") {
			t.Errorf("bhist: %+v", r)
		}
		r = c.lsf("", "bhist", "-l", fmt.Sprint(id))
		if !strings.Contains(r.stdout, "Dispatched 1 Task(s) on Host(s) <n1>") || !strings.Contains(r.stdout, "Exited with exit code 3") {
			t.Errorf("bhist -l: %+v", r)
		}
		r = c.lsf("", "bacct", fmt.Sprint(id))
		if !strings.Contains(r.stdout, " Total number of done jobs:       0      Total number of exited jobs:      1\n") {
			t.Errorf("bacct: %+v", r)
		}
		r = c.lsf("", "bjobs", "-noheader", "-o", "stat exit_code", fmt.Sprint(id))
		if r.stdout != "EXIT  3\n" {
			t.Errorf("bjobs -o stat exit_code: %q", r.stdout)
		}
	})

	t.Run("the environment", func(t *testing.T) {
		c := c.with(t)
		r := c.lsf("", "bsub", "-K", "-J", "envjob", "-n", "2", "-o", "env.%J", "-q", "normal", "sh", "-c",
			"env | grep -E '^(LSB_|LS_|SLURM_)' | sort")
		id := c.bsubID(r)
		env := c.output(fmt.Sprintf("env.%d", id))
		for _, want := range []string{
			fmt.Sprintf("LSB_JOBID=%d", id), "LSB_JOBINDEX=0", "LSB_JOBNAME=envjob", "LSB_QUEUE=normal", "LSB_HOSTS=n1 n1",
			"LSB_MCPU_HOSTS=n1 2", "LSB_DJOB_NUMPROC=2", "LS_SUBCWD=" + c.work, "LSB_SUB_HOST=login1",
			fmt.Sprintf("SLURM_JOB_ID=%d", id), "SLURM_JOB_NODELIST=n1", "SLURM_JOB_NUM_NODES=1", "SLURM_NTASKS=2",
			"SLURM_SUBMIT_DIR=" + c.work, "SLURM_NODEID=0", "SLURM_PROCID=0",
		} {
			if !strings.Contains("\n"+env, "\n"+want+"\n") {
				t.Errorf("missing %s in:\n%s", want, env)
			}
		}
	})

	t.Run("output files: -o appends, -oo overwrites", func(t *testing.T) {
		c := c.with(t)
		for _, step := range []struct{ opt, word, want string }{
			{"-o", "one", "one\n"}, {"-o", "two", "one\ntwo\n"}, {"-oo", "three", "three\n"},
		} {
			r := c.lsf("", "bsub", "-K", step.opt, "appended.out", "echo", step.word)
			c.bsubID(r)
			if got := c.output("appended.out"); got != step.want {
				t.Errorf("after bsub %s appended.out echo %s: %q, want %q", step.opt, step.word, got, step.want)
			}
		}
	})

	t.Run("bkill -s sends a signal", func(t *testing.T) {
		c := c.with(t)
		r := c.lsf("", "bsub", "-oo", "trap.out", "sh", "-c", `trap 'echo got USR1' USR1; echo ready; while :; do sleep 0.1; done`)
		id := c.bsubID(r)
		c.waitFor("the job to set its trap", time.Minute, func() bool { return c.fileExists("trap.out") && strings.Contains(c.output("trap.out"), "ready") })
		if r := c.lsf("", "bkill", "-s", "USR1", fmt.Sprint(id)); r.stdout != fmt.Sprintf("Job <%d> is being signaled\n", id) {
			t.Fatalf("bkill -s USR1: %+v", r)
		}
		c.waitFor("the trap to run", 30*time.Second, func() bool { return strings.Contains(c.output("trap.out"), "got USR1") })
		if j := c.job(id); j.State != api.StateRunning {
			t.Errorf("after USR1 the job is %s", j.State)
		}
		if r := c.lsf("", "bkill", "-s", "NOSUCH", fmt.Sprint(id)); r.code == 0 || !strings.Contains(r.stderr, `"NOSUCH"`) {
			t.Errorf("bkill -s NOSUCH: %+v", r)
		}
		c.lsf("", "bkill", fmt.Sprint(id))
		c.waitState(id, time.Minute, api.StateCancelled)
		if strings.Count(c.output("trap.out"), "got USR1") != 1 {
			t.Errorf("the signal was delivered %d times", strings.Count(c.output("trap.out"), "got USR1"))
		}
	})

	t.Run("interactive jobs", func(t *testing.T) {
		c := c.with(t)
		// -I: input from the pipe, output to bsub's; the exit code is
		// the job's. A walltime, so that a job whose input never comes
		// does not hold the node for the tests after this one.
		r := c.lsf("hello\nworld\n", "bsub", "-I", "-W", "2", "sh", "-c", `read a; read b; echo "got $a $b"; exit 3`)
		if r.code != 3 || !strings.Contains(r.stdout, "<<Waiting for dispatch ...>>\n<<Starting on n1>>\ngot hello world\n") {
			t.Errorf("bsub -I: %+v", r)
		}
		// -Is: a real terminal in the job.
		r = c.lsf("", "bsub", "-Is", "-W", "2", "sh", "-c", `[ -t 0 ] && [ -t 1 ] && echo "terminal $(tty)"`)
		if r.code != 0 || !strings.Contains(r.stdout, "terminal /dev/pts/0") {
			t.Errorf("bsub -Is: %+v", r)
		}
	})

	t.Run("bsub -x takes the whole host", func(t *testing.T) {
		c := c.with(t)
		r := c.lsf("", "bsub", "-K", "-x", "-n", "1", "-oo", "excl.out", "sh", "-c", "grep Cpus_allowed_list /proc/self/status")
		id := c.bsubID(r)
		if j := c.job(id); len(j.CPUs) != 2 || !strings.Contains(c.output("excl.out"), "0-1") {
			t.Errorf("an exclusive 1-core job got cpus %v and saw %q", j.CPUs, c.output("excl.out"))
		}
	})

	t.Run("the host file", func(t *testing.T) {
		c := c.with(t)
		r := c.lsf("", "bsub", "-K", "-n", "2", "-oo", "hostfile.out", "sh", "-c", `cat "$LSB_DJOB_HOSTFILE" "$GANTRY_MACHINEFILE"`)
		c.bsubID(r)
		if got := c.output("hostfile.out"); got != "n1\nn1\nn1 slots=2\n" {
			t.Errorf("host file and machine file: %q", got)
		}
	})

	t.Run("a job array", func(t *testing.T) {
		c := c.with(t)
		r := c.lsf("", "bsub", "-K", "-J", "arr[1-3]%2", "-o", "arr.%J.%I", "sh", "-c", "echo $LSB_JOBINDEX $SLURM_ARRAY_TASK_ID")
		id := c.bsubID(r)
		if r.code != 0 {
			t.Fatalf("bsub array: %+v\n%+v", r, c.job(id))
		}
		for i := 1; i <= 3; i++ {
			if got := c.output(fmt.Sprintf("arr.%d.%d", id, i)); got != fmt.Sprintf("%d %d\n", i, i) {
				t.Errorf("element %d wrote %q", i, got)
			}
		}
		r = c.lsf("", "bjobs", "-noheader", "-o", "jobid job_name stat", fmt.Sprint(id))
		want := fmt.Sprintf("%-7[1]d arr[1]     DONE\n%-7[1]d arr[2]     DONE\n%-7[1]d arr[3]     DONE\n", id)
		if r.stdout != want {
			t.Errorf("bjobs of an array:\n%s\nwant\n%s(stderr %s)", r.stdout, want, r.stderr)
		}
	})

	t.Run("a Slurm batch script, unchanged", func(t *testing.T) {
		c := c.with(t)
		b, err := os.ReadFile("../testdata/lsf/slurm-job.sh")
		if err != nil {
			t.Fatal(err)
		}
		r := c.lsf(string(b), "bsub", "-K")
		id := c.bsubID(r)
		if r.code != 0 {
			t.Fatalf("bsub < slurm-job.sh: %+v", r)
		}
		want := fmt.Sprintf("id=%d name=slurm-test nodes=1 list=n1\nntasks=1 cpt=2 procid=0 nodeid=0\nsubmitdir=%s partition=normal\ncpus=2\n", id, c.work)
		if got := c.output(fmt.Sprintf("slurm-%d.out", id)); got != want {
			t.Errorf("slurm-%d.out:\n%s\nwant\n%s", id, got, want)
		}
		if j := c.job(id); j.Spec.MemoryBytes != 100<<20 || j.Spec.WalltimeSeconds != 300 || j.Spec.Cores != 2 {
			t.Errorf("translated spec: %+v", j.Spec)
		}
	})

	t.Run("a typical LSF session, as a shell script", func(t *testing.T) {
		c := c.with(t)
		script, _ := filepath.Abs("../testdata/lsf/session.sh")
		cmd := exec.Command("/bin/sh", script)
		cmd.Env = append(c.lsfEnv(), "NODE=n1")
		cmd.Dir = c.work
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.HasSuffix(string(out), "session ok\n") {
			t.Fatalf("session.sh: %v\n%s", err, out)
		}
	})
}
