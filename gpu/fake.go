package gpu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
)

// Fake is an in-memory Backend for tests and for `noded --gpu-backend=fake`.
type Fake struct {
	Devs []Device
	Err  error // if set, Devices returns it
	// Problems is what Health reports.
	Problems []Problem
}

var _ Backend = (*Fake)(nil)

// Devices returns a deep copy of Devs (callers may modify it), or Err.
func (f *Fake) Devices(context.Context) ([]Device, error) {
	if f.Err != nil {
		return nil, f.Err
	}
	out := slices.Clone(f.Devs)
	for i := range out {
		out[i].Links = slices.Clone(out[i].Links)
		out[i].CPUAffinity = slices.Clone(out[i].CPUAffinity)
	}
	return out, nil
}

// Close does nothing.
func (f *Fake) Close() error { return nil }

// NewFakeHost returns n identical 80 GiB GPUs, half on NUMA node 0 and half
// on node 1, like a two-socket 8-GPU PCIe server: no NVLink, NODE between
// GPUs of one socket and SYS across sockets.
func NewFakeHost(n int) *Fake {
	f := &Fake{}
	for i := range n {
		f.Devs = append(f.Devs, Device{Index: i, UUID: fmt.Sprintf("GPU-fake-%04d", i),
			Model: "FakeGPU-80GB", MemoryMiB: 80 * 1024, NUMANode: i * 2 / n,
			PCIBusID: fmt.Sprintf("0000:%02x:00.0", 0x10+i), Minor: i})
	}
	connect(f.Devs, func(a, b Device) Link {
		if a.NUMANode == b.NUMANode {
			return Link{Path: PathNUMANode}
		}
		return Link{Path: PathSystem}
	})
	return f
}

// DGXA100NUMANodes are the NUMA nodes of GPUs 0-7 in an NVIDIA DGX A100
// (two AMD EPYC 7742 in NPS4 mode, so eight NUMA nodes), as its
// nvidia-smi topo -m prints them: GPU pairs sit on nodes 3, 1, 7 and 5.
var DGXA100NUMANodes = [8]int{3, 3, 1, 1, 7, 7, 5, 5}

// DGXA100BusIDs are the PCI addresses of GPUs 0-7 in a DGX A100.
var DGXA100BusIDs = [8]string{
	"0000:07:00.0", "0000:0f:00.0", "0000:47:00.0", "0000:4e:00.0",
	"0000:87:00.0", "0000:90:00.0", "0000:b7:00.0", "0000:bd:00.0",
}

// NewFakeDGXA100 returns the eight A100-SXM4-40GB GPUs of a DGX A100: every
// pair joined by 12 NVLinks through the six NVSwitches (nvidia-smi: NV12),
// the two GPUs of a pair behind the same PCIe switches (PXB) and the rest
// across NUMA nodes (SYS), NUMA nodes as in DGXA100NUMANodes.
func NewFakeDGXA100() *Fake {
	f := &Fake{}
	for i := range 8 {
		f.Devs = append(f.Devs, Device{Index: i, UUID: fmt.Sprintf("GPU-fake-a100-%04d", i),
			Model: "NVIDIA A100-SXM4-40GB", MemoryMiB: 40960, NUMANode: DGXA100NUMANodes[i],
			PCIBusID: DGXA100BusIDs[i], Minor: i, CPUAffinity: DGXA100CPUs(DGXA100NUMANodes[i])})
	}
	connect(f.Devs, func(a, b Device) Link {
		return Link{Path: DGXA100Path(a.Index, b.Index), NVLinks: 12}
	})
	return f
}

// DGXA100CPUs are the CPUs of NUMA node n of a DGX A100 (2 × 64 cores,
// SMT on, NPS4: 16 cores and their 16 sibling threads per node), the
// CPU affinity nvidia-smi topo -m prints for its GPUs ("48-63,176-191"
// for GPU0 on node 3).
func DGXA100CPUs(n int) []int {
	var cpus []int
	for _, base := range []int{16 * n, 128 + 16*n} {
		for c := range 16 {
			cpus = append(cpus, base+c)
		}
	}
	return cpus
}

// PCIe4BusIDs are the PCI addresses of GPUs 0-3 of the PCIe server that
// NewFakePCIe4 describes: one PCIe switch per socket, two GPUs behind each.
var PCIe4BusIDs = [4]string{"0000:17:00.0", "0000:18:00.0", "0000:ca:00.0", "0000:cb:00.0"}

// PCIe4CPUs are the CPUs of NUMA node (socket) n of that server: two
// 16-core sockets with SMT, node 0 = 0-15,32-47 and node 1 = 16-31,48-63.
func PCIe4CPUs(n int) []int {
	var cpus []int
	for _, base := range []int{16 * n, 32 + 16*n} {
		for c := range 16 {
			cpus = append(cpus, base+c)
		}
	}
	return cpus
}

// NewFakePCIe4 returns a two-socket server with four NVIDIA
// A30-PCIE-24GB cards and no NVLink bridges: GPUs 0-1 behind one PCIe
// switch on NUMA node 0, GPUs 2-3 behind another on node 1 (nvidia-smi:
// PIX within a pair, SYS across), each pair's CPU affinity its socket's
// CPUs (PCIe4CPUs).
func NewFakePCIe4() *Fake {
	f := &Fake{}
	for i := range 4 {
		f.Devs = append(f.Devs, Device{Index: i, UUID: fmt.Sprintf("GPU-fake-a30-%04d", i),
			Model: "NVIDIA A30-PCIE-24GB", MemoryMiB: 24576, NUMANode: i / 2,
			PCIBusID: PCIe4BusIDs[i], Minor: i, CPUAffinity: PCIe4CPUs(i / 2)})
	}
	connect(f.Devs, func(a, b Device) Link {
		if a.Index/2 == b.Index/2 {
			return Link{Path: PathSingleSwitch}
		}
		return Link{Path: PathSystem}
	})
	return f
}

// DGXA100Path is the PCIe path level between GPUs i and j of a DGX A100.
func DGXA100Path(i, j int) PathLevel {
	if i/2 == j/2 {
		return PathMultiSwitch
	}
	return PathSystem
}

// connect fills every device's Links with link(a, b) for each other device.
func connect(devs []Device, link func(a, b Device) Link) {
	for i := range devs {
		devs[i].Links = nil
		for _, p := range devs {
			if p.Index == devs[i].Index {
				continue
			}
			l := link(devs[i], p)
			l.Peer = p.Index
			devs[i].Links = append(devs[i].Links, l)
		}
	}
}

// LoadFake reads a Fake from a JSON file holding a list of Devices, as
// written by json.Marshal of Fake.Devs (see testdata/gpu/).
func LoadFake(path string) (*Fake, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load fake gpus: %w", err)
	}
	f := &Fake{}
	if err := json.Unmarshal(b, &f.Devs); err != nil {
		return nil, fmt.Errorf("load fake gpus %s: %w", path, err)
	}
	for _, d := range f.Devs {
		if !slices.IsSortedFunc(d.Links, func(a, b Link) int { return a.Peer - b.Peer }) {
			return nil, fmt.Errorf("load fake gpus %s: device %d: links not sorted by peer", path, d.Index)
		}
	}
	return f, nil
}
