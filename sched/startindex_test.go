package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
	"unsafe"
)

// TestStartIndexAgainstReference drives a start index over random
// profiles through random reservations and give-backs (which split steps
// and raise keys) and checks every search against a scan of every step of
// every profile, and the tree's invariants after each change: it holds
// each step once, in order, and every key and bound is an upper bound of
// the exact keys below it.
func TestStartIndexAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(71, 72))
	for round := range 40 {
		nodes := 1 + rng.IntN(60)
		capv := vec{int64(8 + rng.IntN(64)), int64(1+rng.IntN(64)) << 30, int64(rng.IntN(9))}
		profs := make([]*profile, nodes)
		for k := range profs {
			profs[k] = &profile{steps: []step{{free: capv}}, summed: rng.IntN(2) == 0}
		}
		var pending []*Job
		for range 20 {
			pending = append(pending, &Job{Walltime: time.Duration(1+rng.IntN(20)) * time.Duration(rng.IntN(4)+1) * time.Minute})
		}
		randVec := func() vec {
			return vec{int64(rng.IntN(int(capv[resCores])/2 + 1)), rng.Int64N(capv[resMemory]/2 + 1), int64(rng.IntN(int(capv[resGPUs])/2 + 1))}
		}
		type hold struct {
			node       int
			req        vec
			start, end int64
		}
		var holds []hold
		take := func() {
			h := hold{node: rng.IntN(nodes), req: randVec(), start: int64(rng.IntN(120)) * int64(time.Minute)}
			h.end = never
			if rng.IntN(5) > 0 {
				h.end = h.start + int64(1+rng.IntN(90))*int64(time.Minute)
			}
			profs[h.node].reserve(&h.req, h.start, h.end)
			holds = append(holds, h)
		}
		for range 3 * nodes {
			take()
		}
		x := buildIndex(profs, indexWindows(pending), packerFor(&capv))
		for pos, p := range profs {
			p.idx, p.ipos = x, int32(pos)
		}
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			for op := range 300 {
				switch r := rng.IntN(10); {
				case r < 4:
					take()
				case r < 6 && len(holds) > 0:
					k := rng.IntN(len(holds))
					h := holds[k]
					profs[h.node].release(&h.req, h.start, h.end)
					holds = slices.Delete(holds, k, k+1)
				}
				checkIndex(t, x, profs)
				need := randVec()
				dur := int64(1+rng.IntN(180)) * int64(time.Minute)
				if rng.IntN(8) == 0 {
					dur = never
				}
				at0, pos0 := int64(-1), int32(0)
				if rng.IntN(2) == 0 {
					at0, pos0 = int64(rng.IntN(150))*int64(time.Minute), int32(rng.IntN(nodes))
				}
				limit := never
				if rng.IntN(3) == 0 {
					limit = int64(rng.IntN(200)) * int64(time.Minute)
				}
				at, pos, ok := x.next(&need, dur, at0, pos0, limit)
				wantAt, wantPos, wantOK := refNext(profs, &need, dur, at0, pos0, limit)
				if ok != wantOK || ok && (at != wantAt || pos != wantPos) {
					t.Fatalf("op %d: next(%v, %d, (%d, %d), %d) = (%d, %d, %v), want (%d, %d, %v)",
						op, need, dur, at0, pos0, limit, at, pos, ok, wantAt, wantPos, wantOK)
				}
				// A search that goes on finds every fit after, in order.
				var s search
				ok = x.first(&s, &need, dur, limit)
				at0 = -1
				for range 6 {
					wantAt, wantPos, wantOK = refNext(profs, &need, dur, at0, pos0, limit)
					if ok != wantOK || ok && (s.at != wantAt || s.pos != wantPos) {
						t.Fatalf("op %d: going on after (%d, %d) found (%d, %d, %v), want (%d, %d, %v)",
							op, at0, pos0, s.at, s.pos, ok, wantAt, wantPos, wantOK)
					}
					if !ok {
						break
					}
					at0, pos0 = s.at, s.pos
					ok = s.more()
				}
			}
		})
	}
}

// next returns the first entry after (at0, pos0), with at no later than
// limit, at which need fits for dur: a search from a cursor, as the
// scheduler's searches that go on (first, then more) make from the last
// fit, but from anywhere.
func (x *startIndex) next(need *vec, dur int64, at0 int64, pos0 int32, limit int64) (int64, int32, bool) {
	var s search
	x.begin(&s, need, dur, limit)
	s.at0, s.pos0 = at0, pos0
	s.walk(x.root, s.from(x.root))
	return s.at, s.pos, s.found
}

// refNext is next by a scan of every step of every profile.
func refNext(profs []*profile, need *vec, dur, at0 int64, pos0 int32, limit int64) (int64, int32, bool) {
	bestAt, bestPos, ok := int64(0), int32(0), false
	for pos, p := range profs {
		ref := refProfile{steps: p.steps}
		for _, st := range p.steps {
			if !before(at0, pos0, st.at, int32(pos)) || st.at > limit || !ref.fits(need, st.at, dur) {
				continue
			}
			if !ok || before(st.at, int32(pos), bestAt, bestPos) {
				bestAt, bestPos, ok = st.at, int32(pos), true
			}
		}
	}
	return bestAt, bestPos, ok
}

// checkIndex checks x's invariants against its profiles.
func checkIndex(t *testing.T, x *startIndex, profs []*profile) {
	t.Helper()
	type entry struct {
		at  int64
		pos int32
	}
	var got []entry
	var walk func(n *inode, depth int) (ikeys, int)
	walk = func(n *inode, depth int) (ikeys, int) {
		var top ikeys
		leafDepth := depth
		for c := range n.n {
			var k ikeys
			if n.leaf {
				got = append(got, entry{n.ent[c].at, n.ent[c].pos})
				p := profs[n.ent[c].pos]
				x.keyOf(p.steps, p.find(n.ent[c].at), &k)
			} else {
				var d int
				k, d = walk(n.kid[c], depth+1)
				if c > 0 && d != leafDepth {
					t.Fatalf("leaves at depths %d and %d", leafDepth, d)
				}
				leafDepth = d
				if e, f := n.ent[c], n.kid[c].ent[0]; e.at != f.at || e.pos != f.pos {
					t.Fatalf("child %d's first entry is (%d, %d), its parent says (%d, %d)", c, f.at, f.pos, e.at, e.pos)
				}
			}
			for w := range nkeys {
				if !n.key[w][c].covers(k[w]) {
					t.Fatalf("bound %v for window %d is below the exact %v", n.key[w][c], w, k[w])
				}
				top[w] = top[w].max(k[w])
			}
		}
		return top, leafDepth
	}
	walk(x.root, 0)
	var want []entry
	for pos, p := range profs {
		for _, st := range p.steps {
			want = append(want, entry{st.at, int32(pos)})
		}
	}
	slices.SortFunc(want, func(a, b entry) int {
		if before(a.at, a.pos, b.at, b.pos) {
			return -1
		}
		if a == b {
			return 0
		}
		return 1
	})
	if !slices.Equal(got, want) {
		t.Fatalf("the index holds %d entries %v, the profiles %d steps %v", len(got), got, len(want), want)
	}
}

// TestIndexWindows checks the choice of windows: every distinct walltime
// when there are few, else windows from the shortest walltime up that
// are ascending and distinct.
func TestIndexWindows(t *testing.T) {
	jobs := func(ds ...int) []*Job {
		var js []*Job
		for _, d := range ds {
			js = append(js, &Job{Walltime: time.Duration(d)})
		}
		return js
	}
	got := indexWindows(jobs(5, 0, 3, 5, 9))
	want := [idxWindows]int64{3, 5, 9}
	for k := 3; k < idxWindows; k++ {
		want[k] = never
	}
	if got != want {
		t.Errorf("few walltimes: %v, want %v", got, want)
	}
	if got := indexWindows(nil); got[0] != never {
		t.Errorf("no walltimes: %v, want all never", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var ds []int
	for range 5000 {
		ds = append(ds, 600+rng.IntN(86400))
	}
	got = indexWindows(jobs(ds...))
	if got[0] != int64(slices.Min(ds)) && got[0] > 700 {
		t.Errorf("the first window %d is far above the shortest walltime %d", got[0], slices.Min(ds))
	}
	for k := 1; k < idxWindows; k++ {
		if got[k] <= got[k-1] {
			t.Errorf("windows not ascending: %v", got)
		}
	}
}

// TestPackedKeys checks that packed vectors keep what the index needs,
// for packers of several scales: a vector that covers another packs into
// a key that covers its packing (rounding and clamping never lose a fit),
// no field spills into a guard bit, and the field-wise maximum of packed
// vectors is the packing of their maximum.
func TestPackedKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pick := func() vec {
		var v vec
		for r := range nres {
			switch rng.IntN(6) {
			case 0:
				v[r] = 0
			case 1:
				v[r] = never
			case 2:
				v[r] = -rng.Int64N(100)
			default:
				v[r] = rng.Int64N(1 << (10 + 10*r))
			}
		}
		return v
	}
	for range 100000 {
		capv := pick()
		pk := packerFor(&capv)
		a, b := pick(), pick()
		pa, pb := pk.pack(&a), pk.pack(&b)
		if a.covers(&b) && !pa.covers(pb) {
			t.Fatalf("%v covers %v, but %#x does not cover %#x (%+v)", a, b, pa, pb, pk)
		}
		var m vec
		for r := range nres {
			m[r] = max(a[r], b[r])
		}
		if got, want := pa.max(pb), pk.pack(&m); got != want {
			t.Fatalf("max(%#x, %#x) = %#x, want %#x (of %v, %+v)", pa, pb, got, want, m, pk)
		}
		for r := range nres {
			m[r] = min(a[r], b[r])
		}
		if got, want := pa.min(pb), pk.pack(&m); got != want {
			t.Fatalf("min(%#x, %#x) = %#x, want %#x (of %v, %+v)", pa, pb, got, want, m, pk)
		}
		if pa&pkGuard != 0 {
			t.Fatalf("%v packs into %#x, over a guard bit (%+v)", a, pa, pk)
		}
		// A memo's need, packed rounded up, is covered only by requests
		// (never negative) at least as large.
		if ub, ok := pk.packUp(&b); ok && min(a[0], a[1], a[2]) >= 0 && pa.covers(ub) && !a.covers(&b) {
			t.Fatalf("%#x (%v) covers %v rounded up (%#x), but %v does not cover it (%+v)", pa, a, b, ub, a, pk)
		}
	}
	// A node's capacity is never clamped, so what it holds is told apart
	// down to its packer's unit.
	for _, capv := range []vec{{128, 512 << 30, 8}, {64, 1 << 40, 8}, {1 << 12, 1 << 44, 16}, {2, 1 << 20, 0}} {
		pk := packerFor(&capv)
		if k := pk.pack(&capv); k&^pkGuard != k || pkey(capv[resCores]>>pk.coreShift) != k&(1<<pkCoreBits-1) ||
			pkey(capv[resMemory]>>pk.memShift) != k>>pkMemAt {
			t.Errorf("capacity %v packs into %#x with %+v: clamped", capv, k, pk)
		}
	}
}

// TestGangMixedGPUs: on nodes of two GPU models, a gang that asks for one
// model cannot start on a node whose free GPU now is of the other model,
// nor any time before that node's profile next changes (its free GPUs
// stay the same until then); from then on, as everywhere in the future,
// counts decide. n0's H100 is busy for 100 s and its profile changes at
// 50 s; n2's H100 frees at 30 s: with and without start indexes, the gang
// is reserved on n1 and n2 at 30 s, not on n0 and n1.
func TestGangMixedGPUs(t *testing.T) {
	gpus := []GPU{{Index: 0, Model: "A100"}, {Index: 1, Model: "H100"}}
	node := func(name string) Node { return Node{Name: name, Cores: 8, MemoryBytes: 1 << 30, GPUs: gpus} }
	snap := Snapshot{
		Now:    t0,
		Policy: Conservative,
		Nodes:  []Node{node("n0"), node("n1"), node("n2")},
		Running: []Allocation{
			{Job: 1, Node: "n0", Cores: 1, GPUs: []int{1}, Start: t0, Walltime: sec(100)},
			{Job: 2, Node: "n0", Cores: 1, Start: t0, Walltime: sec(50)},
			{Job: 3, Node: "n2", Cores: 1, GPUs: []int{1}, Start: t0, Walltime: sec(30)},
		},
		Pending: []*Job{{ID: 10, Cores: 1, GPUs: 1, GPUModel: "H100", Nodes: 2, Walltime: sec(60)}},
	}
	for _, on := range []bool{false, true} {
		p := withMin(indexMins, on, snap)
		var nodes []string
		for _, r := range p.Reservations {
			nodes = append(nodes, r.Node)
		}
		if len(p.Starts) != 0 || len(p.Reservations) != 2 || !p.Reservations[0].Start.Equal(at(30)) || !slices.Equal(nodes, []string{"n1", "n2"}) {
			t.Errorf("index %v: starts %v, reservations %v; want the gang reserved on n1 and n2 at 30 s", on, p.Starts, p.Reservations)
		}
	}
}

// TestInodeLayout checks that every window's keys of an index node start
// on a cache line, in nodes allocated alone or in a slice.
func TestInodeLayout(t *testing.T) {
	var n inode
	if off, size := unsafe.Offsetof(n.key), unsafe.Sizeof(n); off%64 != 0 || size%64 != 0 {
		t.Errorf("inode.key at offset %d, inode %d bytes: want both multiples of 64", off, size)
	}
}

// TestKeysArePackedMins checks that an entry's keys, the packed minima of
// the packed free vectors, are the packed minimum free vectors over the
// windows (profile.mins), on random profiles long enough to hit the cap
// on the steps a window looks at.
func TestKeysArePackedMins(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 200 {
		capv := vec{int64(1 + rng.IntN(256)), rng.Int64N(1 << 42), int64(rng.IntN(17))}
		p := &profile{steps: []step{{free: capv}}}
		for range rng.IntN(80) {
			req := vec{rng.Int64N(capv[resCores]/4 + 1), rng.Int64N(capv[resMemory]/4 + 1), rng.Int64N(capv[resGPUs]/4 + 1)}
			start := int64(rng.IntN(3000)) * int64(time.Minute)
			p.reserve(&req, start, start+int64(1+rng.IntN(600))*int64(time.Minute))
		}
		var pending []*Job
		for range 1 + rng.IntN(40) {
			pending = append(pending, &Job{Walltime: time.Duration(1+rng.IntN(2000)) * time.Minute})
		}
		x := &startIndex{wins: indexWindows(pending), packer: packerFor(&capv)}
		for k := range p.steps {
			var got ikeys
			x.keyOf(p.steps, k, &got)
			var mins [idxWindows]vec
			p.mins(k, x.wins[:], mins[:])
			want := ikeys{x.pack(&p.steps[k].free)}
			for w := range mins {
				want[w+1] = x.pack(&mins[w])
			}
			if got != want {
				t.Fatalf("step %d of %d: keys %v, want %v", k, len(p.steps), got, want)
			}
		}
	}
}
