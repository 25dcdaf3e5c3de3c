package noded

import (
	"slices"
	"testing"

	"github.com/gantry-hpc/gantry/noded/discover"
)

func TestNUMANodesOf(t *testing.T) {
	topo := &discover.Topology{NUMANodes: []discover.NUMANode{
		{ID: 0, CPUs: []int{0, 1, 2, 3}},
		{ID: 1, CPUs: []int{4, 5, 6, 7}},
		{ID: 2}, // memory only
	}}
	tests := []struct {
		name string
		cpus []int
		want []int
	}{
		{"one node", []int{1, 2}, []int{0}},
		{"second node", []int{6}, []int{1}},
		{"spanning", []int{3, 4}, []int{0, 1}},
		{"no cpus", nil, nil},
		{"unknown cpu", []int{99}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := numaNodesOf(topo, tt.cpus); !slices.Equal(got, tt.want) {
				t.Errorf("numaNodesOf(%v) = %v, want %v", tt.cpus, got, tt.want)
			}
		})
	}
}
