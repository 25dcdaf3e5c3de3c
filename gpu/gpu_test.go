package gpu

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/gpu golden files")

func TestInventory(t *testing.T) {
	xid := errors.New("xid 79: gpu fell off the bus")
	tests := []struct {
		name        string
		backend     Backend
		requireGPUs bool
		wantN       int
		wantIs      error
		wantErr     string
	}{
		{name: "fake host", backend: NewFakeHost(8), wantN: 8},
		{name: "fake host required", backend: NewFakeHost(2), requireGPUs: true, wantN: 2},
		{name: "null", backend: Null{}, wantN: 0},
		{name: "null required", backend: Null{Reason: "libnvidia-ml.so.1 not found"}, requireGPUs: true,
			wantIs: ErrNoGPUs, wantErr: "gpus required but none found (libnvidia-ml.so.1 not found)"},
		{name: "no driver", backend: &Fake{Err: ErrNoDriver}, wantN: 0},
		{name: "no driver required", backend: &Fake{Err: ErrNoDriver}, requireGPUs: true, wantIs: ErrNoDriver},
		{name: "backend failure", backend: &Fake{Err: xid}, wantIs: xid, wantErr: "gpu inventory: xid 79"},
		{name: "empty fake required", backend: &Fake{}, requireGPUs: true, wantIs: ErrNoGPUs},
		{name: "duplicate uuid", backend: &Fake{Devs: []Device{{Index: 0, UUID: "GPU-a"}, {Index: 1, UUID: "GPU-a"}}},
			wantErr: "devices 0 and 1 share uuid GPU-a"},
		{name: "missing uuid", backend: &Fake{Devs: []Device{{Index: 4}}}, wantErr: "device 4 has no uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			devs, err := Inventory(t.Context(), tt.backend, tt.requireGPUs)
			if tt.wantIs != nil || tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Inventory = %d devices, want an error", len(devs))
				}
				if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
					t.Errorf("err %v is not %v", err, tt.wantIs)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err %q does not contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(devs) != tt.wantN {
				t.Fatalf("got %d devices, want %d", len(devs), tt.wantN)
			}
		})
	}
}

func TestFakeHost(t *testing.T) {
	f := NewFakeHost(8)
	devs, err := f.Devices(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range devs {
		if d.Index != i || d.NUMANode != i/4 || d.MemoryMiB != 80*1024 || len(d.Links) != 7 {
			t.Errorf("device %d = %+v", i, d)
		}
	}
	if l, _ := devs[0].LinkTo(3); l.Path != PathNUMANode || l.NVLinks != 0 {
		t.Errorf("GPU0-GPU3 = %+v, want NODE", l)
	}
	if l, _ := devs[0].LinkTo(4); l.Path != PathSystem {
		t.Errorf("GPU0-GPU4 = %+v, want SYS", l)
	}
	if _, ok := devs[0].LinkTo(0); ok {
		t.Error("GPU0 has a link to itself")
	}
	// Devices hands out copies: changing them leaves the fake intact.
	devs[0].Links[0].NVLinks = 99
	devs[1].UUID = "changed"
	again, _ := f.Devices(t.Context())
	if again[0].Links[0].NVLinks != 0 || again[1].UUID == "changed" {
		t.Error("Fake.Devices returned shared memory")
	}
}

func TestDGXA100Matrix(t *testing.T) {
	got := Matrix(NewFakeDGXA100().Devs)
	want := strings.Join([]string{
		"      GPU0  GPU1  GPU2  GPU3  GPU4  GPU5  GPU6  GPU7  CPU Affinity    NUMA",
		"GPU0  X     NV12  NV12  NV12  NV12  NV12  NV12  NV12  48-63,176-191   3",
		"GPU1  NV12  X     NV12  NV12  NV12  NV12  NV12  NV12  48-63,176-191   3",
		"GPU2  NV12  NV12  X     NV12  NV12  NV12  NV12  NV12  16-31,144-159   1",
		"GPU3  NV12  NV12  NV12  X     NV12  NV12  NV12  NV12  16-31,144-159   1",
		"GPU4  NV12  NV12  NV12  NV12  X     NV12  NV12  NV12  112-127,240-255 7",
		"GPU5  NV12  NV12  NV12  NV12  NV12  X     NV12  NV12  112-127,240-255 7",
		"GPU6  NV12  NV12  NV12  NV12  NV12  NV12  X     NV12  80-95,208-223   5",
		"GPU7  NV12  NV12  NV12  NV12  NV12  NV12  NV12  X     80-95,208-223   5",
		""}, "\n")
	if got != want {
		t.Errorf("Matrix:\n%s\nwant:\n%s", got, want)
	}
	pcie := Matrix(NewFakeHost(2).Devs)
	if !strings.Contains(pcie, "GPU0  X     SYS   N/A          0\n") {
		t.Errorf("PCIe-only matrix without affinity:\n%s", pcie)
	}
}

func TestPCIe4Matrix(t *testing.T) {
	got := Matrix(NewFakePCIe4().Devs)
	want := strings.Join([]string{
		"      GPU0  GPU1  GPU2  GPU3  CPU Affinity NUMA",
		"GPU0  X     PIX   SYS   SYS   0-15,32-47   0",
		"GPU1  PIX   X     SYS   SYS   0-15,32-47   0",
		"GPU2  SYS   SYS   X     PIX   16-31,48-63  1",
		"GPU3  SYS   SYS   PIX   X     16-31,48-63  1",
		""}, "\n")
	if got != want {
		t.Errorf("Matrix:\n%s\nwant:\n%s", got, want)
	}
	for _, d := range NewFakePCIe4().Devs {
		for _, l := range d.Links {
			if l.NVLinks != 0 {
				t.Errorf("GPU%d-GPU%d: %d NVLinks on a PCIe-only node", d.Index, l.Peer, l.NVLinks)
			}
		}
	}
}

// TestLoadFakeFixtures keeps the files of testdata/gpu/ equal to the fakes
// they describe (run with -update to rewrite them).
func TestLoadFakeFixtures(t *testing.T) {
	for file, fake := range map[string]func() *Fake{
		"dgxa100.json":     NewFakeDGXA100, // 8 × A100 SXM4, NVSwitch
		"pcie4-2numa.json": NewFakePCIe4,   // 4 × A30 PCIe, two NUMA nodes
	} {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("..", "testdata", "gpu", file)
			want := fake()
			if *update {
				b, err := json.MarshalIndent(want.Devs, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := LoadFake(path)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Devs, want.Devs) {
				t.Fatalf("%s differs from its fake (rerun with -update)", path)
			}
		})
	}
	if _, err := LoadFake(filepath.Join(t.TempDir(), "none.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
}

func TestPathLevelText(t *testing.T) {
	for p := PathUnknown; p <= PathSystem; p++ {
		b, err := p.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back PathLevel
		if err := back.UnmarshalText(b); err != nil || back != p {
			t.Errorf("%v -> %q -> %v, %v", p, b, back, err)
		}
	}
	var p PathLevel
	if err := p.UnmarshalText([]byte("NVL")); err == nil || !strings.Contains(err.Error(), `"NVL"`) {
		t.Errorf("UnmarshalText(NVL) err = %v", err)
	}
	if _, err := PathLevel(42).MarshalText(); err == nil {
		t.Error("MarshalText(42) succeeded")
	}
}

func TestNormalizeBusID(t *testing.T) {
	tests := map[string]string{
		"00000000:07:00.0": "0000:07:00.0",
		"00000000:0F:00.0": "0000:0f:00.0",
		"0000:BD:00.0":     "0000:bd:00.0",
		"00000001:C4:00.0": "0001:c4:00.0",
		"":                 "",
		"garbage":          "garbage",
	}
	for in, want := range tests {
		if got := NormalizeBusID(in); got != want {
			t.Errorf("NormalizeBusID(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDetectRealHost: on a host without an NVIDIA driver (this workspace)
// Detect gives Null and Inventory zero GPUs without error; on a GPU host it
// gives NVML and at least one GPU.
func TestDetectRealHost(t *testing.T) {
	b, err := Detect(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	devs, err := Inventory(t.Context(), b, false)
	if err != nil {
		t.Fatal(err)
	}
	if n, ok := b.(Null); ok {
		t.Logf("no GPU driver: %s", n.Reason)
		if len(devs) != 0 || n.Reason == "" {
			t.Fatalf("Null backend with %d devices, reason %q", len(devs), n.Reason)
		}
		return
	}
	t.Logf("NVML: %d GPUs\n%s", len(devs), Matrix(devs))
	for _, d := range devs {
		t.Logf("%+v", d)
	}
	if len(devs) == 0 {
		t.Fatal("NVML initialised but reports no GPUs")
	}
}
