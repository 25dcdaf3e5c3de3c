package gpu

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"github.com/gantry-hpc/gantry/cpuset"
)

// Device is one physical GPU.
type Device struct {
	// Index is NVML's device index (PCI bus order), the number nvidia-smi
	// prints and CUDA uses with CUDA_DEVICE_ORDER=PCI_BUS_ID.
	Index int `json:"index"`
	// UUID is the stable identity ("GPU-8f6c...") used for allocation and
	// NVIDIA_VISIBLE_DEVICES.
	UUID string `json:"uuid"`
	// Model is the product name ("NVIDIA A100-SXM4-40GB").
	Model string `json:"model"`
	// MemoryMiB is the total framebuffer memory in MiB.
	MemoryMiB uint64 `json:"memory_mib"`
	// NUMANode is the host NUMA node closest to the GPU, -1 if unknown.
	NUMANode int `json:"numa_node"`
	// PCIBusID is the PCI address in sysfs form ("0000:07:00.0",
	// lower case, 4-digit domain), "" if unknown.
	PCIBusID string `json:"pci_bus_id,omitempty"`
	// Minor is the N of /dev/nvidiaN, needed for the job's device cgroup;
	// -1 if unknown.
	Minor int `json:"minor"`
	// CPUAffinity lists the host CPUs closest to the GPU (those of its
	// NUMA node or socket: NVML's CPU affinity, else the PCI device's
	// sysfs local_cpulist), sorted; nil if unknown. Jobs should get CPUs
	// from this set.
	CPUAffinity []int `json:"cpu_affinity,omitempty"`
	// MIGEnabled reports that MIG mode is currently on: the GPU must be
	// handed out as MIG instances, not whole.
	MIGEnabled bool `json:"mig_enabled"`
	// Links holds one entry for every other GPU of the host, sorted by
	// Peer: the topology matrix row of this device.
	Links []Link `json:"links,omitempty"`
}

// Link describes the connection from one GPU to a peer GPU.
type Link struct {
	// Peer is the peer's Index.
	Peer int `json:"peer"`
	// Path is the closest common PCIe ancestor of the two GPUs.
	Path PathLevel `json:"path"`
	// NVLinks is the number of active NVLinks joining them, directly or
	// through NVSwitches; 0 means PCIe only.
	NVLinks int `json:"nvlinks"`
}

// LinkTo returns the link from d to the GPU with index peer.
func (d Device) LinkTo(peer int) (Link, bool) {
	i, ok := slices.BinarySearchFunc(d.Links, peer, func(l Link, p int) int { return l.Peer - p })
	if !ok {
		return Link{}, false
	}
	return d.Links[i], true
}

// PathLevel is how far apart two GPUs are on the PCIe tree, in the order
// of NVML's nvmlGpuTopologyLevel_t: a smaller known level is closer.
// PathUnknown sorts first but means "the driver did not say".
type PathLevel int

// Path levels, with the labels nvidia-smi topo -m prints.
const (
	PathUnknown      PathLevel = iota // not reported
	PathSameBoard                     // BOARD: same board (multi-GPU card)
	PathSingleSwitch                  // PIX: one PCIe switch
	PathMultiSwitch                   // PXB: several PCIe switches, no host bridge
	PathHostBridge                    // PHB: through a PCIe host bridge (the CPU)
	PathNUMANode                      // NODE: between host bridges of one NUMA node
	PathSystem                        // SYS: across the inter-socket/NUMA interconnect
)

var pathLabels = [...]string{"UNKNOWN", "BOARD", "PIX", "PXB", "PHB", "NODE", "SYS"}

// String returns the nvidia-smi label ("PXB", "SYS", ...).
func (p PathLevel) String() string {
	if p < 0 || int(p) >= len(pathLabels) {
		return fmt.Sprintf("PathLevel(%d)", int(p))
	}
	return pathLabels[p]
}

// MarshalText encodes the level as its label, so JSON reads "SYS".
func (p PathLevel) MarshalText() ([]byte, error) {
	if p < 0 || int(p) >= len(pathLabels) {
		return nil, fmt.Errorf("marshal gpu path level %d: out of range", int(p))
	}
	return []byte(pathLabels[p]), nil
}

// UnmarshalText decodes a label written by MarshalText.
func (p *PathLevel) UnmarshalText(b []byte) error {
	i := slices.Index(pathLabels[:], strings.ToUpper(string(b)))
	if i < 0 {
		return fmt.Errorf("parse gpu path level %q: want one of %s", b, strings.Join(pathLabels[:], ", "))
	}
	*p = PathLevel(i)
	return nil
}

// Backend is the narrow view noded needs. Add a method when a caller needs
// it, not because NVML has it. Implementations are safe for sequential
// reuse; Devices may be called repeatedly to refresh.
type Backend interface {
	// Devices lists the GPUs sorted by Index. A backend whose driver is
	// missing returns an error matching ErrNoDriver.
	Devices(ctx context.Context) ([]Device, error)
	// Close releases the driver. The backend is unusable afterwards.
	Close() error
}

// ErrNoDriver means the host has no usable GPU driver.
var ErrNoDriver = errors.New("gpu: no driver on this host")

// ErrNoGPUs means GPUs were required but none were found.
var ErrNoGPUs = errors.New("gpu: gpus required but none found")

// Inventory lists devices. A host without a driver has zero GPUs, which is
// not an error unless the operator said GPUs are required (requireGPUs),
// in which case zero devices, for whatever reason, is ErrNoGPUs.
func Inventory(ctx context.Context, b Backend, requireGPUs bool) ([]Device, error) {
	devs, err := b.Devices(ctx)
	switch {
	case errors.Is(err, ErrNoDriver) && !requireGPUs:
		return nil, nil
	case errors.Is(err, ErrNoDriver):
		return nil, fmt.Errorf("gpu inventory: %w: %w", ErrNoGPUs, err)
	case err != nil:
		return nil, fmt.Errorf("gpu inventory: %w", err)
	case len(devs) == 0 && requireGPUs:
		if n, ok := b.(Null); ok && n.Reason != "" {
			return nil, fmt.Errorf("gpu inventory: %w (%s)", ErrNoGPUs, n.Reason)
		}
		return nil, fmt.Errorf("gpu inventory: %w", ErrNoGPUs)
	}
	seen := map[string]int{}
	for _, d := range devs {
		if d.UUID == "" {
			return nil, fmt.Errorf("gpu inventory: device %d has no uuid", d.Index)
		}
		if prev, dup := seen[d.UUID]; dup {
			return nil, fmt.Errorf("gpu inventory: devices %d and %d share uuid %s", prev, d.Index, d.UUID)
		}
		seen[d.UUID] = d.Index
	}
	return devs, nil
}

// Null is a Backend with no GPUs: the backend of a host without a driver.
type Null struct {
	// Reason says why this host has no GPU backend (shown to operators and
	// in Inventory's ErrNoGPUs error); may be empty.
	Reason string
}

var _ Backend = Null{}

// Devices returns no devices and no error.
func (Null) Devices(context.Context) ([]Device, error) { return nil, nil }

// Close does nothing.
func (Null) Close() error { return nil }

// Detect opens the best backend this host offers: NVML where
// libnvidia-ml loads and initialises, otherwise Null, logging the reason at
// info level (a GPU-less node is normal). Other NVML failures, such as a
// driver/library version mismatch, are returned as errors so that a
// broken GPU node is not silently reported as a CPU node; the caller may
// still choose Null. log may be nil.
func Detect(ctx context.Context, log *slog.Logger) (Backend, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("gpu detect: %w", err)
	}
	b, err := openNVML()
	switch {
	case errors.Is(err, ErrNoDriver):
		log.Info("no gpu driver, reporting zero gpus", "reason", err.Error())
		return Null{Reason: err.Error()}, nil
	case err != nil:
		return nil, fmt.Errorf("gpu detect: %w", err)
	}
	log.Info("gpu backend nvml")
	return b, nil
}

// Matrix renders devices as nvidia-smi topo -m does: one row per GPU,
// "NV<n>" where NVLinks join a pair, else the PCIe path label, then the
// CPU affinity (cpuset list, "N/A" if unknown) and the NUMA node.
func Matrix(devs []Device) string {
	aff := make([]string, len(devs))
	width := len("CPU Affinity")
	for i, d := range devs {
		aff[i] = "N/A"
		if len(d.CPUAffinity) > 0 {
			aff[i] = cpuset.Format(d.CPUAffinity)
		}
		width = max(width, len(aff[i]))
	}
	var b strings.Builder
	b.WriteString("     ")
	for _, d := range devs {
		fmt.Fprintf(&b, " %-5s", fmt.Sprintf("GPU%d", d.Index))
	}
	fmt.Fprintf(&b, " %-*s NUMA\n", width, "CPU Affinity")
	for i, d := range devs {
		fmt.Fprintf(&b, "%-5s", fmt.Sprintf("GPU%d", d.Index))
		for _, p := range devs {
			cell := "X"
			if p.Index != d.Index {
				cell = "?"
				if l, ok := d.LinkTo(p.Index); ok {
					cell = l.Path.String()
					if l.NVLinks > 0 {
						cell = fmt.Sprintf("NV%d", l.NVLinks)
					}
				}
			}
			fmt.Fprintf(&b, " %-5s", cell)
		}
		fmt.Fprintf(&b, " %-*s", width, aff[i])
		numa := "N/A"
		if d.NUMANode >= 0 {
			numa = fmt.Sprint(d.NUMANode)
		}
		fmt.Fprintf(&b, " %s\n", numa)
	}
	return b.String()
}

// NormalizeBusID rewrites a PCI address as sysfs spells it: NVML's
// "00000000:07:00.0" becomes "0000:07:00.0", and hex digits are lower case.
// Strings that are not PCI addresses are only lower-cased.
func NormalizeBusID(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	dom, rest, ok := strings.Cut(s, ":")
	if !ok || !strings.Contains(rest, ":") {
		return s
	}
	d, err := strconv.ParseUint(dom, 16, 32)
	if err != nil {
		return s
	}
	return fmt.Sprintf("%04x:%s", d, rest)
}
