package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/noded/discover"
)

// TestPrintNodeCgroups: a node whose daemon could not get every cgroup
// controller for its jobs says which, and that their limits are not
// enforced; a node that got them all says nothing of it.
func TestPrintNodeCgroups(t *testing.T) {
	for _, tt := range []struct {
		missing []string
		want    string // "" : no Cgroups line
	}{
		{nil, ""},
		{[]string{"cpuset", "cpu", "pids"}, "Cgroups:   cpuset, cpu, pids not delegated to the node daemon: jobs' limits there are not enforced\n"},
	} {
		topo, err := json.Marshal(discover.Topology{Hostname: "n1", CgroupMissing: tt.missing})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := printNode(&b, api.Node{Name: "n1", State: "UP", Topology: topo}); err != nil {
			t.Fatal(err)
		}
		got := b.String()
		if tt.want == "" && strings.Contains(got, "Cgroups:") || tt.want != "" && !strings.Contains(got, tt.want) {
			t.Errorf("missing %v:\n%s\nwant the line %q", tt.missing, got, tt.want)
		}
	}
}
