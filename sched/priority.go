package sched

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Multifactor priority. With Snapshot.Priority set, a pass orders the
// pending jobs by
//
//	priority = Queue·q + Age·a + FairShare·f + Size·s + boost
//
// where every factor is in [0, 1]:
//
//   - q, the queue: the job's queue priority over the highest queue
//     priority in Snapshot.Queues (0 if that is not positive);
//   - a, age: time since submission over MaxAge, capped at 1;
//   - f, fair share, two levels as in Slurm's fair tree and AWS Batch's
//     share identifiers: with U the decayed usage and S the shares,
//     normalized among siblings (groups among groups, users among the
//     users of their group, counting those with pending jobs or usage),
//     fg = 2^(-Ug/Sg) for the job's group and fu = 2^(-Uu/Su) for its
//     user within the group, and f = fg·(1+fu)/2: a group that used less
//     than its share comes first, and within it a user who did;
//   - s, size: the job's cores over the up nodes' cores, or its GPUs over
//     their GPUs, whichever is larger (large jobs first, as Slurm's
//     default, so that they are not starved);
//   - boost: Job.Boost, an administrator's boost, as is.
//
// Usage decays exponentially with HalfLife: a record of v at time t
// counts v·2^(-(now-t)/HalfLife). Ties keep the snapshot's order.

// PriorityConfig holds the weights and fair-share inputs.
type PriorityConfig struct {
	Queue, Age, FairShare, Size float64
	// MaxAge is the age at which the age factor reaches 1 (0: 7 days).
	MaxAge time.Duration
	// HalfLife decays Usage (0: no decay).
	HalfLife time.Duration
	// Usage is what users consumed (any unit, e.g. core-seconds), as of
	// At; several records of one user add up.
	Usage []Usage
	// UserShares and GroupShares are the shares (default 1).
	UserShares, GroupShares map[string]float64
}

// Usage is a user's consumption as of a time.
type Usage struct {
	User, Group string
	Value       float64
	At          time.Time
}

// DefaultPriority is the live server's default weighting: fair share
// first, then queue, then age and size; usage halves every 7 days.
func DefaultPriority() *PriorityConfig {
	return &PriorityConfig{Queue: 10000, Age: 1000, FairShare: 20000, Size: 1000,
		MaxAge: 7 * 24 * time.Hour, HalfLife: 7 * 24 * time.Hour}
}

// JobPriority is one job's priority and its factors (each in [0, 1],
// before weighting).
type JobPriority struct {
	Job                         int64
	Priority                    float64
	Queue, Age, FairShare, Size float64
	Boost                       int64
}

// Prioritize returns every pending job's priority, highest first (see
// above). snap.Priority nil means DefaultPriority. It is pure.
func Prioritize(snap Snapshot) []JobPriority {
	out, _ := prioritize(&snap)
	return out
}

// prioritize is Prioritize, and also gives the order it sorted the jobs
// into: out[k] is the priority of snap.Pending[order[k]].
func prioritize(snap *Snapshot) (out []JobPriority, order []int) {
	cfg := snap.Priority
	if cfg == nil {
		cfg = DefaultPriority()
	}
	maxAge := cfg.MaxAge
	if maxAge <= 0 {
		maxAge = 7 * 24 * time.Hour
	}
	qprio := map[string]float64{}
	top := 0.0
	for _, q := range snap.Queues {
		qprio[q.Name] = float64(q.Priority)
		top = max(top, float64(q.Priority))
	}
	var cores, gpus float64
	for _, n := range snap.Nodes {
		if n.State != NodeUp {
			continue
		}
		if len(n.CPUs) > 0 {
			cores += float64(len(n.CPUs))
		} else {
			cores += float64(n.Cores)
		}
		gpus += float64(len(n.GPUs))
	}
	fs := fairShare(snap, cfg)
	out = make([]JobPriority, len(snap.Pending))
	for k, j := range snap.Pending {
		p := JobPriority{Job: j.ID, Boost: j.Boost}
		if top > 0 {
			p.Queue = max(qprio[j.Queue], 0) / top
		}
		if j.Submit != 0 {
			p.Age = min(max(float64(snap.Now.Sub(j.Submit.Time()))/float64(maxAge), 0), 1)
		}
		p.FairShare = fs[userKey{j.Group, j.User}]
		g := request(j, math.MaxInt)
		if cores > 0 {
			p.Size = float64(g.total[resCores]) / cores
		}
		if gpus > 0 {
			p.Size = max(p.Size, float64(g.total[resGPUs])/gpus)
		}
		p.Size = min(p.Size, 1)
		p.Priority = cfg.Queue*p.Queue + cfg.Age*p.Age + cfg.FairShare*p.FairShare + cfg.Size*p.Size + float64(p.Boost)
		out[k] = p
	}
	order = make([]int, len(out))
	for k := range order {
		order[k] = k
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(out[b].Priority, out[a].Priority) })
	permute(out, order)
	return out, order
}

// permute puts s in the given order, in place: s[k] becomes the old
// s[order[k]]. order is a permutation of s's indexes; it is changed
// meanwhile and restored. (A sorted copy of a million priorities would
// cost 56 MB more at the peak of a pass.)
func permute[T any](s []T, order []int) {
	// Each cycle of the permutation is moved once; an index is marked
	// done by complementing its entry (order's entries are not negative).
	for start := range s {
		if order[start] < 0 {
			continue
		}
		first := s[start]
		k := start
		for {
			from := order[k]
			order[k] = ^from
			if from == start {
				s[k] = first
				break
			}
			s[k] = s[from]
			k = from
		}
	}
	for k := range order {
		order[k] = ^order[k]
	}
}

// fairShare returns the fair-share factor of each (group, user) with
// pending jobs; userKey's queue field holds the group here.
func fairShare(snap *Snapshot, cfg *PriorityConfig) map[userKey]float64 {
	decay := func(u *Usage) float64 {
		if cfg.HalfLife <= 0 || u.At.IsZero() {
			return u.Value
		}
		age := float64(snap.Now.Sub(u.At)) / float64(cfg.HalfLife)
		return u.Value * math.Exp2(-max(age, 0))
	}
	share := func(m map[string]float64, name string) float64 {
		if s, ok := m[name]; ok {
			return max(s, 0)
		}
		return 1
	}
	groupUse := map[string]float64{}
	userUse := map[userKey]float64{}
	members := map[string][]string{} // group → users
	note := func(group, user string) {
		k := userKey{group, user}
		if _, ok := userUse[k]; !ok {
			userUse[k] = 0
			members[group] = append(members[group], user)
		}
		if _, ok := groupUse[group]; !ok {
			groupUse[group] = 0
		}
	}
	for k := range cfg.Usage {
		u := &cfg.Usage[k]
		note(u.Group, u.User)
		v := max(decay(u), 0)
		userUse[userKey{u.Group, u.User}] += v
		groupUse[u.Group] += v
	}
	for _, j := range snap.Pending {
		note(j.Group, j.User)
	}
	// Sums in a fixed order, so that the floats are the same every pass.
	groups := slices.Sorted(func(yield func(string) bool) {
		for g := range groupUse {
			if !yield(g) {
				return
			}
		}
	})
	var totalUse, totalShares float64
	for _, g := range groups {
		totalUse += groupUse[g]
		totalShares += share(cfg.GroupShares, g)
	}
	f := func(u, s float64) float64 {
		if s <= 0 {
			return 0
		}
		return math.Exp2(-u / s)
	}
	out := map[userKey]float64{}
	for _, g := range groups {
		ug, sg := 0.0, 0.0
		if totalUse > 0 {
			ug = groupUse[g] / totalUse
		}
		if totalShares > 0 {
			sg = share(cfg.GroupShares, g) / totalShares
		}
		fg := f(ug, sg)
		users := slices.Sorted(slices.Values(members[g]))
		var us float64
		for _, u := range users {
			us += share(cfg.UserShares, u)
		}
		for _, u := range users {
			uu, su := 0.0, 0.0
			if groupUse[g] > 0 {
				uu = userUse[userKey{g, u}] / groupUse[g]
			}
			if us > 0 {
				su = share(cfg.UserShares, u) / us
			}
			out[userKey{g, u}] = fg * (1 + f(uu, su)) / 2
		}
	}
	return out
}
