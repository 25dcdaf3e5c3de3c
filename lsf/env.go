package lsf

import (
	"sort"
	"strconv"
	"strings"

	"github.com/gantry-hpc/gantry/api"
)

// JobEnv returns the LSF and Slurm variables a placed job sees, so that
// scripts written for either run unchanged: LSB_JOBID, LSB_JOBINDEX,
// LSB_JOBNAME, LSB_QUEUE, LSB_HOSTS, LSB_MCPU_HOSTS, LSB_DJOB_NUMPROC,
// LS_SUBCWD, LSB_SUB_HOST and SLURM_JOB_ID, SLURM_ARRAY_JOB_ID,
// SLURM_ARRAY_TASK_ID, SLURM_JOB_NODELIST, SLURM_JOB_NUM_NODES,
// SLURM_NTASKS, SLURM_CPUS_PER_TASK, SLURM_SUBMIT_DIR, SLURM_NODEID,
// SLURM_PROCID, SLURM_JOB_GPUS and a few more. gpus are the node-local
// GPU indices of the part. A gang (j.Parts) lists every node, and rank
// says which part these variables are for; a single-node job's node list
// is its node and rank is 0.
func JobEnv(j api.Job, rank int, gpus []int) []string {
	id := j.ID
	index := int64(0)
	if j.ArrayID != 0 {
		id, index = j.ArrayID, j.ArrayIndex
	}
	name := j.Spec.Name
	if name == "" {
		name = DisplayCommand(j.Spec.Command)
	}
	lsbName := name
	if j.ArrayID != 0 {
		lsbName = name + "[" + strconv.FormatInt(index, 10) + "]"
	}
	itoa := strconv.Itoa
	// Slots per node: a single-node job's CPUs; a gang's tasks.
	type host struct {
		name  string
		slots int
	}
	var hosts []host
	cpus := len(j.CPUs)
	if len(j.Parts) > 1 {
		for _, p := range j.Parts {
			hosts = append(hosts, host{p.Node, j.Spec.TasksOnRank(p.Rank)})
			if p.Rank == rank {
				cpus = len(p.CPUs)
			}
		}
	} else {
		slots := len(j.CPUs)
		if slots == 0 {
			slots = max(j.Spec.Cores, 1)
		}
		hosts = []host{{j.Node, slots}}
		rank = 0
	}
	if cpus == 0 {
		cpus = max(j.Spec.Cores, 1)
	}
	var each, mcpu, names []string
	total := 0
	for _, h := range hosts {
		for range h.slots {
			each = append(each, h.name)
		}
		mcpu = append(mcpu, h.name, itoa(h.slots))
		names = append(names, h.name)
		total += h.slots
	}
	cpt := 1
	if v := envValue(j.Spec.Env, "SLURM_CPUS_PER_TASK"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			cpt = n
		}
	}
	ntasks, firstTask, nodeTasks := max(total/cpt, 1), 0, max(cpus/cpt, 1)
	if len(hosts) > 1 {
		ntasks, firstTask, nodeTasks = total, rank*j.Spec.NodeTasks(), hosts[rank].slots
	}
	submitHost := j.Spec.SubmitHost
	env := []string{
		"LSB_JOBID=" + strconv.FormatInt(id, 10),
		"LSB_JOBINDEX=" + strconv.FormatInt(index, 10),
		"LSB_JOBNAME=" + lsbName,
		"LSB_QUEUE=" + j.Spec.Queue,
		"LSB_HOSTS=" + strings.Join(each, " "),
		"LSB_MCPU_HOSTS=" + strings.Join(mcpu, " "),
		"LSB_DJOB_NUMPROC=" + itoa(total),
		"LSB_MAX_NUM_PROCESSORS=" + itoa(total),
		"LS_SUBCWD=" + j.Spec.Cwd,
		"LSB_SUB_HOST=" + submitHost,
		"LSB_JOBEXIT_STAT=0",
		"SLURM_JOB_ID=" + strconv.FormatInt(j.ID, 10),
		"SLURM_JOBID=" + strconv.FormatInt(j.ID, 10),
		"SLURM_JOB_NAME=" + name,
		"SLURM_JOB_PARTITION=" + j.Spec.Queue,
		"SLURM_JOB_NODELIST=" + Hostlist(names),
		"SLURM_NODELIST=" + Hostlist(names),
		"SLURM_JOB_NUM_NODES=" + itoa(len(hosts)),
		"SLURM_NNODES=" + itoa(len(hosts)),
		"SLURM_NTASKS=" + itoa(ntasks),
		"SLURM_NPROCS=" + itoa(ntasks),
		"SLURM_NTASKS_PER_NODE=" + itoa(nodeTasks),
		"SLURM_CPUS_ON_NODE=" + itoa(cpus),
		"SLURM_JOB_CPUS_PER_NODE=" + itoa(cpus),
		"SLURM_SUBMIT_DIR=" + j.Spec.Cwd,
		"SLURM_SUBMIT_HOST=" + submitHost,
		"SLURM_NODEID=" + itoa(rank),
		"SLURM_PROCID=" + itoa(firstTask),
		"SLURM_LOCALID=0",
		"SLURM_JOB_USER=" + j.User,
		"SLURM_JOB_UID=" + strconv.FormatUint(uint64(j.UID), 10),
		"SLURM_CLUSTER_NAME=gantry",
	}
	if cpt > 1 || envValue(j.Spec.Env, "SLURM_CPUS_PER_TASK") != "" {
		env = append(env, "SLURM_CPUS_PER_TASK="+itoa(cpt))
	}
	if j.Attempt > 1 {
		env = append(env, "LSB_RESTART=Y", "SLURM_RESTART_COUNT="+itoa(j.Attempt-1))
	}
	if j.ArrayID != 0 {
		env = append(env,
			"SLURM_ARRAY_JOB_ID="+strconv.FormatInt(j.ArrayID, 10),
			"SLURM_ARRAY_TASK_ID="+strconv.FormatInt(j.ArrayIndex, 10))
	}
	if len(gpus) > 0 {
		ids := make([]string, len(gpus))
		for i, g := range gpus {
			ids[i] = itoa(g)
		}
		env = append(env, "SLURM_JOB_GPUS="+strings.Join(ids, ","), "SLURM_GPUS_ON_NODE="+itoa(len(gpus)))
	}
	return env
}

// WithJobEnv returns base with the job variables of JobEnv and extra
// (KEY=VALUE) set: copies of them already in base (inherited from a
// submitting job) are replaced.
func WithJobEnv(base []string, j api.Job, rank int, gpus []int, extra ...string) []string {
	add := append(JobEnv(j, rank, gpus), extra...)
	set := map[string]bool{}
	for _, kv := range add {
		k, _, _ := strings.Cut(kv, "=")
		set[k] = true
	}
	out := make([]string, 0, len(base)+len(add))
	for _, kv := range base {
		if k, _, _ := strings.Cut(kv, "="); !set[k] {
			out = append(out, kv)
		}
	}
	return append(out, add...)
}

func envValue(env []string, key string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v
		}
	}
	return ""
}

// Hostlist compresses host names in Slurm's hostlist form: node1, node2,
// node3 and node7 become "node[1-3,7]". Names keep their order of first
// appearance by prefix; numeric suffixes keep their zero padding.
func Hostlist(hosts []string) string {
	type group struct {
		prefix string
		width  int
		nums   []int
	}
	var groups []*group
	var plain []string
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		i := len(h)
		for i > 0 && h[i-1] >= '0' && h[i-1] <= '9' {
			i--
		}
		if i == len(h) || len(h)-i > 9 {
			plain = append(plain, h)
			continue
		}
		n, _ := strconv.Atoi(h[i:])
		width := 0
		if h[i] == '0' && len(h)-i > 1 {
			width = len(h) - i
		}
		var g *group
		for _, x := range groups {
			if x.prefix == h[:i] && x.width == width {
				g = x
			}
		}
		if g == nil {
			g = &group{prefix: h[:i], width: width}
			groups = append(groups, g)
		}
		g.nums = append(g.nums, n)
	}
	var parts []string
	parts = append(parts, plain...)
	for _, g := range groups {
		nums := append([]int(nil), g.nums...)
		sort.Ints(nums)
		pad := func(n int) string {
			s := strconv.Itoa(n)
			for len(s) < g.width {
				s = "0" + s
			}
			return s
		}
		if len(nums) == 1 {
			parts = append(parts, g.prefix+pad(nums[0]))
			continue
		}
		var rs []string
		for i := 0; i < len(nums); {
			j := i
			for j+1 < len(nums) && nums[j+1] == nums[j]+1 {
				j++
			}
			if i == j {
				rs = append(rs, pad(nums[i]))
			} else {
				rs = append(rs, pad(nums[i])+"-"+pad(nums[j]))
			}
			i = j + 1
		}
		parts = append(parts, g.prefix+"["+strings.Join(rs, ",")+"]")
	}
	return strings.Join(parts, ",")
}
