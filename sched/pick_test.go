package sched

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestPickCPUsAsBefore checks the NUMA-aware choice of CPU ids against
// its first version (refPickCPUs, kept here: maps where pickCPUs now
// uses small slices and a table), on random nodes: NUMA nodes of random
// sizes and ids, CPUs in none, far-apart ids, GPUs on NUMA nodes, random
// free ids, requests and GPU sets, several picks in a row.
func TestPickCPUsAsBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for round := range 3000 {
		var n Node
		next := rng.IntN(4)
		if rng.IntN(20) == 0 {
			next = 1 << 20 // far apart: the map, not the table
		}
		for id := range 1 + rng.IntN(5) {
			nn := NUMANode{ID: id * (1 + rng.IntN(3))}
			for range 1 + rng.IntN(16) {
				nn.CPUs = append(nn.CPUs, next)
				next += 1 + rng.IntN(2)
			}
			n.NUMA = append(n.NUMA, nn)
			n.CPUs = append(n.CPUs, nn.CPUs...)
		}
		for range rng.IntN(3) { // in no NUMA node
			n.CPUs = append(n.CPUs, next)
			next++
		}
		for k := range rng.IntN(5) {
			n.GPUs = append(n.GPUs, GPU{Index: k, NUMANode: n.NUMA[rng.IntN(len(n.NUMA))].ID - rng.IntN(2)*100})
		}
		var free []int
		for _, c := range n.CPUs {
			if rng.IntN(3) > 0 {
				free = append(free, c)
			}
		}
		slices.Sort(free)
		a := &pass{nodes: []nodeState{{node: &n, ids: slices.Clone(free)}}}
		b := &pass{nodes: []nodeState{{node: &n, ids: slices.Clone(free)}}}
		for pick := range 3 {
			want := 1 + rng.IntN(len(n.CPUs))
			var gpus []int
			for _, g := range n.GPUs {
				if rng.IntN(3) == 0 {
					gpus = append(gpus, g.Index)
				}
			}
			got, exp := a.pickCPUs(0, want, gpus), b.refPickCPUs(0, want, gpus)
			if !slices.Equal(got, exp) || !slices.Equal(a.nodes[0].ids, b.nodes[0].ids) {
				t.Fatalf("round %d pick %d: %d CPUs near GPUs %v of %+v from %v: got %v (left %v), before %v (left %v)",
					round, pick, want, gpus, n.NUMA, free, got, a.nodes[0].ids, exp, b.nodes[0].ids)
			}
		}
	}
}

func (ps *pass) refPickCPUs(i int, n int, gpus []int) []int {
	st := &ps.nodes[i]
	n = min(n, len(st.ids))
	if len(st.node.NUMA) == 0 {
		out := slices.Clone(st.ids[:n])
		st.ids = st.ids[n:]
		return out
	}
	numaOf := make(map[int]int, len(st.ids))
	for _, nn := range st.node.NUMA {
		for _, c := range nn.CPUs {
			numaOf[c] = nn.ID
		}
	}
	numa := func(c int) int {
		if v, ok := numaOf[c]; ok {
			return v
		}
		return -1
	}
	free := map[int]int{}
	for _, c := range st.ids {
		free[numa(c)]++
	}
	var want []int // NUMA nodes of the GPUs
	for _, g := range gpus {
		for _, d := range st.node.GPUs {
			if d.Index == g && d.NUMANode >= 0 && !slices.Contains(want, d.NUMANode) {
				want = append(want, d.NUMANode)
			}
		}
	}
	rank := map[int]int{} // lower is taken first
	ids := slices.Sorted(func(yield func(int) bool) {
		for k := range free {
			if !yield(k) {
				return
			}
		}
	})
	if len(want) == 0 {
		fit := -1
		for _, k := range ids {
			if free[k] >= n && (fit < 0 || free[k] < free[fit]) {
				fit = k
			}
		}
		if fit >= 0 {
			want = []int{fit}
		}
	}
	slices.SortStableFunc(ids, func(a, b int) int { return cmp.Compare(free[b], free[a]) })
	for r, k := range ids {
		rank[k] = len(want) + r
	}
	for r, k := range want {
		rank[k] = r
	}
	order := slices.Clone(st.ids)
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(rank[numa(a)], rank[numa(b)]) })
	out := order[:n]
	slices.Sort(out)
	st.ids = slices.DeleteFunc(st.ids, func(c int) bool {
		_, taken := slices.BinarySearch(out, c)
		return taken
	})
	return slices.Clip(out)
}

// TestPickAsBefore checks a gang's choice of nodes (pick) against its
// first version (refPick, kept here: a map of topology labels and a
// slice per group, where pick now uses the pass's group numbers and
// scratch), on random clusters: weights, switches and racks (or
// neither), random candidates in random order, and gangs of every size.
func TestPickAsBefore(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 11))
	for round := range 2000 {
		var snap Snapshot
		for i := range 1 + rng.IntN(40) {
			n := Node{Name: "n" + itoa(int64(i)), Weight: rng.IntN(3), CPUs: []int{0}, MemoryBytes: 1 << 30}
			switch rng.IntN(4) {
			case 0:
				n.Switch = "s" + itoa(int64(rng.IntN(5)))
			case 1:
				n.Rack = "r" + itoa(int64(rng.IntN(3)))
			case 2:
				n.Switch, n.Rack = "s"+itoa(int64(rng.IntN(5))), "r"+itoa(int64(rng.IntN(3)))
			}
			snap.Nodes = append(snap.Nodes, n)
		}
		ps := newPass(&snap)
		for range 5 {
			cands := rng.Perm(len(snap.Nodes))[:1+rng.IntN(len(snap.Nodes))]
			m := 1 + rng.IntN(len(cands))
			want := ps.refPick(slices.Clone(cands), m)
			if got := ps.pick(slices.Clone(cands), m); !slices.Equal(got, want) {
				t.Fatalf("round %d: pick(%v, %d) = %v, before %v", round, cands, m, got, want)
			}
		}
	}
}

// refPick is pick's first version (its grouping; the cheapest weight
// levels it keeps are cheapest's, as then).
func (ps *pass) refPick(cands []int, m int) []int {
	cands = ps.cheapest(cands, m) // unchanged since
	type group struct {
		key   string
		nodes []int
	}
	var groups []group
	at := map[string]int{}
	for _, i := range cands {
		k := topoLabel(ps.nodes[i].node)
		gi, ok := at[k]
		if !ok {
			gi = len(groups)
			at[k] = gi
			groups = append(groups, group{key: k})
		}
		groups[gi].nodes = append(groups[gi].nodes, i)
	}
	if len(groups) == 1 {
		return slices.Clone(groups[0].nodes[:m])
	}
	bestFit := -1
	for gi := range groups {
		if len(groups[gi].nodes) >= m && (bestFit < 0 || len(groups[gi].nodes) < len(groups[bestFit].nodes)) {
			bestFit = gi
		}
	}
	if bestFit >= 0 {
		return slices.Clone(groups[bestFit].nodes[:m])
	}
	slices.SortStableFunc(groups, func(a, b group) int { return cmp.Compare(len(b.nodes), len(a.nodes)) })
	out := make([]int, 0, m)
	for _, gr := range groups {
		out = append(out, gr.nodes[:min(len(gr.nodes), m-len(out))]...)
		if len(out) == m {
			break
		}
	}
	return out
}
