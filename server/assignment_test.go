package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

// envOf returns the value of name in env, and whether it is set.
func envOf(env []string, name string) (string, bool) {
	for _, kv := range slices.Backward(env) {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v, true
		}
	}
	return "", false
}

// TestAssignmentRanks checks what a job's processes are told of their
// ranks: nothing for a plain job, a gang of one for a one-node job with
// tasks (its node picks MASTER_PORT), and rank 0's port for a gang.
func TestAssignmentRanks(t *testing.T) {
	base := api.Job{ID: 7, Node: "n1", CPUs: []int{0, 1}, GPUs: []int{2, 3},
		Spec: api.JobSpec{Command: []string{"true"}, Cwd: "/tmp", NumGPUs: 2}}
	tests := []struct {
		name     string
		mod      func(j *api.Job)
		node     string
		gang     *api.GangPart
		env      map[string]string // "" value: must be unset
		hostfile string
	}{
		{
			name: "plain", node: "n1",
			env:      map[string]string{"WORLD_SIZE": "", "MASTER_ADDR": "", "MASTER_PORT": ""},
			hostfile: "n1\nn1\n",
		},
		{
			name: "one node per gpu", node: "n1",
			mod:  func(j *api.Job) { j.Spec.TasksPerGPU = 1 },
			gang: &api.GangPart{Rank: 0, Release: true, Tasks: 2, FirstTask: 0, PerGPU: true, PickPort: true},
			env: map[string]string{"WORLD_SIZE": "2", "RANK": "0", "NODE_RANK": "0", "NNODES": "1",
				"LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "", "PET_MASTER_PORT": ""},
			hostfile: "n1\nn1\n",
		},
		{
			name: "nodes 1", node: "n1",
			mod:  func(j *api.Job) { j.Spec.Nodes = 1 },
			gang: &api.GangPart{Rank: 0, Release: true, Tasks: 1, PickPort: true},
			env:  map[string]string{"WORLD_SIZE": "1", "RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": ""},
		},
		{
			name: "gang rank 1", node: "n2",
			mod: func(j *api.Job) {
				j.Spec.Nodes, j.Spec.TasksPerGPU = 2, 1
				j.Parts = []api.JobPart{
					{Rank: 0, Node: "n1", Address: "10.0.0.1", Port: 29500, Ready: true, GPUs: []int{2, 3}},
					{Rank: 1, Node: "n2", Address: "10.0.0.2", Ready: true, GPUs: []int{0, 1}},
				}
			},
			gang: &api.GangPart{Rank: 1, Release: true, Tasks: 2, FirstTask: 2, PerGPU: true},
			env: map[string]string{"WORLD_SIZE": "4", "RANK": "2", "NODE_RANK": "1", "NNODES": "2",
				"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "PET_MASTER_PORT": "29500"},
			hostfile: "10.0.0.1\n10.0.0.1\n10.0.0.2\n10.0.0.2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := base
			if tt.mod != nil {
				tt.mod(&j)
			}
			as := assignmentOf(j, tt.node)
			switch {
			case tt.gang == nil && as.Gang != nil:
				t.Errorf("gang part %+v, want none", *as.Gang)
			case tt.gang != nil && (as.Gang == nil || *as.Gang != *tt.gang):
				t.Errorf("gang part %+v, want %+v", as.Gang, *tt.gang)
			}
			for name, want := range tt.env {
				got, set := envOf(as.Env, name)
				if want == "" && set || want != "" && got != want {
					t.Errorf("%s=%q (set %v), want %q", name, got, set, want)
				}
			}
			if tt.hostfile != "" && as.Hostfile != tt.hostfile {
				t.Errorf("hostfile %q, want %q", as.Hostfile, tt.hostfile)
			}
		})
	}
}
