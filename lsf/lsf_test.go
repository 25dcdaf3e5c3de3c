package lsf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

func TestParseResReq(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"select[mem>4000 && type==X86_64] rusage[mem=4GB:duration=10] span[hosts=1]", "select[mem > 4000 && type == X86_64] rusage[mem=4GB:duration=10] span[hosts=1]"},
		{"mem>100 order[-slots:maxmem]", "select[mem > 100] order[-slots:maxmem]"},
		{"rusage[mem=100, swp=50:duration=5h || mem=80]", "rusage[mem=100, swp=50:duration=5h || mem=80]"},
		{"span[ptile=4] same[type:model]", "span[ptile=4] same[type:model]"},
		{"select[!defined(gpu) || (ncpus>=8 and hname=node-01)]", "select[!defined(gpu) || ncpus >= 8 && hname == node-01]"},
		{"select[(a||b)&&c] span[ptile='!']", "select[(a || b) && c] span[ptile='!']"},
		{"select[mem - 100 * 2 > 4g]", "select[mem - 100 * 2 > 4G]"},
		{`select[type=="LINUX"]`, `select[type == "LINUX"]`},
		{"  ", ""},
	} {
		r, err := ParseResReq(c.in)
		if err != nil {
			t.Errorf("ParseResReq(%q): %v", c.in, err)
			continue
		}
		if got := r.String(); got != c.want {
			t.Errorf("ParseResReq(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	r, _ := ParseResReq("rusage[mem=2GB, mem2=3:duration=1]")
	if r.MemoryMB() != 2048 {
		t.Errorf("MemoryMB = %v", r.MemoryMB())
	}
	for _, in := range []string{
		"select[mem>", "select[mem>]", "select[]", "rusage[mem=abc]", "rusage[mem=4XB]", "span[hosts=0]",
		"span[hosts=1:ptile=2]", "span[foo=1]", "order[1abc]", "select[a] select[b]", "select[a] junk",
		"select[a==b==c]", "select[foo(x)]", "select[(a]", "rusage[decay=2:mem=1]", "same[1x]", "select[a @ b]",
	} {
		_, err := ParseResReq(in)
		var re *ResReqError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseResReq(%q) = %v, want an error naming it", in, err)
		}
	}
}

func TestParseGPU(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"-", "num=1"},
		{"num=2/task:mode=exclusive_process:gmodel=TeslaA100:gmem=16G:j_exclusive=yes", "num=2/task:mode=exclusive_process:j_exclusive=yes:gmodel=TeslaA100:gmem=16G"},
		{"mps=per_gpu,shared:num=4", "num=4:mps=per_gpu,shared"},
		{"gtile=!:gmodel=A100#80G", "num=1:gmodel=A100#80G:gtile='!'"},
	} {
		g, err := ParseGPU(c.in)
		if err != nil {
			t.Errorf("ParseGPU(%q): %v", c.in, err)
			continue
		}
		if got := g.String(); got != c.want {
			t.Errorf("ParseGPU(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	for _, in := range []string{"", "num=0", "num=2/node", "mode=exclusive", "gmem=lots", "num=1:num=2", "foo=bar", "num", "j_exclusive=maybe", "mig=9"} {
		if _, err := ParseGPU(in); err == nil || !strings.Contains(err.Error(), "bad GPU requirement") {
			t.Errorf("ParseGPU(%q) = %v, want an error", in, err)
		}
	}
}

func TestParseJobName(t *testing.T) {
	name, arr, th, err := ParseJobName("sweep[1-100:2,200]%10")
	if err != nil || name != "sweep" || arr.String() != "1-99:2,200" || th != 10 || arr.Count() != 51 {
		t.Fatalf("got %q %q %d %v", name, arr, th, err)
	}
	if name, arr, _, err := ParseJobName("plain"); err != nil || name != "plain" || arr != nil {
		t.Fatalf("plain: %q %v %v", name, arr, err)
	}
	for _, in := range []string{"a[]", "a[0-3]", "a[5-3]", "a[1-3", "a[1-3]%0", "a[1-3]x", "a[1:2]", "a[1-2000000]", "a]", "a[1-3:0]", "a[-1]"} {
		if _, _, _, err := ParseJobName(in); err == nil || !strings.Contains(err.Error(), in) {
			t.Errorf("ParseJobName(%q) = %v, want an error naming it", in, err)
		}
	}
	ref, err := ParseJobRef("42[3]")
	if err != nil || ref.ID != 42 || ref.Array.String() != "3" {
		t.Fatalf("ParseJobRef: %+v %v", ref, err)
	}
	if _, err := ParseJobRef("4x"); err == nil {
		t.Fatal("ParseJobRef(4x) succeeded")
	}
}

const bsubScript = `#!/bin/bash
# a comment
#BSUB -n 4 -q "short normal"
#BSUB -J train  # the name
#BSUB -R "rusage[mem=2GB] span[hosts=1]"
#BSUB -o out.%J
echo hello
#BSUB -W 10
`

func TestScriptOptions(t *testing.T) {
	o, _, err := ScriptOptions(bsubScript, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(o.Args(), " "); got != "-J train -R rusage[mem=2GB] span[hosts=1] -n 4 -o out.%J -q short normal" {
		t.Fatalf("options %q", got)
	}
	cmdline, _, _ := ParseBsubArgs([]string{"-n", "2", "-J", "x"})
	o.Override(cmdline)
	s, err := Build(o, nil, bsubScript, Submitter{Cwd: "/work", Environ: []string{"PATH=/bin", "LSB_JOBID=7"}, Host: "login1", Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	sp := s.Spec
	if sp.Cores != 2 || sp.Name != "x" || sp.Queue != "short" || len(s.Queues) != 2 || sp.MemoryBytes != 2<<30 ||
		sp.Resources != "rusage[mem=2GB] span[hosts=1]" || sp.SubmitHost != "login1" || sp.Command[3] != ScriptMarker {
		t.Fatalf("spec %+v", sp)
	}
	for _, kv := range sp.Env {
		if strings.HasPrefix(kv, "LSB_JOBID") {
			t.Errorf("inherited %s", kv)
		}
	}
	if _, _, err := ScriptOptions("#BSUB -n\n", time.Now()); err == nil {
		t.Error("#BSUB -n without value accepted")
	}
	if _, _, err := ScriptOptions("#BSUB -n 1 extra\n", time.Now()); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("stray word: %v", err)
	}
}

func TestBuildGang(t *testing.T) {
	for _, tt := range []struct {
		args                            []string
		nodes, perNode, tasks, cores, g int
	}{
		{[]string{"-n", "16", "-R", "span[ptile=4]"}, 4, 4, 16, 4, 0},
		{[]string{"-n", "10", "-R", "span[ptile=4]"}, 3, 4, 10, 4, 0},
		{[]string{"-n", "8", "-R", "span[ptile=4]", "-gpu", "num=1/task"}, 2, 4, 8, 4, 4},
		{[]string{"-n", "8", "-R", "span[ptile=4]", "-gpu", "num=2"}, 2, 4, 8, 4, 2},
		{[]string{"-n", "4", "-R", "span[ptile=4]"}, 0, 0, 0, 4, 0},
	} {
		o, _, err := ParseBsubArgs(append(tt.args, "hostname"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Build(o, []string{"hostname"}, "", Submitter{Cwd: "/work", Now: time.Now()})
		if err != nil {
			t.Fatalf("%v: %v", tt.args, err)
		}
		sp := s.Spec
		if sp.Nodes != tt.nodes || sp.TasksPerNode != tt.perNode || sp.Tasks != tt.tasks || sp.Cores != tt.cores || sp.NumGPUs != tt.g {
			t.Errorf("%v: nodes %d, tasks per node %d, tasks %d, cores %d, gpus %d", tt.args, sp.Nodes, sp.TasksPerNode, sp.Tasks, sp.Cores, sp.NumGPUs)
		}
	}
}

func TestGangJobEnv(t *testing.T) {
	j := api.Job{ID: 5, Node: "a1", User: "ann", Spec: api.JobSpec{Nodes: 3, TasksPerNode: 2, Tasks: 5, Cwd: "/w"},
		Parts: []api.JobPart{{Rank: 0, Node: "a1", CPUs: []int{0, 1}}, {Rank: 1, Node: "a2", CPUs: []int{0, 1}}, {Rank: 2, Node: "b7", CPUs: []int{4, 5}}}}
	env := "\n" + strings.Join(JobEnv(j, 2, nil), "\n") + "\n"
	for _, want := range []string{"LSB_HOSTS=a1 a1 a2 a2 b7", "LSB_MCPU_HOSTS=a1 2 a2 2 b7 1", "LSB_DJOB_NUMPROC=5",
		"SLURM_JOB_NODELIST=a[1-2],b7", "SLURM_JOB_NUM_NODES=3", "SLURM_NODEID=2", "SLURM_PROCID=4", "SLURM_NTASKS=5", "SLURM_NTASKS_PER_NODE=1", "SLURM_CPUS_ON_NODE=2"} {
		if !strings.Contains(env, "\n"+want+"\n") {
			t.Errorf("missing %s in%s", want, env)
		}
	}
}

const sbatchScript = `#!/bin/bash
#SBATCH --job-name=sim
#SBATCH -N 1 -n 2 -c 2
#SBATCH --mem=3G
#SBATCH --gres=gpu:a100:2
#SBATCH -t 1-02:30:00
#SBATCH --array=0-9%2
#SBATCH -o logs/%x-%A_%a.out
#SBATCH -p short,long
#SBATCH --dependency=afterok:5:6
#SBATCH --exclusive
#SBATCH --mail-type=END
srun hostname
`

func TestSbatch(t *testing.T) {
	o, warns, err := ScriptOptions(sbatchScript, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := "-J sim[0-9]%2 -M 3145728K -R span[hosts=1] -W 95400s -gpu num=2/host:gmodel=a100 -n 4 -oo logs/sim-%J_%I.out -q short long -w done(5) && done(6) -x"
	if got := strings.Join(o.Args(), " "); got != want {
		t.Fatalf("translated\n %q\nwant\n %q", got, want)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "mail-type") {
		t.Errorf("warnings %q", warns)
	}
	for in, want := range map[string]time.Duration{"30": 30 * time.Minute, "2:30": 150 * time.Second, "1:00:00": time.Hour, "2-0": 48 * time.Hour, "1-1:1": 25*time.Hour + time.Minute} {
		if d, err := SlurmTime(in); err != nil || d != want {
			t.Errorf("SlurmTime(%q) = %v, %v; want %v", in, d, err, want)
		}
	}
	for _, bad := range []string{"--gres=nic:1", "--frobnicate", "-t abc", "--dependency=singleton", "--array=a-b", "-o %N"} {
		if _, _, err := TranslateSbatch(strings.Fields(bad), time.Now()); err == nil {
			t.Errorf("TranslateSbatch(%q) succeeded", bad)
		}
	}
}

func TestHostlist(t *testing.T) {
	if got := Hostlist([]string{"n3", "n1", "n2", "n7", "login", "gpu01", "gpu02"}); got != "login,n[1-3,7],gpu[01-02]" {
		t.Fatalf("Hostlist = %q", got)
	}
}

func TestJobEnv(t *testing.T) {
	j := api.Job{ID: 12, ArrayID: 10, ArrayIndex: 3, Node: "n1", CPUs: []int{0, 1, 2, 3}, User: "ann",
		Spec: api.JobSpec{Name: "sweep", Queue: "normal", Cwd: "/w", SubmitHost: "login", Env: []string{"SLURM_CPUS_PER_TASK=2"}}}
	env := strings.Join(WithJobEnv([]string{"LSB_JOBID=1", "A=b"}, j, 0, []int{0, 1}), "\n")
	for _, want := range []string{"A=b", "LSB_JOBID=10", "LSB_JOBINDEX=3", "LSB_JOBNAME=sweep[3]", "LSB_HOSTS=n1 n1 n1 n1", "LSB_MCPU_HOSTS=n1 4",
		"SLURM_JOB_ID=12", "SLURM_ARRAY_JOB_ID=10", "SLURM_ARRAY_TASK_ID=3", "SLURM_NTASKS=2", "SLURM_CPUS_PER_TASK=2", "SLURM_JOB_GPUS=0,1", "LSB_SUB_HOST=login"} {
		if !strings.Contains("\n"+env+"\n", "\n"+want+"\n") {
			t.Errorf("missing %s in\n%s", want, env)
		}
	}
	if strings.Count(env, "LSB_JOBID=") != 1 {
		t.Error("inherited LSB_JOBID kept")
	}
}

// The fuzz tests: no input panics, every error names its input, and what
// parses renders canonically and reparses to the same text.

func FuzzResReq(f *testing.F) {
	for _, s := range []string{"select[mem>4000 && type==X86_64] rusage[mem=4GB:duration=10] span[hosts=1]", "mem>1 order[-slots]", "span[ptile='!'] same[type]", "select[!(a||b)]", "rusage[mem=1 || mem=2, swp=3]", "select[\"x\"==y]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseResReq(s)
		if err != nil {
			if len(s) <= maxResReq && !strings.Contains(err.Error(), fmt.Sprintf("%q", s)) {
				t.Fatalf("error %q does not name %q", err, s)
			}
			return
		}
		c := r.String()
		r2, err := ParseResReq(c)
		if err != nil {
			t.Fatalf("canonical %q of %q does not parse: %v", c, s, err)
		}
		if r2.String() != c {
			t.Fatalf("canonical %q reparses as %q", c, r2.String())
		}
	})
}

func FuzzGPU(f *testing.F) {
	for _, s := range []string{"num=2/task:mode=exclusive_process:gmodel=TeslaA100:gmem=16G:j_exclusive=yes", "-", "mps=yes,nocvd", "mig=3/1:gtile=!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGPU(s)
		if err != nil {
			if len(s) < 1024 && !strings.Contains(err.Error(), "bad GPU requirement") {
				t.Fatalf("error %q", err)
			}
			return
		}
		c := g.String()
		g2, err := ParseGPU(c)
		if err != nil || g2.String() != c {
			t.Fatalf("canonical %q of %q: %v", c, s, err)
		}
	})
}

func FuzzJobName(f *testing.F) {
	for _, s := range []string{"a[1-100:2,200]%10", "x", "[1]", "a[5-9:3]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, arr, th, err := ParseJobName(s)
		if err != nil {
			if len(s) < 4096 && !strings.Contains(err.Error(), "bad job name or array") {
				t.Fatalf("error %q", err)
			}
			return
		}
		if arr == nil {
			return
		}
		if arr.Count() < 1 || arr.Count() > MaxArrayElements {
			t.Fatalf("%q: %d elements", s, arr.Count())
		}
		c := name + "[" + arr.String() + "]"
		if th > 0 {
			c += "%" + strings.TrimLeft(strings.SplitN(s, "%", 2)[1], "0")
		}
		_, arr2, _, err := ParseJobName(c)
		if err != nil || arr2.String() != arr.String() || arr2.Count() != arr.Count() {
			t.Fatalf("canonical %q of %q: %v", c, s, err)
		}
		if _, err := api.ParseArray(arr.String()); err != nil {
			t.Fatalf("server rejects canonical array %q: %v", arr.String(), err)
		}
	})
}

func FuzzDirectives(f *testing.F) {
	f.Add(bsubScript)
	f.Add(sbatchScript)
	f.Add("#BSUB -J 'a b' -R \"select[x]\"\n#SBATCH --time=5\n")
	f.Fuzz(func(t *testing.T, s string) {
		o, _, err := ScriptOptions(s, time.Unix(1e9, 0))
		if err != nil {
			return
		}
		// What the directives give, bsub must take back on its command line.
		o2, rest, err := ParseBsubArgs(o.Args())
		if err != nil || len(rest) > 0 {
			t.Fatalf("options %q do not reparse: %v %q", o.Args(), err, rest)
		}
		if strings.Join(o2.Args(), "\x00") != strings.Join(o.Args(), "\x00") {
			t.Fatalf("options %q reparse as %q", o.Args(), o2.Args())
		}
	})
}

func TestBuildReservation(t *testing.T) {
	for _, tt := range []struct {
		arg  string
		want int64
		bad  bool
	}{{"3", 3, false}, {"rsv12", 12, false}, {"x", 0, true}, {"0", 0, true}} {
		o, _, err := ParseBsubArgs([]string{"-U", tt.arg, "true"})
		if err != nil {
			t.Fatal(err)
		}
		s, err := Build(o, []string{"true"}, "", Submitter{Cwd: "/work", Now: time.Now()})
		switch {
		case tt.bad && (err == nil || !strings.Contains(err.Error(), tt.arg)):
			t.Errorf("-U %s: %v, want an error naming it", tt.arg, err)
		case !tt.bad && (err != nil || s.Spec.Reservation != tt.want):
			t.Errorf("-U %s: %v, %+v", tt.arg, err, s)
		}
	}
}

func TestSelectLabels(t *testing.T) {
	for in, want := range map[string]string{
		"select[kind==gpu]":                             "kind=gpu",
		"select[defined(ib) && kind==\"a100\"]":         "ib kind=a100",
		"select[type==X86_64 && mem>4000 && rack==r12]": "rack=r12",
		"select[ib || gpu]":                             "",
		"select[!ib]":                                   "",
		"fast && defined(nvme)":                         "fast nvme",
	} {
		r, err := ParseResReq(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := strings.Join(Labels(r.Select), " "); got != want {
			t.Errorf("Labels(%s) = %q, want %q", in, got, want)
		}
	}
}

func TestSbatchReservationAndImage(t *testing.T) {
	o, _, err := TranslateSbatch([]string{"--reservation=7", "--container-image=python:3.12"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	s, err := Build(o, []string{"true"}, "", Submitter{Cwd: "/work", Now: time.Now()})
	if err != nil || s.Spec.Reservation != 7 || s.Spec.Image != "python:3.12" {
		t.Fatalf("spec %+v, %v", s, err)
	}
}
