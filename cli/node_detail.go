package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/cpuset"
	"github.com/gantry-hpc/gantry/gpu"
	"github.com/gantry-hpc/gantry/noded/discover"
)

// printNode shows one node for a person: resources, labels, and the
// topology its daemon reported.
func printNode(w io.Writer, n api.Node) error {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', 0)
	fmt.Fprintf(tw, "Node:\t%s\n", n.Name)
	fmt.Fprintf(tw, "Hostname:\t%s\n", dash(n.Hostname))
	fmt.Fprintf(tw, "State:\t%s\n", n.State)
	if d := n.Drain; d != nil {
		fmt.Fprintf(tw, "Drained:\t%s, by %s since %s\n", d.Reason, d.By, d.Since.Local().Format(time.DateTime))
		if d.Deadline != nil {
			fmt.Fprintf(tw, "Deadline:\t%s\n", d.Deadline.Local().Format(time.DateTime))
		}
	}
	fmt.Fprintf(tw, "CPUs:\t%s (%d, %d allocated)\n", cpuset.Format(n.CPUs), len(n.CPUs), n.AllocCores)
	fmt.Fprintf(tw, "Memory:\t%s (%s allocated)\n", api.FormatMemory(n.MemoryBytes), api.FormatMemory(n.AllocMemoryBytes))
	fmt.Fprintf(tw, "Jobs:\t%d\n", n.Jobs)
	if len(n.Labels) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
			kv = append(kv, k+"="+n.Labels[k])
		}
		fmt.Fprintf(tw, "Labels:\t%s\n", strings.Join(kv, ", "))
	}
	fmt.Fprintf(tw, "Version:\t%s\n", dash(n.Version))
	tw.Flush()
	if len(n.Topology) == 0 {
		fmt.Fprintln(w, "Topology: not reported")
		return nil
	}
	var t discover.Topology
	if err := json.Unmarshal(n.Topology, &t); err != nil {
		return fmt.Errorf("node %s: topology: %w", n.Name, err)
	}
	if len(t.CgroupMissing) > 0 {
		fmt.Fprintf(w, "Cgroups:   %s not delegated to the node daemon: jobs' limits there are not enforced\n", strings.Join(t.CgroupMissing, ", "))
	}
	if t.CPUModel != "" {
		fmt.Fprintf(w, "CPU model: %s\n", t.CPUModel)
	}
	fmt.Fprintf(w, "Sockets:\n")
	for _, s := range t.Sockets {
		threads := 0
		if s.Cores > 0 {
			threads = len(s.CPUs) / s.Cores
		}
		fmt.Fprintf(w, "  socket %d: %d cores, %d threads/core, cpus %s\n", s.ID, s.Cores, threads, cpuset.Format(s.CPUs))
	}
	fmt.Fprintf(w, "NUMA nodes:\n")
	for _, nn := range t.NUMANodes {
		fmt.Fprintf(w, "  node %d: cpus %s, memory %s", nn.ID, dash(cpuset.Format(nn.CPUs)), api.FormatMemory(int64(nn.MemoryBytes)))
		if len(nn.Distances) > 0 {
			fmt.Fprintf(w, ", distances %v", nn.Distances)
		}
		fmt.Fprintln(w)
	}
	if len(t.GPUs) == 0 {
		fmt.Fprintln(w, "GPUs: none")
		return nil
	}
	fmt.Fprintln(w, "GPUs:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  INDEX\tMODEL\tMEMORY\tNUMA\tPCI\tMIG\tUUID")
	for _, g := range t.GPUs {
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%d\t%s\t%v\t%s\n", g.Index, g.Model, api.FormatMemory(int64(g.MemoryMiB)<<20), g.NUMANode, dash(g.PCIBusID), g.MIGEnabled, g.UUID)
	}
	tw.Flush()
	fmt.Fprintln(w, "GPU links:")
	fmt.Fprint(w, gpu.Matrix(t.GPUs))
	return nil
}
