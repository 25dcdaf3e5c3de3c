//go:build linux && cgo

package gpu

import (
	"context"
	"errors"
	"math/bits"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/gpus"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"

	"github.com/gantry-hpc/gantry/cpuset"
)

// nvmlBusID writes a bus id the way NVML does: 8-digit domain, upper case.
func nvmlBusID(sysfs string) [32]int8 {
	var b [32]int8
	for i, c := range []byte(strings.ToUpper("0000" + sysfs)) {
		b[i] = int8(c)
	}
	return b
}

// cpuMask builds the affinity mask NVML returns for numCPUs CPUs: words
// of bits.UintSize bits, as many as go-nvml allocates.
func cpuMask(numCPUs int, cpus []int) []uint {
	mask := make([]uint, (numCPUs-1)/bits.UintSize+1)
	for _, c := range cpus {
		mask[c/bits.UintSize] |= 1 << (c % bits.UintSize)
	}
	return mask
}

// mockDevice returns the i-th device of a mock server.
func mockDevice(srv *server.Server, i int) *server.Device {
	return srv.Devices[i].(*server.Device)
}

// dgxA100NVSwitchBus are the PCI addresses of a DGX A100's six NVSwitches.
var dgxA100NVSwitchBus = [6]string{
	"0000:c4:00.0", "0000:c5:00.0", "0000:c6:00.0", "0000:c7:00.0", "0000:c8:00.0", "0000:c9:00.0",
}

// newMockDGXA100 returns go-nvml's dgxa100 mock with every method the
// adapter calls set so that it looks like a real DGX A100 (see
// NewFakeDGXA100): the stock mock has no topology, NVLink or NUMA and
// panics when they are called, and leaves PCI bus ids empty.
func newMockDGXA100() *server.Server {
	srv := dgxa100.New()
	for i := range srv.Devices {
		d := mockDevice(srv, i)
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{BusId: nvmlBusID(DGXA100BusIDs[i]), PciDeviceId: 0x20b010de}, nvml.SUCCESS
		}
		d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return DGXA100NUMANodes[i], nvml.SUCCESS }
		d.GetCpuAffinityFunc = func(n int) ([]uint, nvml.Return) { return cpuMask(n, DGXA100CPUs(DGXA100NUMANodes[i])), nvml.SUCCESS }
		d.GetTopologyCommonAncestorFunc = func(other nvml.Device) (nvml.GpuTopologyLevel, nvml.Return) {
			if other.(*server.Device).Index/2 == i/2 {
				return nvml.TOPOLOGY_MULTIPLE, nvml.SUCCESS
			}
			return nvml.TOPOLOGY_SYSTEM, nvml.SUCCESS
		}
		// An A100 has 12 NVLinks; in a DGX A100, two to each NVSwitch.
		d.GetNvLinkStateFunc = func(link int) (nvml.EnableState, nvml.Return) {
			if link >= 12 {
				return 0, nvml.ERROR_INVALID_ARGUMENT
			}
			return nvml.FEATURE_ENABLED, nvml.SUCCESS
		}
		d.GetNvLinkRemotePciInfoFunc = func(link int) (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{BusId: nvmlBusID(dgxA100NVSwitchBus[link/2])}, nvml.SUCCESS
		}
		d.GetNvLinkRemoteDeviceTypeFunc = func(int) (nvml.IntNvLinkDeviceType, nvml.Return) {
			return nvml.NVLINK_DEVICE_TYPE_SWITCH, nvml.SUCCESS
		}
	}
	return srv
}

func TestNVMLBackendOnMockDGXA100(t *testing.T) {
	srv := newMockDGXA100()
	b, err := NewNVML(srv)
	if err != nil {
		t.Fatal(err)
	}
	got, err := b.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := NewFakeDGXA100().Devs
	if len(got) != len(want) {
		t.Fatalf("got %d devices, want %d", len(got), len(want))
	}
	for i := range got {
		// UUIDs are random per mock; check they are the mock's, then align.
		if got[i].UUID != mockDevice(srv, i).UUID || !strings.HasPrefix(got[i].UUID, "GPU-") {
			t.Errorf("device %d uuid %q, mock has %q", i, got[i].UUID, mockDevice(srv, i).UUID)
		}
		if !strings.Contains(got[i].Model, "A100-SXM4-40GB") {
			t.Errorf("device %d model %q", i, got[i].Model)
		}
		want[i].UUID, want[i].Model = got[i].UUID, got[i].Model
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices differ from a DGX A100\n got:\n%s\nwant:\n%s\n got %+v\nwant %+v", Matrix(got), Matrix(want), got, want)
	}
	t.Logf("\n%s", Matrix(got))

	if _, err := Inventory(t.Context(), b, true); err != nil {
		t.Errorf("Inventory: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.ShutdownCalls()); n != 1 {
		t.Errorf("Shutdown called %d times, want 1", n)
	}
}

// newMockPCIe4 builds, from go-nvml's mock server, the four-A30 PCIe
// server of NewFakePCIe4: PCIe pairs behind one switch each (PIX), SYS
// across the sockets, NUMA node 0 for GPUs 0-1 and 1 for GPUs 2-3, CPU
// affinity the socket's CPUs, and no NVLink at all (the A30's NVLink
// bridge is not fitted: every link reports NOT_SUPPORTED).
func newMockPCIe4() *server.Server {
	srv := server.NewServerWithGPUs("550.54.15", "12.550.54.15", 12040, gpus.Multiple(4, gpus.A30_PCIE_24GB)...)
	for i := range srv.Devices {
		d := mockDevice(srv, i)
		d.GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) {
			return nvml.PciInfo{BusId: nvmlBusID(PCIe4BusIDs[i]), PciDeviceId: 0x20b710de}, nvml.SUCCESS
		}
		d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return i / 2, nvml.SUCCESS }
		d.GetCpuAffinityFunc = func(n int) ([]uint, nvml.Return) { return cpuMask(n, PCIe4CPUs(i/2)), nvml.SUCCESS }
		d.GetTopologyCommonAncestorFunc = func(other nvml.Device) (nvml.GpuTopologyLevel, nvml.Return) {
			if other.(*server.Device).Index/2 == i/2 {
				return nvml.TOPOLOGY_SINGLE, nvml.SUCCESS
			}
			return nvml.TOPOLOGY_SYSTEM, nvml.SUCCESS
		}
		d.GetNvLinkStateFunc = func(int) (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
	}
	return srv
}

func TestNVMLBackendOnMockPCIe4(t *testing.T) {
	srv := newMockPCIe4()
	b, err := NewNVML(srv)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	got, err := b.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	want := NewFakePCIe4().Devs
	if len(got) != len(want) {
		t.Fatalf("got %d devices, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i].UUID != mockDevice(srv, i).UUID {
			t.Errorf("device %d uuid %q, mock has %q", i, got[i].UUID, mockDevice(srv, i).UUID)
		}
		want[i].UUID = got[i].UUID
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("devices differ from the PCIe server\n got:\n%s\nwant:\n%s\n got %+v\nwant %+v", Matrix(got), Matrix(want), got, want)
	}
	t.Logf("\n%s", Matrix(got))
}

// TestNVMLBackendVariants overrides single calls on the mock DGX A100 to
// cover other machines and older drivers.
func TestNVMLBackendVariants(t *testing.T) {
	sysRoot := t.TempDir()
	writeFile(t, filepath.Join(sysRoot, "sys/bus/pci/devices", DGXA100BusIDs[5], "numa_node"), "7\n")
	writeFile(t, filepath.Join(sysRoot, "sys/bus/pci/devices", DGXA100BusIDs[6], "numa_node"), "-1\n")
	writeFile(t, filepath.Join(sysRoot, "sys/bus/pci/devices", DGXA100BusIDs[5], "local_cpulist"), "80-95,208-223\n")
	writeFile(t, filepath.Join(sysRoot, "sys/bus/pci/devices", DGXA100BusIDs[6], "local_cpulist"), "\n")

	tests := []struct {
		name   string
		tweak  func(srv *server.Server)
		opts   []Option
		check  func(t *testing.T, devs []Device)
		errIs  error
		errHas string
	}{
		{
			name: "direct NVLinks between neighbours, no NVSwitch",
			tweak: func(srv *server.Server) {
				// HGX-style ring: GPU i has 4 links to i-1 and 4 to i+1 (mod 8).
				for i := range srv.Devices {
					d := mockDevice(srv, i)
					d.GetNvLinkStateFunc = func(link int) (nvml.EnableState, nvml.Return) {
						if link >= 8 {
							return 0, nvml.ERROR_INVALID_ARGUMENT
						}
						return nvml.FEATURE_ENABLED, nvml.SUCCESS
					}
					d.GetNvLinkRemotePciInfoFunc = func(link int) (nvml.PciInfo, nvml.Return) {
						peer := (i + 1) % 8
						if link >= 4 {
							peer = (i + 7) % 8
						}
						return nvml.PciInfo{BusId: nvmlBusID(DGXA100BusIDs[peer])}, nvml.SUCCESS
					}
					// A GPU peer must not need the device type: leave it
					// unset so that calling it panics.
					d.GetNvLinkRemoteDeviceTypeFunc = nil
				}
			},
			check: func(t *testing.T, devs []Device) {
				for _, p := range []struct{ a, b, want int }{{0, 1, 4}, {0, 7, 4}, {0, 2, 0}, {3, 4, 4}, {2, 6, 0}} {
					if l, _ := devs[p.a].LinkTo(p.b); l.NVLinks != p.want {
						t.Errorf("GPU%d-GPU%d: %d NVLinks, want %d", p.a, p.b, l.NVLinks, p.want)
					}
				}
			},
		},
		{
			name: "old driver: NUMA, topology, NVLink, MIG and minor not supported",
			tweak: func(srv *server.Server) {
				for i := range srv.Devices {
					d := mockDevice(srv, i)
					d.GetNumaNodeIdFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
					d.GetTopologyCommonAncestorFunc = func(nvml.Device) (nvml.GpuTopologyLevel, nvml.Return) {
						return 0, nvml.ERROR_NOT_SUPPORTED
					}
					d.GetNvLinkStateFunc = func(int) (nvml.EnableState, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
					d.GetMigModeFunc = func() (int, int, nvml.Return) { return 0, 0, nvml.ERROR_NOT_SUPPORTED }
					d.GetMinorNumberFunc = func() (int, nvml.Return) { return 0, nvml.ERROR_NOT_SUPPORTED }
					d.GetCpuAffinityFunc = func(int) ([]uint, nvml.Return) { return nil, nvml.ERROR_NOT_SUPPORTED }
				}
				// Device 7 does not even report its PCI address.
				mockDevice(srv, 7).GetPciInfoFunc = func() (nvml.PciInfo, nvml.Return) { return nvml.PciInfo{}, nvml.SUCCESS }
			},
			opts: []Option{WithSysRoot(sysRoot)},
			check: func(t *testing.T, devs []Device) {
				// sysfs numa_node: 7 for GPU5, -1 for GPU6, absent elsewhere.
				wantNUMA := []int{-1, -1, -1, -1, -1, 7, -1, -1}
				for i, d := range devs {
					// sysfs local_cpulist exists for GPU5 only.
					if want := map[int]string{5: "80-95,208-223"}[i]; cpuset.Format(d.CPUAffinity) != want {
						t.Errorf("device %d cpu affinity %v, want %q", i, d.CPUAffinity, want)
					}
					if d.NUMANode != wantNUMA[i] || d.Minor != -1 || d.MIGEnabled {
						t.Errorf("device %d: numa %d minor %d mig %v, want numa %d minor -1 mig false",
							i, d.NUMANode, d.Minor, d.MIGEnabled, wantNUMA[i])
					}
					for _, l := range d.Links {
						if l.Path != PathUnknown || l.NVLinks != 0 {
							t.Errorf("device %d link %+v, want unknown path and no NVLink", i, l)
						}
					}
				}
				if devs[7].PCIBusID != "" {
					t.Errorf("device 7 bus id %q, want empty", devs[7].PCIBusID)
				}
			},
		},
		{
			name:  "MIG enabled on GPU3",
			tweak: func(srv *server.Server) { mockDevice(srv, 3).MigMode = nvml.DEVICE_MIG_ENABLE },
			check: func(t *testing.T, devs []Device) {
				for i, d := range devs {
					if d.MIGEnabled != (i == 3) {
						t.Errorf("device %d MIGEnabled = %v", i, d.MIGEnabled)
					}
				}
			},
		},
		{
			name: "lost GPU fails the listing",
			tweak: func(srv *server.Server) {
				mockDevice(srv, 2).GetUUIDFunc = func() (string, nvml.Return) { return "", nvml.ERROR_GPU_IS_LOST }
			},
			errIs:  nvml.ERROR_GPU_IS_LOST,
			errHas: "nvml device 2 uuid",
		},
		{
			name: "handle error names the index",
			tweak: func(srv *server.Server) {
				srv.DeviceGetHandleByIndexFunc = func(i int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_UNKNOWN }
			},
			errIs:  nvml.ERROR_UNKNOWN,
			errHas: "nvml device 0",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newMockDGXA100()
			tt.tweak(srv)
			b, err := NewNVML(srv, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			devs, err := b.Devices(t.Context())
			if tt.errIs != nil || tt.errHas != "" {
				if !errors.Is(err, tt.errIs) || !strings.Contains(fmtErr(err), tt.errHas) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.errIs, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, devs)
		})
	}
}

func TestNVMLInit(t *testing.T) {
	tests := []struct {
		ret      nvml.Return
		noDriver bool
	}{
		{nvml.ERROR_LIBRARY_NOT_FOUND, true},
		{nvml.ERROR_DRIVER_NOT_LOADED, true},
		{nvml.ERROR_NO_PERMISSION, true},
		{nvml.ERROR_LIB_RM_VERSION_MISMATCH, false},
		{nvml.ERROR_UNKNOWN, false},
	}
	for _, tt := range tests {
		t.Run(tt.ret.Error(), func(t *testing.T) {
			srv := dgxa100.New()
			srv.InitFunc = func() nvml.Return { return tt.ret } // override one call
			b, err := NewNVML(srv)
			if b != nil || !errors.Is(err, tt.ret) {
				t.Fatalf("NewNVML = %v, %v; want nil and an error wrapping %v", b, err, tt.ret)
			}
			if got := errors.Is(err, ErrNoDriver); got != tt.noDriver {
				t.Fatalf("errors.Is(%v, ErrNoDriver) = %v, want %v", err, got, tt.noDriver)
			}
			// Through Inventory's eyes a missing driver is zero GPUs.
			if tt.noDriver {
				devs, err := Inventory(t.Context(), &Fake{Err: err}, false)
				if err != nil || devs != nil {
					t.Fatalf("Inventory = %v, %v; want no devices, no error", devs, err)
				}
			}
		})
	}
}

func TestNVMLDevicesCanceled(t *testing.T) {
	b, err := NewNVML(newMockDGXA100())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := b.Devices(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestNVMLHealth reads the health of go-nvml's mock DGX A100 with faults
// injected: uncorrected ECC errors on GPU 2, a critical XID (79, fallen
// off the bus) on GPU 5, and an application's XID (13) on GPU 1, which is
// no fault of the GPU.
func TestNVMLHealth(t *testing.T) {
	srv := newMockDGXA100()
	registered := 0
	for i := range srv.Devices {
		d := mockDevice(srv, i)
		d.GetTotalEccErrorsFunc = func(typ nvml.MemoryErrorType, counter nvml.EccCounterType) (uint64, nvml.Return) {
			if i == 2 && typ == nvml.MEMORY_ERROR_TYPE_UNCORRECTED && counter == nvml.VOLATILE_ECC {
				return 3, nvml.SUCCESS
			}
			return 0, nvml.SUCCESS
		}
		d.RegisterEventsFunc = func(types uint64, _ nvml.EventSet) nvml.Return {
			if types&nvml.EventTypeXidCriticalError != 0 {
				registered++
			}
			return nvml.SUCCESS
		}
	}
	events := []nvml.EventData{
		{Device: srv.Devices[5], EventType: nvml.EventTypeXidCriticalError, EventData: 79},
		{Device: srv.Devices[1], EventType: nvml.EventTypeXidCriticalError, EventData: 13},
	}
	srv.EventSetCreateFunc = func() (nvml.EventSet, nvml.Return) {
		return &mock.EventSet{
			WaitFunc: func(uint32) (nvml.EventData, nvml.Return) {
				if len(events) == 0 {
					return nvml.EventData{}, nvml.ERROR_TIMEOUT
				}
				ev := events[0]
				events = events[1:]
				return ev, nvml.SUCCESS
			},
			FreeFunc: func() nvml.Return { return nvml.SUCCESS },
		}, nvml.SUCCESS
	}
	b, err := NewNVML(srv)
	if err != nil {
		t.Fatal(err)
	}
	hc := b.(HealthChecker)
	for range 2 { // the XID stays reported after its event was read
		probs, err := hc.Health(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if len(probs) != 2 || probs[0].Index != 2 || probs[0].Reason != "3 uncorrected ECC errors" ||
			probs[1].Index != 5 || probs[1].Reason != "XID 79" || !strings.HasPrefix(probs[1].UUID, "GPU-") {
			t.Fatalf("Health = %+v", probs)
		}
	}
	if registered != len(srv.Devices) {
		t.Errorf("registered for XIDs on %d of %d GPUs", registered, len(srv.Devices))
	}
}
