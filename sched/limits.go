package sched

import "fmt"

// Per-user limits of a queue (Queue.MaxRunningPerUser, MaxCoresPerUser,
// MaxGPUsPerUser) count the user's running jobs in that queue and those
// the pass starts. A job that would exceed one waits with ReasonLimit and
// is passed over: it is not the head of an EASY queue and gets no
// reservation, since nothing says when the user's other jobs end.

type userKey struct{ queue, user string }

type userUse struct {
	jobs        int
	cores, gpus int64
	seen        map[int64]bool // running jobs already counted
}

func (ps *pass) userUse(queue, user string) *userUse {
	k := userKey{queue, user}
	u := ps.use[k]
	if u == nil {
		u = &userUse{seen: map[int64]bool{}}
		ps.use[k] = u
	}
	return u
}

// count adds a running allocation to its user's use.
func (ps *pass) count(a *Allocation, held *vec) {
	if q := ps.queues[a.Queue]; q == nil || a.Suspended {
		return
	}
	u := ps.userUse(a.Queue, a.User)
	if !u.seen[a.Job] {
		u.seen[a.Job] = true
		u.jobs++
	}
	u.cores += held[resCores]
	u.gpus += held[resGPUs]
}

// countStart adds a started job to its user's use.
func (ps *pass) countStart(g *gang) {
	if ps.queues[g.job.Queue] == nil {
		return
	}
	u := ps.userUse(g.job.Queue, g.job.User)
	u.jobs++
	u.cores += g.total[resCores]
	u.gpus += g.total[resGPUs]
}

// limited reports whether starting g would break a limit of its queue,
// and records which in g.limit.
func (ps *pass) limited(g *gang) bool {
	q := ps.queues[g.job.Queue]
	if q == nil {
		return false
	}
	u := ps.use[userKey{q.Name, g.job.User}]
	if u == nil {
		u = &userUse{}
	}
	switch {
	case q.MaxRunningPerUser > 0 && u.jobs+1 > q.MaxRunningPerUser:
		g.limit = fmt.Sprintf("queue %s allows %d running jobs per user", q.Name, q.MaxRunningPerUser)
	case q.MaxCoresPerUser > 0 && u.cores+g.total[resCores] > int64(q.MaxCoresPerUser):
		g.limit = fmt.Sprintf("queue %s allows %d cores per user", q.Name, q.MaxCoresPerUser)
	case q.MaxGPUsPerUser > 0 && u.gpus+g.total[resGPUs] > int64(q.MaxGPUsPerUser):
		g.limit = fmt.Sprintf("queue %s allows %d GPUs per user", q.Name, q.MaxGPUsPerUser)
	default:
		return false
	}
	return true
}
