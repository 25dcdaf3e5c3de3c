package server

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/gantry-hpc/gantry/api"
)

// queueFile is the TOML queues file (gantry server --queues FILE):
//
//	[queues.normal]
//	priority = 30
//	default_walltime = "1:00"       # [hours:]minutes, or 90m, 36h
//	max_walltime = "168:00"
//
//	[queues.gpu]
//	priority = 50
//	nodes = { gpu = "h100" }        # only nodes with these labels
//	groups = ["ml"]                 # who may submit (users, groups)
//	max_running_jobs_per_user = 8
//	preempts = ["scavenger"]
//	preempt_mode = "requeue"
//	open = true                     # accepts submissions (default true)
//	active = true                   # dispatches jobs (default true)
type queueFile struct {
	Queues map[string]queueEntry `toml:"queues"`
}

type queueEntry struct {
	Description           string            `toml:"description"`
	Priority              int               `toml:"priority"`
	Nodes                 map[string]string `toml:"nodes"`
	DefaultWalltime       string            `toml:"default_walltime"`
	MaxWalltime           string            `toml:"max_walltime"`
	MaxRunningJobsPerUser int               `toml:"max_running_jobs_per_user"`
	MaxCoresPerUser       int               `toml:"max_cores_per_user"`
	MaxGPUsPerUser        int               `toml:"max_gpus_per_user"`
	Users                 []string          `toml:"users"`
	Groups                []string          `toml:"groups"`
	Preempts              []string          `toml:"preempts"`
	PreemptMode           string            `toml:"preempt_mode"`
	Open                  *bool             `toml:"open"`
	Active                *bool             `toml:"active"`
}

// parseQueueFile reads queue definitions from TOML. Unknown keys, bad
// walltimes and invalid definitions are errors naming the queue and key.
func parseQueueFile(data string) ([]api.Queue, error) {
	var f queueFile
	md, err := toml.Decode(data, &f)
	if err != nil {
		return nil, fmt.Errorf("queues file: %w", err)
	}
	if un := md.Undecoded(); len(un) > 0 {
		keys := make([]string, len(un))
		for i, k := range un {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("queues file: unknown keys: %s", strings.Join(keys, ", "))
	}
	var out []api.Queue
	for _, name := range slices.Sorted(maps.Keys(f.Queues)) {
		e := f.Queues[name]
		q := api.Queue{
			Name: name, Description: e.Description, Priority: e.Priority, Nodes: e.Nodes,
			MaxRunningJobsPerUser: e.MaxRunningJobsPerUser, MaxCoresPerUser: e.MaxCoresPerUser, MaxGPUsPerUser: e.MaxGPUsPerUser,
			Users: e.Users, Groups: e.Groups, Preempts: e.Preempts, PreemptMode: e.PreemptMode,
			Open: e.Open == nil || *e.Open, Active: e.Active == nil || *e.Active, Source: "config",
		}
		for _, w := range []struct {
			key, val string
			dst      *int64
		}{{"default_walltime", e.DefaultWalltime, &q.DefaultWalltimeSeconds}, {"max_walltime", e.MaxWalltime, &q.MaxWalltimeSeconds}} {
			if w.val == "" {
				continue
			}
			d, err := api.ParseWalltime(w.val)
			if err != nil {
				return nil, fmt.Errorf("queues file: queue %s: %s: %w", name, w.key, err)
			}
			*w.dst = int64(d / time.Second)
		}
		if err := q.Validate(); err != nil {
			return nil, fmt.Errorf("queues file: %w", err)
		}
		out = append(out, q)
	}
	return out, nil
}

// loadQueueFile reads and parses path.
func loadQueueFile(path string) ([]api.Queue, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("queues file: %w", err)
	}
	qs, err := parseQueueFile(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return qs, nil
}
