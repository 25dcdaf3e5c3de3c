package sched

import (
	"cmp"
	"math"
	mathbits "math/bits"
	"slices"
	"sync"
	"time"
)

// A Conservative pass gives every pending job a reservation at its
// earliest fit, so on a large cluster most jobs start in the future, and
// looking for the earliest fit node by node costs every job a scan of
// every eligible node. The start index turns that around: it keeps the
// steps of all the profiles of one class in time order, and a job walks
// them from the earliest, skipping whole subtrees whose bounds show that
// nothing in them can hold it.
//
// An earliest fit always begins at a step of its node's profile (if a fit
// begins inside a step, it fits from that step's start too, since the
// free resources are the same there), so the steps are the only candidate
// starts. Each entry of the index is one step, (at, pos): its start and
// its node's position in the class. Entries are ordered by (at, pos),
// which is also the tie order a single-node search wants (within a class,
// earlier node first).
//
// Each entry has keys (packed, see pkey): for window 0 the step's free
// vector, and for each window j ≥ 1 the minimum free vector over [at,
// at+wins[j-1]) (see profile.mins). A job of walltime d can start at an
// entry only if the key of the longest window up to d covers it. Every
// inner node keeps, per child, the field-wise maximum of the keys below
// it. Keys and maxima are upper bounds, not exact: a reservation lowers
// the profiles and leaves the index as it is (a lowered bound is still a
// bound); a search that checks an entry whose profile changed since its
// keys were computed recomputes them, and one that finds nothing in a
// subtree whose bound said something might be there recomputes that
// bound, for its own window. Anything that raises a profile (giving back
// a reservation, a preemption's trial) raises the keys it changes at once
// (startIndex.raise), and a new step (a split) is inserted with its keys.
//
// The index is a B+ tree: at most idxFan entries or children per node,
// leaves at the same depth; it is built from the profiles with its leaves
// three quarters full, and a full node splits in halves, both keeping
// the bounds of the whole (still bounds; searches lower them as they go).

// idxFan is the most entries (leaves) or children (inner nodes) a node of
// the start index holds.
const idxFan = 32

// idxWindows is the most windows an index keys its entries by. A search
// checks exactly every entry whose key for the longest window up to the
// job's walltime covers the job, and such an entry fails if its free
// resources last the window but not the walltime: so the closer the
// windows are to the walltimes of the jobs, the fewer checks fail. The
// windows of a pass are taken from the walltimes of its pending jobs
// (see indexWindows). With 8 windows, 100k jobs on 10k nodes (sched's
// BenchmarkHetero) made twice as many exact checks as with 16, and with
// 32 the larger nodes cost more than the checks saved.
const idxWindows = 16

// nkeys is the number of keys per entry: the step itself, then one per
// window.
const nkeys = 1 + idxWindows

// ikeys are an entry's keys, or a subtree's bounds, packed.
type ikeys [nkeys]pkey

// inode is one node of the start index. Its one pointer comes first, so
// that the garbage collector scans 8 bytes of it, not all of it.
type inode struct {
	// kid: an inner node's children; nil in a leaf.
	kid *[idxFan]*inode
	n   int
	// leaf: the node holds entries, not children (kid).
	leaf bool
	// memoAt is the index's epoch of a leaf's memos: older ones are void.
	memoAt uint32
	// ent: a leaf's entries, or an inner node's children's first
	// entries, in order. What a search reads of an entry it checks sits
	// together, on one cache line.
	ent [idxFan]ientry
	_   [inodePad]byte
	// key[w][c]: a leaf entry's key for window w, or the bound of child c,
	// packed. A search reads the keys of one window: they start on a
	// cache line (64 bytes), so that they take two, not three.
	key [nkeys][idxFan]pkey
}

// inodePad puts inode.key on a 64-byte boundary of the node, and the
// node's size on a multiple of 64, so that nodes allocated one by one or
// in a slice keep their keys' windows on whole cache lines.
const inodePad = 40

// newInner returns an empty inner node.
func newInner() *inode {
	return &inode{kid: new([idxFan]*inode)}
}

// ientry is one entry of a leaf, (at, pos), with what the leaf keeps of
// it, or an inner node's child's first entry (ref and memo unused).
type ientry struct {
	at  int64
	pos int32
	// ref is the profile version at which the entry's keys were
	// computed, and its step's index then.
	ref entryAt
	// memo is a request the entry is known not to hold.
	memo failMemo
}

// failMemo is a request known not to fit from an entry's step: its need
// packed rounded up (see packer.packUp) and its walltime in seconds,
// rounded up. Any request at least as large in every field, for at least
// as long, does not fit there either, as long as the profile is only
// lowered: a search passes such an entry without reading its profile.
// Anything that raises a profile of the index moves the index to a new
// epoch (startIndex.epoch), which voids every memo made before. The
// zero failMemo (dur 0) remembers nothing.
type failMemo struct {
	need pkey
	dur  uint32
}

// entryAt is an entry's step as of one version of its profile: while the
// profile's ver is still ver, steps[k] is the entry's step, and the
// entry's keys are exact.
type entryAt struct {
	ver uint32
	k   int32
}

// startIndex is one class's start index.
type startIndex struct {
	root *inode
	// wins are the windows of the keys, ascending; unused ones are never.
	wins [idxWindows]int64
	// steps are the steps and versions of the class's nodes' profiles,
	// by position in the class, kept up to date by the profiles (see
	// profile.synced): a search reads these, packed in one array,
	// instead of the profiles, spread over the pass's nodes.
	steps []stepsAt
	// epoch counts the rises of the class's profiles: a leaf's memos
	// hold only while its memoAt is the epoch (see failMemo).
	epoch uint32
	packer
}

// stepsAt is a profile's steps as of its version ver.
type stepsAt struct {
	steps []step
	ver   uint32
}

// before reports whether entry (a, p) sorts before (b, q).
func before(a int64, p int32, b int64, q int32) bool {
	return a < b || a == b && p < q
}

// keyOf computes the keys of steps[k], a profile's. A window's key is the
// packed minimum of the free vectors over the window (see profile.mins),
// taken here as the minimum of the packed free vectors: packing is
// monotone in each field, so the two are the same, and packed vectors
// compare in one operation.
//
// It goes step by step, not window by window: a window holds the steps
// that begin less than its length after step k, and there are fewer
// steps within reach than windows, most often.
func (x *startIndex) keyOf(steps []step, k int, out *ikeys) {
	m := x.pack(&steps[k].free)
	out[0] = m
	at, j := steps[k].at, 0
	for _, st := range steps[k+1 : min(len(steps), k+profWalk+1)] {
		for off := st.at - at; j < idxWindows && x.wins[j] <= off; j++ {
			out[j+1] = m // window j ends before st
		}
		if j == idxWindows {
			return
		}
		m = m.min(x.pack(&st.free))
	}
	for ; j < idxWindows; j++ {
		out[j+1] = m
	}
}

// boundOf is the field-wise maximum of n's keys for window w.
func (n *inode) boundOf(w int) pkey {
	// Field by field, each maximum kept apart: fewer operations a key
	// than pkey.max.
	var cores, gpus, mem pkey
	for _, k := range n.key[w][:n.n] {
		cores, gpus, mem = max(cores, k&pkCores), max(gpus, k&pkGPUs), max(mem, k&pkMem)
	}
	return cores | gpus | mem
}

// setKey stores keys k as entry or child c's.
func (n *inode) setKey(c int, k *ikeys) {
	for w := range nkeys {
		n.key[w][c] = k[w]
	}
}

// raiseKey lifts entry or child c's bounds to cover k too, and reports
// whether any rose.
func (n *inode) raiseKey(c int, k *ikeys) bool {
	rose := false
	for w := range nkeys {
		if b := n.key[w][c]; !b.covers(k[w]) {
			n.key[w][c], rose = b.max(k[w]), true
		}
	}
	return rose
}

// tighten recomputes child c's bounds from what the child holds.
func (n *inode) tighten(c int) {
	for w := range nkeys {
		n.key[w][c] = n.kid[c].boundOf(w)
	}
}

// pkey is a resource vector packed in 32 bits for the index's keys: cores,
// GPUs and memory, each scaled down to its field (see packer) and
// clamped, with a guard bit above each field, so that one subtraction
// compares all three (covers). Rounding down and clamping every value,
// requests and free amounts alike, keeps a key that covers a request
// whenever the vector does: the index only needs that, its keys being
// bounds checked exactly anyway. A key takes 4 bytes instead of a
// vector's 24, so that a search touches a sixth of the memory.
type pkey uint32

const (
	pkCoreBits = 10
	pkGPUBits  = 4
	pkMemBits  = 15
	pkGPUAt    = pkCoreBits + 1
	pkMemAt    = pkGPUAt + pkGPUBits + 1
	pkGuard    = pkey(1)<<pkCoreBits | pkey(1)<<(pkGPUAt+pkGPUBits) | pkey(1)<<(pkMemAt+pkMemBits)
)

// packer packs the vectors of one class: its shifts scale the class's
// cores and memory to their fields (a node of 1 TiB counts memory in
// 64 MiB units), so that only requests larger than a node are clamped,
// and GPUs beyond 15 (the exact check tells those apart).
type packer struct {
	coreShift, memShift uint
}

// packerFor is the packer of nodes of capacity cap.
func packerFor(cap *vec) packer {
	shift := func(v int64, bits int) uint {
		return uint(max(mathbits.Len64(uint64(max(v, 0)))-bits, 0))
	}
	return packer{coreShift: shift(cap[resCores], pkCoreBits), memShift: shift(cap[resMemory], pkMemBits)}
}

// field clamps v to [0, 2^bits).
func field(v int64, bits uint) pkey {
	return pkey(min(max(v, 0), 1<<bits-1))
}

// pack packs v.
func (pk packer) pack(v *vec) pkey {
	return field(v[resCores]>>pk.coreShift, pkCoreBits) | field(v[resGPUs], pkGPUBits)<<pkGPUAt | field(v[resMemory]>>pk.memShift, pkMemBits)<<pkMemAt
}

// packUp packs v rounded up in every field, and reports whether no field
// had to be clamped: then a packed vector that covers the result is at
// least v in every field.
func (pk packer) packUp(v *vec) (pkey, bool) {
	up := func(x int64, shift uint, bits uint) (pkey, bool) {
		x = max(x, 0)
		q := x >> shift
		if q<<shift != x {
			q++
		}
		return pkey(min(q, 1<<bits-1)), q < 1<<bits
	}
	c, okc := up(v[resCores], pk.coreShift, pkCoreBits)
	g, okg := up(v[resGPUs], 0, pkGPUBits)
	m, okm := up(v[resMemory], pk.memShift, pkMemBits)
	return c | g<<pkGPUAt | m<<pkMemAt, okc && okg && okm
}

// covers reports whether every field of k is at least need's: a field's
// subtraction borrows its guard bit only if it is smaller.
func (k pkey) covers(need pkey) bool {
	return ((k|pkGuard)-need)&pkGuard == pkGuard
}

// The fields of a pkey.
const (
	pkCores = pkey(1)<<pkCoreBits - 1
	pkGPUs  = (pkey(1)<<pkGPUBits - 1) << pkGPUAt
	pkMem   = (pkey(1)<<pkMemBits - 1) << pkMemAt
)

// min is the field-wise minimum of k and o.
func (k pkey) min(o pkey) pkey {
	return min(k&pkCores, o&pkCores) | min(k&pkGPUs, o&pkGPUs) | min(k&pkMem, o&pkMem)
}

// max is the field-wise maximum of k and o.
func (k pkey) max(o pkey) pkey {
	return max(k&pkCores, o&pkCores) | max(k&pkGPUs, o&pkGPUs) | max(k&pkMem, o&pkMem)
}

// after is the index of n's first entry (a leaf's, or an inner node's
// children's first) that sorts after (at, pos); n.n if none does.
func (n *inode) after(at int64, pos int32) int {
	lo, hi := 0, n.n
	for lo < hi {
		if mid := int(uint(lo+hi) >> 1); before(at, pos, n.ent[mid].at, n.ent[mid].pos) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// child is the child of inner node n whose range holds (at, pos): the
// last whose first entry is not after it, or the first. In a leaf, the
// same of its entries.
func (n *inode) child(at int64, pos int32) int {
	return max(n.after(at, pos)-1, 0)
}

// buildIndex builds the start index of the profiles profs (a class's, by
// position) from all their steps.
func buildIndex(profs []*profile, wins [idxWindows]int64, pk packer) *startIndex {
	x := &startIndex{steps: make([]stepsAt, len(profs)), wins: wins, packer: pk}
	for pos, p := range profs {
		x.steps[pos] = stepsAt{p.steps, p.ver}
	}
	type ent struct {
		at  int64
		pos int32
		k   int32
	}
	total := 0
	for _, p := range profs {
		total += len(p.steps)
	}
	ents := make([]ent, 0, total)
	for pos, p := range profs {
		for k := range p.steps {
			ents = append(ents, ent{p.steps[k].at, int32(pos), int32(k)})
		}
	}
	slices.SortFunc(ents, func(a, b ent) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.pos, b.pos)
	})
	// Leaves three quarters full, to leave room for the steps the pass
	// adds, then the inner levels.
	const fill = idxFan * 3 / 4
	nleaves := max((len(ents)+fill-1)/fill, 1)
	leaves := make([]inode, nleaves)
	level := make([]*inode, nleaves)
	var key ikeys
	for l := range leaves {
		n := &leaves[l]
		n.leaf = true
		level[l] = n
		for _, e := range ents[l*fill : min((l+1)*fill, len(ents))] {
			n.ent[n.n] = ientry{at: e.at, pos: e.pos, ref: entryAt{profs[e.pos].ver, e.k}}
			x.keyOf(profs[e.pos].steps, int(e.k), &key)
			n.setKey(n.n, &key)
			n.n++
		}
	}
	for len(level) > 1 {
		up := make([]*inode, 0, (len(level)+fill-1)/fill)
		for s := 0; s < len(level); s += fill {
			n := newInner()
			for _, k := range level[s:min(s+fill, len(level))] {
				n.kid[n.n], n.ent[n.n] = k, k.first()
				n.tighten(n.n)
				n.n++
			}
			up = append(up, n)
		}
		level = up
	}
	x.root = level[0]
	return x
}

// insert adds entry (at, pos), a new step of the profile at pos, whose
// keys are k as of ref.
func (x *startIndex) insert(at int64, pos int32, k *ikeys, ref entryAt) {
	right, _ := x.ins(x.root, at, pos, k, ref)
	if right == nil {
		return
	}
	left := x.root
	r := newInner()
	r.n = 2
	r.kid[0], r.ent[0] = left, left.first()
	r.kid[1], r.ent[1] = right, right.first()
	r.tighten(0)
	r.tighten(1)
	x.root = r
}

// ins inserts into the subtree n. It returns the new right sibling of n
// if n had to split, and whether the bounds above n may have to rise to
// cover k: not once a level's bound already covered it, since every
// bound covers the keys or bounds in the node below it (inserts and
// raises lift every level up to one that covers, and a search sets a
// bound to the maximum of those below it).
func (x *startIndex) ins(n *inode, at int64, pos int32, k *ikeys, ref entryAt) (right *inode, raise bool) {
	if n.leaf {
		c := n.after(at, pos) // (at, pos) is not in n yet
		n.open(c)
		n.ent[c] = ientry{at: at, pos: pos, ref: ref}
		n.setKey(c, k)
		return n.splitFull(), true
	}
	c := n.child(at, pos)
	if e := &n.ent[c]; before(at, pos, e.at, e.pos) {
		e.at, e.pos = at, pos // a new first entry (only in the first child)
	}
	right, raise = x.ins(n.kid[c], at, pos, k, ref)
	if raise {
		raise = n.raiseKey(c, k)
	}
	if right == nil {
		return nil, raise
	}
	// Both halves keep the bounds of the whole, still bounds: searches
	// lower them where they find them too high, one window at a time,
	// which costs less than computing all of them here.
	n.open(c + 1)
	n.kid[c+1], n.ent[c+1] = right, right.first()
	for w := range nkeys {
		n.key[w][c+1] = n.key[w][c]
	}
	return n.splitFull(), raise
}

// first is n's first entry (at and pos only).
func (n *inode) first() ientry {
	return ientry{at: n.ent[0].at, pos: n.ent[0].pos}
}

// open makes room at slot c, shifting the slots from c right by one.
func (n *inode) open(c int) {
	copy(n.ent[c+1:n.n+1], n.ent[c:n.n])
	for w := range nkeys {
		// A few words each: a loop costs less than a call to copy.
		keys := n.key[w][:n.n+1]
		for i := len(keys) - 1; i > c; i-- {
			keys[i] = keys[i-1]
		}
	}
	if !n.leaf {
		copy(n.kid[c+1:n.n+1], n.kid[c:n.n])
	}
	n.n++
}

// splitFull splits a full node in two halves and returns the right one;
// nil if n is not full.
func (n *inode) splitFull() *inode {
	if n.n < idxFan {
		return nil
	}
	h := idxFan / 2
	r := &inode{n: idxFan - h, leaf: n.leaf}
	if !n.leaf {
		r.kid = new([idxFan]*inode)
	}
	copy(r.ent[:], n.ent[h:n.n])
	for w := range nkeys {
		copy(r.key[w][:], n.key[w][h:])
	}
	if !n.leaf {
		copy(r.kid[:], n.kid[h:])
		clear(n.kid[h:])
	} else {
		r.memoAt = n.memoAt
	}
	n.n = h
	return r
}

// raise sets the keys of entry (at, pos), which must exist, to k (as of
// ref), which may be higher than before, lifting the bounds above it.
func (x *startIndex) raise(at int64, pos int32, k *ikeys, ref entryAt) {
	x.epoch++
	n := x.root
	for !n.leaf {
		c := n.child(at, pos)
		n.raiseKey(c, k)
		n = n.kid[c]
	}
	if c := n.after(at, pos) - 1; c >= 0 && n.ent[c].at == at && n.ent[c].pos == pos {
		n.setKey(c, k)
		n.ent[c].ref = ref
	}
}

// window is the key of the longest window no longer than dur.
func (x *startIndex) window(dur int64) int {
	w := 0
	for w < idxWindows && x.wins[w] <= dur {
		w++
	}
	return w
}

// indexWindows picks the windows for a pass's indexes from the walltimes
// of its pending jobs: all of them if there are idxWindows or fewer
// distinct ones (then no check fails for want of a window), else the
// windows that minimize the mean relative shortfall (d-w)/d of each job's
// walltime d over its window w, for a sample of the walltimes: a check
// fails where a node's free resources last the window but not the
// walltime, more often the longer the walltime is beyond the window.
func indexWindows(pending []*Job) [idxWindows]int64 {
	var wins [idxWindows]int64
	for k := range wins {
		wins[k] = never
	}
	distinct := make([]int64, 0, idxWindows+1)
	for k := range pending {
		if d := int64(pending[k].Walltime); d > 0 && !slices.Contains(distinct, d) {
			if distinct = append(distinct, d); len(distinct) > idxWindows {
				break
			}
		}
	}
	if len(distinct) <= idxWindows {
		slices.Sort(distinct)
		copy(wins[:], distinct)
		return wins
	}
	// A sample of the walltimes, and the shortest of a larger one: a job
	// shorter than the first window has none. (The dynamic program below
	// takes time quadratic in the sample; reading every job would cost a
	// cache miss each.)
	const samples, more = 256, 16
	step := max(len(pending)/(samples*more), 1)
	var durs []int64
	shortest := never
	for i, k := 0, 0; k < len(pending); i, k = i+1, k+step {
		if d := int64(pending[k].Walltime); d > 0 {
			shortest = min(shortest, d)
			if i%more == 0 {
				durs = append(durs, d)
			}
		}
	}
	durs = append(durs, shortest)
	slices.Sort(durs)
	durs = slices.Compact(durs)
	n := len(durs)
	if n <= idxWindows {
		copy(wins[:], durs)
		return wins
	}
	// cost(i, j): jobs i..j-1 (in the sample) under a window at durs[i].
	inv := make([]float64, n+1)
	for m, d := range durs {
		inv[m+1] = inv[m] + 1/float64(d)
	}
	cost := func(i, j int) float64 { return float64(j-i) - float64(durs[i])*(inv[j]-inv[i]) }
	// best[k][j]: the least cost of samples 0..j-1 under k+1 windows, the
	// first at durs[0]; from[k][j] is where the last window goes.
	best := make([][]float64, idxWindows)
	from := make([][]int, idxWindows)
	for k := range best {
		best[k] = make([]float64, n+1)
		from[k] = make([]int, n+1)
	}
	for j := 1; j <= n; j++ {
		best[0][j] = cost(0, j)
	}
	for k := 1; k < idxWindows; k++ {
		for j := 1; j <= n; j++ {
			best[k][j], from[k][j] = best[k-1][j], -1
			for i := k; i < j; i++ {
				if c := best[k-1][i] + cost(i, j); c < best[k][j] {
					best[k][j], from[k][j] = c, i
				}
			}
		}
	}
	var at []int
	for k, j := idxWindows-1, n; k > 0; k-- {
		if i := from[k][j]; i >= 0 {
			at = append(at, i)
			j = i
		}
	}
	at = append(at, 0)
	slices.Reverse(at)
	for k, i := range at {
		wins[k] = durs[i]
	}
	return wins
}

// begin readies s to search x for need fitting for dur, up to limit.
func (x *startIndex) begin(s *search, need *vec, dur, limit int64) {
	// Field by field: path and keyBuffer need no clearing, and clearing
	// them costs more than the rest of a search's start.
	s.x, s.need, s.pneed, s.dur, s.w, s.limit = x, need, x.pack(need), dur, x.window(dur), limit
	s.at0, s.pos0, s.at, s.pos, s.found, s.stop, s.depth = -1, 0, 0, 0, false, false, 0
	s.fail = failMemo{}
	const second = int64(time.Second)
	s.secs = uint32(min(max(dur, 0)/second, math.MaxUint32))
	if up, ok := x.packUp(need); ok && dur >= 0 && dur < math.MaxUint32*second {
		s.fail = failMemo{need: up, dur: uint32(max((dur+second-1)/second, 1))}
	}
}

// first starts search s for the first entry, with at no later than limit,
// at which need fits for dur on its node (its profile covers need from the
// entry's step until at+dur), and returns s.found, with the entry in s.at
// and s.pos; s.more then finds the ones after it, in order, as long as the
// index does not change meanwhile.
func (x *startIndex) first(s *search, need *vec, dur, limit int64) bool {
	x.begin(s, need, dur, limit)
	s.walk(x.root, 0)
	return s.found
}

// more finds the next entry after the one s found last, going on from
// where that one is in the tree instead of from the root, and returns
// s.found.
func (s *search) more() bool {
	if !s.found {
		return false
	}
	s.at0, s.pos0, s.found = s.at, s.pos, false
	depth := s.depth
	for i := range depth {
		// Levels 0 to i-1 are used up: go on in the node of level i
		// after the child (or entry) the last fit was in.
		s.depth = 0
		if s.walk(s.path[i].n, s.path[i].c+1); s.found || s.stop {
			s.depth = depth
			return s.found
		}
	}
	return false
}

// maxDepth bounds the height of a start index: 32^10 entries.
const maxDepth = 10

// search is a search of a start index (first), which can go on (more).
//
// begin sets every field but keyBuffer and path: a new field must be set
// there too.
type search struct {
	x     *startIndex
	need  *vec
	pneed pkey
	dur   int64
	w     int
	at0   int64
	pos0  int32
	limit int64
	at    int64
	pos   int32
	found bool
	stop  bool // reached an entry after limit
	// secs is dur in whole seconds, rounded down, to compare with memos;
	// fail is the memo of this search's request (zero if it has none).
	secs      uint32
	fail      failMemo
	keyBuffer ikeys
	// path is where the fit found is: the leaf and its entry first, then
	// each node above and its child, depth of them.
	path [maxDepth]struct {
		n *inode
		c int
	}
	depth int
}

// from is the first child of n whose range may hold an entry after the
// cursor (at0, pos0).
//
// It is n.child(at0, pos0), found by a scan rather than a binary search:
// the cursor is the fit found last, and a search goes on from it mostly
// into the first child or entry or the next.
func (s *search) from(n *inode) int {
	c := 0
	if s.at0 >= 0 {
		for c+1 < n.n && !before(s.at0, s.pos0, n.ent[c+1].at, n.ent[c+1].pos) {
			c++
		}
	}
	return c
}

// walk searches the subtree n from its child or entry c on; on return
// found or stop may be set (found: path holds the fit's place up to n).
// Otherwise it reports whether n's bound for the search's window may now
// be lower than the one above it says: nothing in n covered the request,
// or a key below was lowered.
func (s *search) walk(n *inode, c int) (lower bool) {
	keys := n.key[s.w][:n.n]
	need := s.pneed
	covered := false
	for ; c < len(keys); c++ {
		for c < len(keys) && !keys[c].covers(need) {
			c++
		}
		if c == len(keys) {
			break
		}
		if s.limit != never && n.ent[c].at > s.limit {
			s.stop = true
			return false
		}
		if !n.leaf && s.w > 0 {
			if b := n.key[s.w-1][c]; !b.covers(need) {
				// The next shorter window's bound, no lower than this
				// window's maximum, was lowered since: so can this one.
				keys[c] = keys[c].min(b)
				lower = true
				continue
			}
		}
		covered = true
		if !n.leaf {
			kid := n.kid[c]
			low := s.walk(kid, s.from(kid))
			if s.found {
				s.path[s.depth].n, s.path[s.depth].c = n, c
				s.depth++
				return false
			}
			if s.stop {
				return false
			}
			if low {
				// Its bound promised more than the subtree held:
				// recompute the bound of this search's window (the
				// others stay valid bounds).
				keys[c] = kid.boundOf(s.w)
				lower = true
			}
			continue
		}
		e := &n.ent[c]
		at, pos := e.at, e.pos
		if !before(s.at0, s.pos0, at, pos) {
			continue
		}
		if m := e.memo; m.dur != 0 && n.memoAt == s.x.epoch && s.secs >= m.dur && need.covers(m.need) {
			continue // a smaller request did not fit there
		}
		p, ref := &s.x.steps[pos], &e.ref
		k := int(ref.k)
		if ref.ver != p.ver {
			// The keys are stale: make them exact first, and check the
			// profile only if this window's still covers the request.
			k = refind(p.steps, at, k)
			s.x.keyOf(p.steps, k, &s.keyBuffer)
			n.setKey(c, &s.keyBuffer)
			*ref = entryAt{p.ver, int32(k)}
			lower = true
			if !keys[c].covers(need) {
				continue
			}
		}
		if blockedIn(p.steps, s.need, k, after(at, s.dur)) < 0 {
			s.at, s.pos, s.found = at, pos, true
			s.path[0].n, s.path[0].c, s.depth = n, c, 1
			return false
		}
		if s.fail.dur != 0 {
			if n.memoAt != s.x.epoch {
				for i := range n.n {
					n.ent[i].memo = failMemo{}
				}
				n.memoAt = s.x.epoch
			}
			e.memo = s.fail
		}
	}
	return lower || !covered
}

// raised re-keys the entries of p (at position pos in its class) whose
// keys a rise of steps[i:j] can change: those steps, and the earlier ones
// whose windows reach step i.
func (x *startIndex) raised(p *profile, pos int32, i, j int) {
	var k ikeys
	for q := p.reaching(i, x.wins[idxWindows-1]); q < j; q++ {
		x.keyOf(p.steps, q, &k)
		x.raise(p.steps[q].at, pos, &k, entryAt{p.ver, int32(q)})
	}
}

// startIndexMinNodes is the smallest cluster on which a Conservative pass
// keeps start indexes, and startIndexMinWork how much more the pass's
// node-by-node searches must cost than building them: pending jobs ×
// nodes (what searching node by node visits) at least startIndexMinWork
// × the steps of all profiles (what the build enters). With less, a scan
// of every node costs less than the index: replaying a trace on 72
// nodes, whose passes have a few hundred jobs waiting, took 14.2 s with
// indexes on every pass and 8.5 s without. Variables so that tests can
// compare searches with and without.
var startIndexMinNodes, startIndexMinWork = 64, 16

// worthIndexing reports whether a pass over startIndexMinNodes nodes or
// more should build start indexes.
func (ps *pass) worthIndexing() bool {
	steps := 0
	for c := range ps.classes {
		for _, i := range ps.classes[c].nodes {
			steps += len(ps.nodes[i].prof.steps)
		}
	}
	return int64(len(ps.snap.Pending))*int64(len(ps.nodes)) >= int64(startIndexMinWork)*int64(steps)
}

// buildStartIndexes gives every up class its start index.
func (ps *pass) buildStartIndexes() {
	ps.haveIndex = true
	wins := indexWindows(ps.snap.Pending)
	build := func(c int) {
		cl := &ps.classes[c]
		profs := make([]*profile, len(cl.nodes))
		for pos, i := range cl.nodes {
			profs[pos] = &ps.nodes[i].prof
		}
		cl.idx = buildIndex(profs, wins, packerFor(&cl.cap))
		for pos, p := range profs {
			p.idx, p.ipos = cl.idx, int32(pos)
		}
	}
	// Each build touches its own class's profiles alone, so on a pass
	// large enough for lanes they are built side by side.
	if !ps.sideBySide(len(ps.snap.Pending)) {
		for c := range ps.classes {
			build(c)
		}
		return
	}
	var wg sync.WaitGroup
	for c := 1; c < len(ps.classes); c++ {
		wg.Go(func() { build(c) })
	}
	build(0)
	wg.Wait()
}

// earliestOne is earliest for a single member on classes that all keep
// start indexes: the first fit of each class, in time, and of these the
// soonest, cheapest, first. A fit now also needs the right GPUs free now
// (see gpusNow).
func (ps *pass) earliestOne(g *gang) ([]int, int64) {
	return ps.soonest(ps.bestOne(g, noFit))
}

// bestOne is earliestOne's choice, as a soonest, or best if no fit is
// better (see soonest.offer): best, when set, is a fit found elsewhere,
// which also bounds the search.
func (ps *pass) bestOne(g *gang, best soonest) soonest {
	for _, ci := range ps.elig {
		c := &ps.classes[ci]
		need, limit := g.need(c), best.at
		if best.node >= 0 && c.weight > best.weight {
			limit-- // a tie would lose
		}
		s := &ps.search
		ok := c.idx.first(s, need, g.dur, limit)
		for ok && s.at == 0 && !ps.gpusNow(g, c.nodes[s.pos]) {
			ok = s.more()
		}
		if ok {
			best.offer(c.nodes[s.pos], s.at, c.weight)
		}
	}
	return best
}

// gangCursor walks one class's start index for earliestGang.
type gangCursor struct {
	c  *class
	s  search
	ok bool
}

// openRun is a node on which a gang's member can start at any time from when
// it was found until latest.
type openRun struct {
	node   int
	latest int64
}

// earliestGang is earliest for a gang on classes that all keep start
// indexes. A gang's earliest start is the earliest time at which m nodes
// can each start a member; it is a step of one of them (if they all fit
// from inside their steps, they fit from the latest of those steps'
// starts). So the search walks the steps of the eligible classes in time
// order, merged, keeping the nodes whose run (the stretch over which the
// member fits, found at its first step) is still open, and stops at the
// first time that has m of them.
func (ps *pass) earliestGang(g *gang) ([]int, int64) {
	curs := slices.Grow(ps.gcurs[:0], len(ps.elig))[:len(ps.elig)]
	ps.gcurs = curs
	for k, ci := range ps.elig {
		c := &ps.classes[ci]
		curs[k].c = c
		curs[k].ok = c.idx.first(&curs[k].s, g.need(c), g.dur, never)
	}
	if len(ps.open) < len(ps.nodes) {
		ps.open = make([]bool, len(ps.nodes))
	}
	runs := ps.runs[:0]
	defer func() {
		for _, r := range runs {
			ps.open[r.node] = false
		}
		ps.runs = runs[:0]
	}()
	for {
		t, any := never, false
		for k := range curs {
			if curs[k].ok && (!any || curs[k].s.at < t) {
				t, any = curs[k].s.at, true
			}
		}
		if !any {
			return nil, never
		}
		runs = slices.DeleteFunc(runs, func(r openRun) bool {
			if r.latest < t {
				ps.open[r.node] = false
				return true
			}
			return false
		})
		for k := range curs {
			cu := &curs[k]
			for cu.ok && cu.s.at == t {
				// Now, a node's free GPUs must be of the kind asked for;
				// until its profile next changes they stay what they are,
				// so such a node is looked at again from its next step.
				if i := cu.c.nodes[cu.s.pos]; !ps.open[i] && (t > 0 || ps.gpusNow(g, i)) {
					p := &ps.nodes[i].prof
					latest := never
					if b := p.blocked(cu.s.need, p.find(t), never); b >= 0 {
						latest = p.steps[b].at - g.dur
					}
					runs = append(runs, openRun{node: i, latest: latest})
					ps.open[i] = true
				}
				cu.ok = cu.s.more()
			}
		}
		if len(runs) >= g.n {
			fit := ps.cands[:0]
			for _, r := range runs {
				fit = append(fit, r.node)
			}
			ps.cands = fit
			return ps.pick(fit, g.n), t
		}
	}
}
