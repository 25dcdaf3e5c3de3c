//go:build linux && cgo

package gpu

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// xidWatch collects the critical XID errors NVML reports, by GPU UUID.
// NVML keeps events until read; Health drains them at every call.
type xidWatch struct {
	set  nvml.EventSet
	seen map[string][]uint64 // sticky until the daemon restarts
}

// Health reports the GPUs with uncorrected ECC errors since the driver
// loaded (volatile counters) or a critical XID error since the daemon
// started (application XIDs, such as 13 or 31, excluded: benignXIDs). A
// GPU whose counters NVML does not support is healthy as far as NVML
// can tell.
func (b *nvmlBackend) Health(ctx context.Context) ([]Problem, error) {
	n, ret := b.lib.DeviceGetCount()
	if ret != nvml.SUCCESS {
		return nil, fmt.Errorf("nvml device count: %w", ret)
	}
	handles := make([]nvml.Device, 0, n)
	uuids := make([]string, 0, n)
	for i := range n {
		h, ret := b.lib.DeviceGetHandleByIndex(i)
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml device %d: %w", i, ret)
		}
		uuid, ret := h.GetUUID()
		if ret != nvml.SUCCESS {
			return nil, fmt.Errorf("nvml device %d uuid: %w", i, ret)
		}
		handles, uuids = append(handles, h), append(uuids, uuid)
	}
	b.drainXIDs(handles)
	var out []Problem
	for i, h := range handles {
		var why []string
		if c, ret := h.GetTotalEccErrors(nvml.MEMORY_ERROR_TYPE_UNCORRECTED, nvml.VOLATILE_ECC); ret == nvml.SUCCESS && c > 0 {
			why = append(why, fmt.Sprintf("%d uncorrected ECC errors", c))
		}
		if b.xids != nil {
			for _, x := range b.xids.seen[uuids[i]] {
				why = append(why, fmt.Sprintf("XID %d", x))
			}
		}
		if len(why) > 0 {
			out = append(out, Problem{Index: i, UUID: uuids[i], Reason: strings.Join(why, ", ")})
		}
	}
	return out, nil
}

// drainXIDs reads the XID events NVML holds, registering for them at the
// first call. A driver that cannot deliver events leaves XIDs unwatched.
func (b *nvmlBackend) drainXIDs(handles []nvml.Device) {
	if b.xids == nil {
		set, ret := b.lib.EventSetCreate()
		if ret != nvml.SUCCESS {
			b.xids = &xidWatch{}
			return
		}
		for _, h := range handles {
			h.RegisterEvents(nvml.EventTypeXidCriticalError, set) // NOT_SUPPORTED on some boards: ignored
		}
		b.xids = &xidWatch{set: set, seen: map[string][]uint64{}}
	}
	if b.xids.set == nil {
		return
	}
	for range 1000 { // a bound against a flood
		ev, ret := b.xids.set.Wait(0)
		if ret != nvml.SUCCESS {
			return // ERROR_TIMEOUT: none left
		}
		if ev.EventType != nvml.EventTypeXidCriticalError || benignXIDs[ev.EventData] || ev.Device == nil {
			continue
		}
		uuid, ret := ev.Device.GetUUID()
		if ret == nvml.SUCCESS && !slices.Contains(b.xids.seen[uuid], ev.EventData) {
			b.xids.seen[uuid] = append(b.xids.seen[uuid], ev.EventData)
		}
	}
}
