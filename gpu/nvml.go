//go:build linux && cgo

package gpu

import (
	"context"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	"github.com/gantry-hpc/gantry/cpuset"
)

// nvmlBackend adapts nvml.Interface to Backend. Production passes
// nvml.New(); tests pass go-nvml's mock servers (e.g. dgxa100.New()).
//
// It calls, per device: GetUUID, GetName, GetMemoryInfo, GetPciInfo,
// GetMinorNumber, GetNumaNodeId, GetCpuAffinity, GetMigMode,
// GetTopologyCommonAncestor (per pair), and for each of the NVLINK_MAX_LINKS links GetNvLinkState, then
// for an active link GetNvLinkRemotePciInfo and, when the remote end is not
// one of our GPUs, GetNvLinkRemoteDeviceType. go-nvml's mocks panic on a
// method whose Func is unset, so tests must set all of these.
type nvmlBackend struct {
	lib     nvml.Interface
	sysRoot string
	// xids watches XID errors for Health, from its first call.
	xids *xidWatch
}

// Option configures NewNVML.
type Option func(*nvmlBackend)

// WithSysRoot makes the adapter read the sysfs fallbacks for a GPU's NUMA
// node and CPU affinity (sys/bus/pci/devices/<bus id>/numa_node and
// local_cpulist) below root instead of "/".
func WithSysRoot(root string) Option {
	return func(b *nvmlBackend) { b.sysRoot = root }
}

// NewNVML initialises lib and returns a Backend. A missing libnvidia-ml, an
// unloaded kernel driver or no permission to open it is reported as
// ErrNoDriver so callers can treat the host as having zero GPUs; any other
// Init failure is returned wrapped. Close shuts NVML down again.
func NewNVML(lib nvml.Interface, opts ...Option) (Backend, error) {
	b := &nvmlBackend{lib: lib, sysRoot: "/"}
	for _, o := range opts {
		o(b)
	}
	switch ret := lib.Init(); ret {
	case nvml.SUCCESS:
	case nvml.ERROR_LIBRARY_NOT_FOUND, nvml.ERROR_DRIVER_NOT_LOADED, nvml.ERROR_NO_PERMISSION:
		return nil, fmt.Errorf("%w: nvml init: %w", ErrNoDriver, ret)
	default:
		return nil, fmt.Errorf("nvml init: %w", ret) // nvml.Return implements error
	}
	return b, nil
}

// openNVML is Detect's way in: the system library.
func openNVML() (Backend, error) { return NewNVML(nvml.New()) }

// Devices reads every device and the pairwise topology. Only listing a
// device or reading its UUID, name and memory can fail it; every other
// fact that the driver does not support becomes unknown.
func (b *nvmlBackend) Devices(ctx context.Context) ([]Device, error) {
	n, ret := b.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml device count: %w", ret)
	}
	handles := make([]nvml.Device, n)
	devs := make([]Device, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("nvml devices: %w", err)
		}
		h, ret := b.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml device %d: %w", i, ret)
		}
		handles[i] = h
		d, err := b.device(i, h)
		if err != nil {
			return nil, err
		}
		devs[i] = d
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nvml devices: %w", err)
	}
	b.links(handles, devs)
	return devs, nil
}

// device reads one GPU's own facts.
func (b *nvmlBackend) device(i int, h nvml.Device) (Device, error) {
	d := Device{Index: i, NUMANode: -1, Minor: -1}
	var ret nvml.Return
	if d.UUID, ret = h.GetUUID(); ret != nvml.SUCCESS {
		return d, fmt.Errorf("nvml device %d uuid: %w", i, ret)
	}
	if d.Model, ret = h.GetName(); ret != nvml.SUCCESS {
		return d, fmt.Errorf("nvml device %d (%s) name: %w", i, d.UUID, ret)
	}
	mem, ret := h.GetMemoryInfo()
	if ret != nvml.SUCCESS {
		return d, fmt.Errorf("nvml device %d (%s) memory: %w", i, d.UUID, ret)
	}
	d.MemoryMiB = mem.Total >> 20

	if pci, ret := h.GetPciInfo(); ret == nvml.SUCCESS {
		d.PCIBusID = busID(pci)
	}
	if m, ret := h.GetMinorNumber(); ret == nvml.SUCCESS {
		d.Minor = m
	}
	if node, ret := h.GetNumaNodeId(); ret == nvml.SUCCESS {
		d.NUMANode = node
	} else if d.PCIBusID != "" {
		// Older drivers and GPUs: ask the kernel about the PCI device.
		d.NUMANode = sysfsNUMANode(b.sysRoot, d.PCIBusID)
	}
	if mask, ret := h.GetCpuAffinity(affinityCPUs); ret == nvml.SUCCESS {
		d.CPUAffinity = maskCPUs(mask)
	}
	if len(d.CPUAffinity) == 0 && d.PCIBusID != "" {
		d.CPUAffinity = sysfsLocalCPUs(b.sysRoot, d.PCIBusID)
	}
	if cur, _, ret := h.GetMigMode(); ret == nvml.SUCCESS {
		d.MIGEnabled = cur == nvml.DEVICE_MIG_ENABLE
	}
	return d, nil
}

// links fills each device's Links: the common PCIe ancestor of every pair,
// and the NVLinks joining it, counted from each GPU's active links. A link
// whose remote end is another of our GPUs is direct; one whose remote end
// is an NVSwitch joins the GPU to the switch fabric, where any two GPUs are
// connected by as many links as the less-connected of them has (an A100 in
// a DGX A100: 12 links to six NVSwitches, so NV12 to every other GPU).
func (b *nvmlBackend) links(handles []nvml.Device, devs []Device) {
	n := len(devs)
	byBus := map[string]int{}
	for i, d := range devs {
		if d.PCIBusID != "" {
			byBus[d.PCIBusID] = i
		}
	}
	direct := make([][]int, n)
	switchLinks := make([]int, n)
	for i, h := range handles {
		direct[i] = make([]int, n)
		for l := range nvml.NVLINK_MAX_LINKS {
			// Links past the device's count report INVALID_ARGUMENT or
			// NOT_SUPPORTED; a GPU without NVLink reports NOT_SUPPORTED.
			st, ret := h.GetNvLinkState(l)
			if ret != nvml.SUCCESS || st != nvml.FEATURE_ENABLED {
				continue
			}
			remote, ret := h.GetNvLinkRemotePciInfo(l)
			if ret != nvml.SUCCESS {
				continue
			}
			if peer, ok := byBus[busID(remote)]; ok && peer != i {
				direct[i][peer]++
				continue
			}
			typ, ret := h.GetNvLinkRemoteDeviceType(l)
			switch {
			case ret == nvml.SUCCESS && typ == nvml.NVLINK_DEVICE_TYPE_SWITCH:
				switchLinks[i]++
			case ret == nvml.SUCCESS:
				// A CPU (IBM NPU) or a GPU hidden from us: no peer to count.
			default:
				// Older drivers cannot say; a remote end that is not one of
				// our GPUs is an NVSwitch on every system that has them.
				switchLinks[i]++
			}
		}
	}

	path := make([][]PathLevel, n)
	for i := range path {
		path[i] = make([]PathLevel, n)
	}
	for i := range n {
		for j := i + 1; j < n; j++ {
			lvl, ret := handles[i].GetTopologyCommonAncestor(handles[j])
			if ret == nvml.SUCCESS {
				path[i][j], path[j][i] = pathLevel(lvl), pathLevel(lvl)
			}
		}
	}
	for i := range n {
		devs[i].Links = make([]Link, 0, n-1)
		for j := range n {
			if j == i {
				continue
			}
			nv := max(direct[i][j], direct[j][i]) + min(switchLinks[i], switchLinks[j])
			devs[i].Links = append(devs[i].Links, Link{Peer: j, Path: path[i][j], NVLinks: nv})
		}
	}
}

// pathLevel maps NVML's topology level to ours.
func pathLevel(l nvml.GpuTopologyLevel) PathLevel {
	switch l {
	case nvml.TOPOLOGY_INTERNAL:
		return PathSameBoard
	case nvml.TOPOLOGY_SINGLE:
		return PathSingleSwitch
	case nvml.TOPOLOGY_MULTIPLE:
		return PathMultiSwitch
	case nvml.TOPOLOGY_HOSTBRIDGE:
		return PathHostBridge
	case nvml.TOPOLOGY_NODE:
		return PathNUMANode
	case nvml.TOPOLOGY_SYSTEM:
		return PathSystem
	}
	return PathUnknown
}

// busID returns the PCI address of pci in sysfs form ("0000:07:00.0"),
// or "" when NVML left it empty.
func busID(pci nvml.PciInfo) string {
	var b []byte
	for _, c := range pci.BusId {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	return NormalizeBusID(string(b))
}

// sysfsNUMANode reads sys/bus/pci/devices/<bus>/numa_node below root; -1
// when missing, unreadable or -1 (no affinity).
func sysfsNUMANode(root, bus string) int {
	b, err := os.ReadFile(filepath.Join(root, "sys/bus/pci/devices", bus, "numa_node"))
	if err != nil {
		return -1
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// affinityCPUs is the number of CPUs NewNVML asks NVML's CPU affinity
// mask for: the kernel's largest x86-64 NR_CPUS.
const affinityCPUs = 8192

// maskCPUs turns NVML's CPU affinity mask (an array of C unsigned longs,
// bit b of word w is CPU w*bits+b) into a sorted CPU list; nil when empty.
func maskCPUs(mask []uint) []int {
	var cpus []int
	for w, word := range mask {
		for b := range bits.UintSize {
			if word&(1<<b) != 0 {
				cpus = append(cpus, w*bits.UintSize+b)
			}
		}
	}
	return cpus
}

// sysfsLocalCPUs reads sys/bus/pci/devices/<bus>/local_cpulist below
// root; nil when missing, unreadable or empty.
func sysfsLocalCPUs(root, bus string) []int {
	b, err := os.ReadFile(filepath.Join(root, "sys/bus/pci/devices", bus, "local_cpulist"))
	if err != nil {
		return nil
	}
	cpus, err := cpuset.Parse(string(b))
	if err != nil || len(cpus) == 0 {
		return nil
	}
	return cpus
}

// Close shuts NVML down.
func (b *nvmlBackend) Close() error {
	if b.xids != nil && b.xids.set != nil {
		b.xids.set.Free()
	}
	if ret := b.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("nvml shutdown: %w", ret)
	}
	return nil
}
