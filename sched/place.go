package sched

import (
	"cmp"
	"math"
	"slices"
)

// Placement inside a node: which GPUs and which CPU ids a job gets. It
// runs only for the jobs that start now, on their nodes' free ids.
//
// GPUs: among the free GPUs of the requested kind, the set that (1)
// joins the most pairs by NVLink, then (2) has the most NVLinks in all,
// then (3) spans the fewest NUMA nodes, then (4) has the lowest indexes.
// Sets are enumerated exhaustively when there are at most maxGPUSets of
// them (any 8-GPU node), else built greedily from each seed GPU.
//
// CPUs: on a node without NUMA information, the lowest free ids. With
// it, CPUs on the chosen GPUs' NUMA nodes first; without GPUs, the
// smallest NUMA node that holds them all (best fit), else the NUMA nodes
// with the most free CPUs first; lowest ids within a NUMA node.

const maxGPUSets = 5000

// gpuTopo is a node's GPU topology by position in Node.GPUs.
type gpuTopo struct {
	links [][]int // NVLinks between positions
	numa  []int
}

func (ps *pass) topo(i int) *gpuTopo {
	st := &ps.nodes[i]
	if st.gtopo != nil {
		return st.gtopo
	}
	gs := st.node.GPUs
	t := &gpuTopo{links: make([][]int, len(gs)), numa: make([]int, len(gs))}
	pos := make(map[int]int, len(gs))
	for k, g := range gs {
		pos[g.Index] = k
	}
	for k, g := range gs {
		t.links[k] = make([]int, len(gs))
		t.numa[k] = g.NUMANode
		for _, l := range g.Links {
			if p, ok := pos[l.Peer]; ok && p != k {
				t.links[k][p] = max(t.links[k][p], l.NVLinks)
			}
		}
	}
	// Links are symmetric even where only one side reports them.
	for a := range gs {
		for b := range gs {
			t.links[a][b] = max(t.links[a][b], t.links[b][a])
		}
	}
	st.gtopo = t
	return t
}

// gpuScore ranks a GPU set; greater is better.
type gpuScore struct {
	pairs, links, numas int
}

func (a gpuScore) better(b gpuScore) bool {
	if a.pairs != b.pairs {
		return a.pairs > b.pairs
	}
	if a.links != b.links {
		return a.links > b.links
	}
	return a.numas < b.numas
}

func score(t *gpuTopo, set []int) gpuScore {
	var s gpuScore
	var seen [8]int
	numas := seen[:0]
	for x, a := range set {
		for _, b := range set[x+1:] {
			if l := t.links[a][b]; l > 0 {
				s.pairs++
				s.links += l
			}
		}
		if !slices.Contains(numas, t.numa[a]) {
			numas = append(numas, t.numa[a])
		}
	}
	s.numas = len(numas)
	return s
}

// pickGPUs takes n of node i's free GPUs of j's kind and returns their
// Index values, ascending.
func (ps *pass) pickGPUs(i int, j *Job, n int, all bool) []int {
	st := &ps.nodes[i]
	if n <= 0 {
		return nil
	}
	var cand []int // positions
	for _, k := range st.gpus {
		if all || gpuMatches(j, &st.node.GPUs[k]) {
			cand = append(cand, k)
		}
	}
	var chosen []int
	switch {
	case len(cand) <= n:
		chosen = cand
	default:
		t := ps.topo(i)
		if binom(len(cand), n) <= maxGPUSets {
			chosen = bestSubset(t, cand, n)
		} else {
			chosen = greedySubset(t, cand, n)
		}
	}
	// Take them off the free list.
	st.gpus = slices.DeleteFunc(st.gpus, func(k int) bool { return slices.Contains(chosen, k) })
	out := make([]int, len(chosen))
	for x, k := range chosen {
		out[x] = st.node.GPUs[k].Index
	}
	slices.Sort(out)
	return out
}

func binom(n, k int) int {
	r := 1
	for x := range k {
		r = r * (n - x) / (x + 1)
		if r > maxGPUSets {
			return r
		}
	}
	return r
}

// bestSubset enumerates the n-subsets of cand in lexicographic order and
// keeps the first with the best score.
func bestSubset(t *gpuTopo, cand []int, n int) []int {
	idx := make([]int, n)
	for x := range idx {
		idx[x] = x
	}
	set := make([]int, n)
	var best []int
	var bestS gpuScore
	for {
		for x, v := range idx {
			set[x] = cand[v]
		}
		if s := score(t, set); best == nil || s.better(bestS) {
			best, bestS = slices.Clone(set), s
		}
		x := n - 1
		for x >= 0 && idx[x] == len(cand)-n+x {
			x--
		}
		if x < 0 {
			return best
		}
		idx[x]++
		for y := x + 1; y < n; y++ {
			idx[y] = idx[y-1] + 1
		}
	}
}

// greedySubset grows a set from each seed, adding the GPU with the most
// NVLinks to the set (ties: same NUMA node as the seed, then lowest
// position), and keeps the best set.
func greedySubset(t *gpuTopo, cand []int, n int) []int {
	var best []int
	var bestS gpuScore
	for _, seed := range cand {
		set := []int{seed}
		for len(set) < n {
			pick, pickL, pickN := -1, -1, false
			for _, c := range cand {
				if slices.Contains(set, c) {
					continue
				}
				l := 0
				for _, s := range set {
					l += t.links[s][c]
				}
				same := t.numa[c] == t.numa[seed]
				if l > pickL || l == pickL && same && !pickN {
					pick, pickL, pickN = c, l, same
				}
			}
			set = append(set, pick)
		}
		slices.Sort(set)
		if s := score(t, set); best == nil || s.better(bestS) {
			best, bestS = set, s
		}
	}
	return best
}

// pickCPUs takes n of node i's free CPU ids (see the rules above), near
// the NUMA nodes of gpus (Index values) if any, and returns them
// ascending.
func (ps *pass) pickCPUs(i int, n int, gpus []int) []int {
	st := &ps.nodes[i]
	n = min(n, len(st.ids))
	if len(st.node.NUMA) == 0 {
		out := slices.Clone(st.ids[:n])
		st.ids = st.ids[n:]
		return out
	}
	numa := st.numaLookup()
	// The free CPUs by NUMA node (few: a slice, not a map), by id.
	type group struct{ id, free int }
	var buf [8]group
	groups := buf[:0]
	for _, c := range st.ids {
		id := numa(c)
		k := slices.IndexFunc(groups, func(g group) bool { return g.id == id })
		if k < 0 {
			k = len(groups)
			groups = append(groups, group{id: id})
		}
		groups[k].free++
	}
	slices.SortFunc(groups, func(a, b group) int { return cmp.Compare(a.id, b.id) })
	var want []int // NUMA nodes of the GPUs
	for _, g := range gpus {
		for _, d := range st.node.GPUs {
			if d.Index == g && d.NUMANode >= 0 && !slices.Contains(want, d.NUMANode) {
				want = append(want, d.NUMANode)
			}
		}
	}
	if len(want) == 0 {
		fit := -1
		for k, g := range groups {
			// CPUs in no NUMA node (id -1) are no NUMA node to fit in.
			if g.id >= 0 && g.free >= n && (fit < 0 || g.free < groups[fit].free) {
				fit = k
			}
		}
		if fit >= 0 {
			want = []int{groups[fit].id}
		}
	}
	// The NUMA nodes in the order they are taken from: the GPUs' (or the
	// best fit) first, then the others, most free first.
	slices.SortStableFunc(groups, func(a, b group) int { return cmp.Compare(b.free, a.free) })
	order := make([]int, 0, len(groups))
	for _, id := range want {
		if slices.ContainsFunc(groups, func(g group) bool { return g.id == id }) {
			order = append(order, id)
		}
	}
	for _, g := range groups {
		if !slices.Contains(want, g.id) {
			order = append(order, g.id)
		}
	}
	out := make([]int, 0, n)
	for _, id := range order {
		for _, c := range st.ids {
			if len(out) == n {
				break
			}
			if numa(c) == id {
				out = append(out, c)
			}
		}
	}
	slices.Sort(out)
	st.ids = slices.DeleteFunc(st.ids, func(c int) bool {
		_, taken := slices.BinarySearch(out, c)
		return taken
	})
	return out
}

// numaLookup returns the NUMA node id of a CPU id of the node (-1: in
// none), from a table over the node's CPU id range built on first use (a
// map if the ids are spread too far for a table).
func (st *nodeState) numaLookup() func(c int) int {
	if st.numaOf == nil && st.numaMap == nil {
		lo, hi := math.MaxInt, math.MinInt
		for _, nn := range st.node.NUMA {
			for _, c := range nn.CPUs {
				lo, hi = min(lo, c), max(hi, c)
			}
		}
		if hi >= lo && hi-lo > 1<<16 {
			st.numaMap = map[int]int{}
			for _, nn := range st.node.NUMA {
				for _, c := range nn.CPUs {
					st.numaMap[c] = nn.ID
				}
			}
		}
		if hi < lo || st.numaMap != nil {
			lo, hi = 0, -1
		}
		st.numaBase = lo
		st.numaOf = make([]int32, hi-lo+1)
		for k := range st.numaOf {
			st.numaOf[k] = -1
		}
		for _, nn := range st.node.NUMA {
			for _, c := range nn.CPUs {
				st.numaOf[c-lo] = int32(nn.ID)
			}
		}
	}
	return func(c int) int {
		if k := c - st.numaBase; k >= 0 && k < len(st.numaOf) {
			return int(st.numaOf[k])
		}
		if id, ok := st.numaMap[c]; ok {
			return id
		}
		return -1
	}
}
