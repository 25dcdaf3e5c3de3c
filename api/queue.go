package api

import (
	"fmt"
	"regexp"
	"strings"
)

// Queue is a job queue (LSF queue, AWS Batch job queue): where a job is
// submitted, which decides its priority, the nodes it may use, its
// walltime defaults and limits, who may use it, and per-user limits.
type Queue struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Priority orders queues: jobs of a higher-priority queue are
	// considered first.
	Priority int `json:"priority"`
	// Nodes selects the nodes the queue's jobs may use by label
	// (all must match); empty means every node.
	Nodes map[string]string `json:"nodes,omitempty"`
	// DefaultWalltimeSeconds applies to jobs that name none;
	// MaxWalltimeSeconds is the largest a job may ask for (0: no limit).
	DefaultWalltimeSeconds int64 `json:"default_walltime_seconds,omitempty"`
	MaxWalltimeSeconds     int64 `json:"max_walltime_seconds,omitempty"`
	// Per-user limits on what runs at once (0: no limit).
	MaxRunningJobsPerUser int `json:"max_running_jobs_per_user,omitempty"`
	MaxCoresPerUser       int `json:"max_cores_per_user,omitempty"`
	MaxGPUsPerUser        int `json:"max_gpus_per_user,omitempty"`
	// Users and Groups may submit (by name); both empty means everyone.
	// Admins always may.
	Users  []string `json:"users,omitempty"`
	Groups []string `json:"groups,omitempty"`
	// Preempts names the queues whose jobs this queue's jobs may preempt,
	// and PreemptMode what happens to a victim: "requeue" or "suspend".
	Preempts    []string `json:"preempts,omitempty"`
	PreemptMode string   `json:"preempt_mode,omitempty"`
	// Open queues accept submissions; Active queues dispatch jobs. A
	// closed, active queue drains; an open, inactive one collects jobs.
	Open   bool `json:"open"`
	Active bool `json:"active"`
	// Source says where the definition comes from: "config" (the queues
	// file, which overwrites it on every reload) or "api".
	Source string `json:"source,omitempty"`

	// Pending, Runnable and Running count the queue's jobs (read only).
	Pending  int `json:"pending"`
	Runnable int `json:"runnable"`
	Running  int `json:"running"`
}

// QueueList answers GET /v1/queues.
type QueueList struct {
	Queues []Queue `json:"queues"`
}

var queueName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,62}$`)

// Validate checks a queue definition and names the first bad field.
func (q *Queue) Validate() error {
	switch {
	case !queueName.MatchString(q.Name):
		return fmt.Errorf("queue name %q: want a letter, then letters, digits, '.', '_' or '-' (at most 63)", q.Name)
	case q.DefaultWalltimeSeconds < 0 || q.MaxWalltimeSeconds < 0:
		return fmt.Errorf("queue %s: walltimes must not be negative", q.Name)
	case q.MaxWalltimeSeconds > 0 && q.DefaultWalltimeSeconds > q.MaxWalltimeSeconds:
		return fmt.Errorf("queue %s: default walltime %ds exceeds the maximum %ds", q.Name, q.DefaultWalltimeSeconds, q.MaxWalltimeSeconds)
	case q.MaxRunningJobsPerUser < 0 || q.MaxCoresPerUser < 0 || q.MaxGPUsPerUser < 0:
		return fmt.Errorf("queue %s: per-user limits must not be negative", q.Name)
	case q.PreemptMode != "" && q.PreemptMode != "requeue" && q.PreemptMode != "suspend":
		return fmt.Errorf("queue %s: preempt_mode %q: want requeue or suspend", q.Name, q.PreemptMode)
	case len(q.Description) > 1024 || strings.ContainsAny(q.Description, "\x00"):
		return fmt.Errorf("queue %s: description too long", q.Name)
	}
	for _, p := range q.Preempts {
		if !queueName.MatchString(p) || p == q.Name {
			return fmt.Errorf("queue %s: preempts %q: not another queue's name", q.Name, p)
		}
	}
	for k, v := range q.Nodes {
		if k == "" || strings.ContainsAny(k+v, "\x00\n") {
			return fmt.Errorf("queue %s: node label %q=%q: bad label", q.Name, k, v)
		}
	}
	return nil
}

// Restricted reports whether the queue limits who may submit to it;
// callers skip the group lookups Admits needs when it does not.
func (q *Queue) Restricted() bool { return len(q.Users) > 0 || len(q.Groups) > 0 }

// Admits reports whether user (with these group names) may submit to q.
func (q *Queue) Admits(user string, groups []string) bool {
	if !q.Restricted() {
		return true
	}
	for _, u := range q.Users {
		if u == user {
			return true
		}
	}
	for _, g := range q.Groups {
		for _, mine := range groups {
			if g == mine {
				return true
			}
		}
	}
	return false
}
