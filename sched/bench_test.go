package sched

import (
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"
)

// benchSnapshot is a busy cluster of 128 nodes of 64 CPUs (with ids) and
// 256 GiB each, mostly full of running jobs with walltimes up to a day,
// and a queue of pending jobs of 1 to 64 cores, up to 64 GiB, and
// walltimes from 10 minutes to two days.
func benchSnapshot(pending int, policy Policy) Snapshot {
	rng := rand.New(rand.NewPCG(42, uint64(pending)))
	snap := Snapshot{Now: t0, Policy: policy}
	var id int64
	for i := range 128 {
		n := Node{Name: fmt.Sprintf("node%03d", i), MemoryBytes: 256 << 30}
		for c := range 64 {
			n.CPUs = append(n.CPUs, c)
		}
		snap.Nodes = append(snap.Nodes, n)
		next := 0
		for next < 64 {
			c := min(1+rng.IntN(32), 64-next)
			if rng.IntN(10) == 0 { // leave some holes
				next += c
				continue
			}
			id++
			snap.Running = append(snap.Running, Allocation{
				Job: id, Node: n.Name, CPUs: n.CPUs[next : next+c], MemoryBytes: int64(1+rng.IntN(8)) << 30,
				Start: at(-rng.IntN(3600)), Walltime: sec(600 + rng.IntN(86400)),
			})
			next += c
		}
	}
	for k := range pending {
		snap.Pending = append(snap.Pending, &Job{
			ID: id + int64(k) + 1, Cores: int32(1 + rng.IntN(64)), MemoryBytes: int64(rng.IntN(64)) << 30,
			Walltime: sec(600 + rng.IntN(2*86400)),
		})
	}
	return snap
}

// worstSnapshot is EASY's costliest pass: every node is full for a day
// except the first, whose 32 free CPUs the head job (64 CPUs, in an hour)
// needs; every other pending job fits there now but runs past the shadow
// time, so each is checked against every node and the head's reservation
// and waits.
func worstSnapshot(pending int) Snapshot {
	rng := rand.New(rand.NewPCG(7, uint64(pending)))
	snap := Snapshot{Now: t0, Policy: EASY}
	for i := range 128 {
		n := Node{Name: fmt.Sprintf("node%03d", i), MemoryBytes: 256 << 30}
		for c := range 64 {
			n.CPUs = append(n.CPUs, c)
		}
		snap.Nodes = append(snap.Nodes, n)
		a := Allocation{Job: int64(i + 1), Node: n.Name, CPUs: n.CPUs, Start: at(0), Walltime: sec(86400)}
		if i == 0 {
			a.CPUs, a.Walltime = n.CPUs[:32], sec(3600)
		}
		snap.Running = append(snap.Running, a)
	}
	snap.Pending = append(snap.Pending, &Job{ID: 1000, Cores: 64, Walltime: sec(3600)})
	for k := range pending - 1 {
		snap.Pending = append(snap.Pending, &Job{ID: int64(1001 + k), Cores: int32(1 + rng.IntN(32)), Walltime: sec(7200 + rng.IntN(86400))})
	}
	return snap
}

// BenchmarkWorstEASY is worstSnapshot's pass.
func BenchmarkWorstEASY(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		for _, quiet := range []bool{false, true} {
			snap := worstSnapshot(n)
			snap.Quiet = quiet
			name := fmt.Sprintf("pending=%d", n)
			if quiet {
				name += "/quiet"
			}
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					Schedule(snap)
				}
			})
		}
	}
}

// BenchmarkPass is one whole scheduling pass that considers every pending
// job (no depth cap). B/job is the memory the pass allocates per pending
// job.
func BenchmarkPass(b *testing.B) {
	cases := []struct {
		policy  Policy
		pending []int
	}{
		{EASY, []int{1000, 10000, 20000, 100000}},
		{FCFS, []int{100000}},
		{Conservative, []int{1000, 10000}},
	}
	for _, c := range cases {
		for _, n := range c.pending {
			for _, quiet := range []bool{false, true} {
				snap := benchSnapshot(n, c.policy)
				snap.Quiet = quiet
				name := fmt.Sprintf("%v/pending=%d", c.policy, n)
				if quiet {
					name += "/quiet"
				}
				b.Run(name, func(b *testing.B) {
					b.ReportAllocs()
					var p Plan
					cpu0 := cpuTime()
					for b.Loop() {
						p = Schedule(snap)
					}
					b.StopTimer()
					// CPU time as well as wall time: on a shared machine
					// the wall time of one pass also counts others' work.
					b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
					b.ReportMetric(float64(len(p.Starts)), "starts")
					b.ReportMetric(float64(len(p.Reservations)), "reservations")
				})
			}
		}
	}
}

// heteroSnapshot is a heterogeneous cluster of nodes nodes: four CPU
// nodes (128 cores, 512 GiB, weight 1) for every 8-GPU node (64 cores,
// 1 TiB, 8 NVSwitch-linked H100 on two NUMA nodes, weight 10), on
// switches of 32, about 90% full of running jobs with walltimes up to a
// day; and pending jobs: 70% CPU jobs of 1-64 cores, 20% GPU jobs of 1-8
// GPUs with 8 cores per GPU, 10% gangs of 2-8 whole-node tasks (half of
// them GPU gangs), walltimes 10 min to 2 days.
func heteroSnapshot(pending, nodes int, policy Policy) Snapshot {
	rng := rand.New(rand.NewPCG(99, uint64(pending*7+nodes)))
	snap := Snapshot{Now: t0, Policy: policy}
	cpuIDs := make([]int, 128)
	for c := range cpuIDs {
		cpuIDs[c] = c
	}
	gpuNUMA := []NUMANode{{ID: 0, CPUs: cpuIDs[:32]}, {ID: 1, Socket: 1, CPUs: cpuIDs[32:64]}}
	cpuNUMA := []NUMANode{{ID: 0, CPUs: cpuIDs[:64]}, {ID: 1, Socket: 1, CPUs: cpuIDs[64:]}}
	gpus := make([]GPU, 8)
	for k := range gpus {
		gpus[k] = GPU{Index: k, Model: "NVIDIA H100 80GB HBM3", MemoryMiB: 81920, NUMANode: k / 4}
		for p := range 8 {
			if p != k {
				gpus[k].Links = append(gpus[k].Links, GPULink{Peer: p, NVLinks: 18})
			}
		}
	}
	var id int64
	for i := range nodes {
		n := Node{Name: fmt.Sprintf("node%05d", i), Switch: fmt.Sprintf("sw%03d", i/32)}
		if i%5 == 4 {
			n.CPUs, n.NUMA, n.MemoryBytes, n.GPUs, n.Weight = cpuIDs[:64], gpuNUMA, 1<<40, gpus, 10
		} else {
			n.CPUs, n.NUMA, n.MemoryBytes, n.Weight = cpuIDs, cpuNUMA, 512<<30, 1
		}
		snap.Nodes = append(snap.Nodes, n)
		next, g := 0, 0
		for next < len(n.CPUs) {
			c := min(1+rng.IntN(32), len(n.CPUs)-next)
			if rng.IntN(10) == 0 { // leave some holes
				next += c
				continue
			}
			id++
			a := Allocation{Job: id, Node: n.Name, CPUs: n.CPUs[next : next+c], MemoryBytes: int64(1+rng.IntN(8)) << 30,
				Start: at(-rng.IntN(3600)), Walltime: sec(600 + rng.IntN(86400))}
			if len(n.GPUs) > 0 && g < 8 {
				k := min(1+rng.IntN(4), 8-g)
				for x := range k {
					a.GPUs = append(a.GPUs, g+x)
				}
				g += k
			}
			snap.Running = append(snap.Running, a)
			next += c
		}
	}
	for k := range pending {
		j := &Job{ID: 1<<40 + int64(k), Walltime: sec(600 + rng.IntN(2*86400))}
		switch r := rng.IntN(10); {
		case r < 7:
			j.Cores, j.MemoryBytes = int32(1+rng.IntN(64)), int64(rng.IntN(64))<<30
		case r < 9:
			j.GPUs = int32(1 + rng.IntN(8))
			j.Cores = 8 * j.GPUs
		default:
			j.Nodes, j.Tasks = int32(2+rng.IntN(7)), 0
			if rng.IntN(2) == 0 {
				j.Cores, j.GPUs = 64, 8
			} else {
				j.Cores = 128
			}
		}
		snap.Pending = append(snap.Pending, j)
	}
	return snap
}

// BenchmarkHetero is one full pass (every pending job considered, with
// reasons) over jobs × nodes of heteroSnapshot: the scaling curve.
// SCHED_BENCH_BIG=1 adds the 100k × 10k case for conservative.
func BenchmarkHetero(b *testing.B) {
	for _, policy := range []Policy{EASY, Conservative} {
		for _, nodes := range []int{100, 1000, 10000} {
			for _, pending := range []int{1000, 10000, 100000} {
				if policy == Conservative && pending*nodes > 100_000_000 && os.Getenv("SCHED_BENCH_BIG") == "" {
					continue
				}
				snap := heteroSnapshot(pending, nodes, policy)
				b.Run(fmt.Sprintf("%v/nodes=%d/pending=%d", policy, nodes, pending), func(b *testing.B) {
					b.ReportAllocs()
					var p Plan
					cpu0 := cpuTime()
					for b.Loop() {
						p = Schedule(snap)
					}
					b.StopTimer()
					// CPU time as well as wall time: on a shared machine
					// the wall time of one pass also counts others' work.
					b.ReportMetric((cpuTime()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
					b.ReportMetric(float64(len(p.Starts)), "starts")
					b.ReportMetric(float64(len(p.Reservations)), "reservations")
				})
			}
		}
	}
}

// cpuTime is the CPU time this process has used (user and system).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
