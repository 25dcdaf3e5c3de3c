package sched

import (
	"cmp"
	"slices"
	"strings"
)

// Nodes are grouped into classes: nodes of one class have the same
// capacity, weight, features and GPU kinds, so that whether a job can
// ever use a node, and how much an exclusive job takes, is decided once
// per class instead of once per node. Each up class keeps a segment tree
// of its nodes' free-now vectors (component-wise maxima), so that the
// first node of a class on which a request fits now is found in
// O(log n) however full the cluster is.

// class is a set of interchangeable nodes.
type class struct {
	rep    int // a node of the class, for its attributes
	weight int
	cap    vec
	up     bool
	nodes  []int // node indexes, ascending (snapshot order)
	// mixed: the nodes' GPUs are not all of one model and memory, so a
	// GPU filter must look at each node's free GPUs.
	mixed bool
	tree  tree
	// idx orders the nodes' profile steps by time for Conservative's
	// earliest-fit searches; nil if the pass keeps none (see
	// buildStartIndexes).
	idx *startIndex
	// windowNow: some node of the class is in a window (maintenance,
	// drain deadline) now, for the reason a job that does not fit gets.
	windowNow bool
}

// sameClass is a quick test that b is in a's class: the same capacity,
// weight and state, and the very same GPU and feature slices (as nodes
// built from one template share them).
func sameClass(a, b *nodeState) bool {
	x, y := a.node, b.node
	same := func(p, q []GPU) bool { return len(p) == len(q) && (len(p) == 0 || &p[0] == &q[0]) }
	sameS := func(p, q []string) bool { return len(p) == len(q) && (len(p) == 0 || &p[0] == &q[0]) }
	return a.cap == b.cap && x.Weight == y.Weight && (x.State == NodeUp) == (y.State == NodeUp) &&
		same(x.GPUs, y.GPUs) && sameS(x.Features, y.Features)
}

// classKey is what makes two nodes interchangeable.
func classKey(n *Node, st *nodeState) string {
	var b strings.Builder
	for _, v := range st.cap {
		b.WriteString(itoa(v))
		b.WriteByte(',')
	}
	b.WriteString(itoa(int64(n.Weight)))
	if n.State != NodeUp {
		b.WriteString("|down")
	}
	b.WriteByte('|')
	fs := slices.Sorted(slices.Values(n.Features))
	b.WriteString(strings.Join(fs, "\x00"))
	b.WriteByte('|')
	for _, g := range n.GPUs {
		b.WriteString(g.Model)
		b.WriteByte('/')
		b.WriteString(itoa(g.MemoryMiB))
		b.WriteByte(',')
	}
	return b.String()
}

func itoa(v int64) string {
	var buf [20]byte
	i := len(buf)
	neg := v < 0
	if neg {
		v = -v
	}
	for {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}

// buildClasses groups the nodes, orders the up classes by weight (then
// first node), and builds their trees once the profiles exist.
func (ps *pass) buildClasses() {
	byKey := map[string]int{}
	var all []class
	prev := -1
	for i := range ps.nodes {
		st := &ps.nodes[i]
		if i > 0 && sameClass(&ps.nodes[i-1], st) {
			all[prev].nodes = append(all[prev].nodes, i)
			continue
		}
		key := classKey(st.node, st)
		c, ok := byKey[key]
		prev = c
		if !ok {
			prev = len(all)
		}
		if !ok {
			c = len(all)
			byKey[key] = c
			n := st.node
			cl := class{rep: i, weight: n.Weight, cap: st.cap, up: n.State == NodeUp}
			for _, g := range n.GPUs[min(1, len(n.GPUs)):] {
				if g.Model != n.GPUs[0].Model || g.MemoryMiB != n.GPUs[0].MemoryMiB {
					cl.mixed = true
				}
			}
			all = append(all, cl)
		}
		all[c].nodes = append(all[c].nodes, i)
	}
	slices.SortStableFunc(all, func(a, b class) int {
		if a.up != b.up {
			if a.up {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.weight, b.weight); c != 0 {
			return c
		}
		return cmp.Compare(a.rep, b.rep)
	})
	for c := range all {
		if !all[c].up {
			ps.down = append(ps.down, all[c])
			continue
		}
		for pos, i := range all[c].nodes {
			ps.nodes[i].class, ps.nodes[i].pos = len(ps.classes), pos
		}
		ps.classes = append(ps.classes, all[c])
	}
	for c := range ps.classes {
		cl := &ps.classes[c]
		cl.tree.init(len(cl.nodes))
		for pos, i := range cl.nodes {
			cl.tree.leaf(pos, &ps.nodes[i].prof.steps[0].free)
			for _, w := range ps.nodes[i].windows {
				cl.windowNow = cl.windowNow || w[0] == 0
			}
		}
		cl.tree.build()
	}
}

// touch refreshes node i's free-now vector in its class tree: call after
// anything that changes its profile's first step.
func (ps *pass) touch(i int) {
	st := &ps.nodes[i]
	if st.class < 0 {
		return
	}
	ps.classes[st.class].tree.set(st.pos, &st.prof.steps[0].free)
}

// tree is a segment tree of vectors: each inner entry is the component-
// wise maximum of its children, so a subtree that does not cover a
// request holds no node on which it fits.
type tree struct {
	n, size int
	max     []vec
}

func (t *tree) init(n int) {
	t.n, t.size = n, 1
	for t.size < n {
		t.size <<= 1
	}
	t.max = make([]vec, 2*t.size)
}

func (t *tree) leaf(pos int, v *vec) { t.max[t.size+pos] = *v }

func (t *tree) build() {
	for k := t.size - 1; k >= 1; k-- {
		t.pull(k)
	}
}

func (t *tree) pull(k int) {
	l, r := &t.max[2*k], &t.max[2*k+1]
	for c := range nres {
		t.max[k][c] = max(l[c], r[c])
	}
}

func (t *tree) set(pos int, v *vec) {
	k := t.size + pos
	t.max[k] = *v
	for k >>= 1; k >= 1; k >>= 1 {
		t.pull(k)
	}
}

// first returns the first position at or after from whose vector covers
// req, -1 if none.
func (t *tree) first(req *vec, from int) int {
	if from >= t.n || !t.max[1].covers(req) {
		return -1
	}
	return t.find(1, 0, t.size, req, from)
}

func (t *tree) find(k, lo, hi int, req *vec, from int) int {
	if hi <= from || !t.max[k].covers(req) {
		return -1
	}
	if hi-lo == 1 {
		if lo < t.n {
			return lo
		}
		return -1
	}
	mid := (lo + hi) / 2
	if r := t.find(2*k, lo, mid, req, from); r >= 0 {
		return r
	}
	return t.find(2*k+1, mid, hi, req, from)
}
