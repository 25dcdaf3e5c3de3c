// Package gpu reports the accelerators on this host. noded depends on
// Backend, never on NVML directly, so everything above this package can be
// tested on machines without GPUs.
//
// Contract:
//
//   - Backend.Devices lists the GPUs in NVML index order with their memory,
//     NUMA node, PCI bus id, MIG mode and a link to every other GPU (PCIe
//     path level and NVLink count), so the scheduler can choose GPUs by
//     topology. Facts a driver cannot report are "unknown" (-1, "",
//     PathUnknown), never an error; only failing to list or identify a
//     device is.
//   - A host without a usable driver has zero GPUs: NewNVML reports
//     ErrNoDriver, Detect turns that into a Null backend and logs why, and
//     Inventory returns no devices — unless the operator requires GPUs, in
//     which case Inventory fails.
//   - Backends: the NVML adapter (NewNVML, linux and cgo only; it takes
//     nvml.Interface so go-nvml's mock machines can drive it), Null (no
//     GPUs) and Fake (fixed devices for tests and for running a GPU node
//     without GPUs; see NewFakeHost, NewFakeDGXA100 and LoadFake).
//   - Without cgo the package still builds; Detect then returns Null.
package gpu
