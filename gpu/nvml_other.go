//go:build !(linux && cgo)

package gpu

import "fmt"

// openNVML reports that this build has no NVML: go-nvml needs cgo, and the
// driver exists only on Linux here.
func openNVML() (Backend, error) {
	return nil, fmt.Errorf("%w: nvml unavailable in this build (needs linux and cgo)", ErrNoDriver)
}
