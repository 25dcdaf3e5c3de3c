package cli

import (
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

func TestExecHost(t *testing.T) {
	for _, tt := range []struct {
		job  api.Job
		want string
	}{
		{api.Job{}, ""},
		{api.Job{Node: "n1", CPUs: []int{3}}, "n1"},
		{api.Job{Node: "n1", CPUs: []int{0, 1, 2, 3}}, "4*n1"},
		{api.Job{Node: "n1", CPUs: []int{0, 1}, Parts: []api.JobPart{
			{Rank: 0, Node: "n1", CPUs: []int{0, 1}}, {Rank: 1, Node: "n2", CPUs: []int{0, 1}}, {Rank: 2, Node: "n3", CPUs: []int{5}}}}, "2*n1:2*n2:n3"},
	} {
		if got := execHost(tt.job); got != tt.want {
			t.Errorf("execHost(%+v) = %q, want %q", tt.job, got, tt.want)
		}
	}
}
