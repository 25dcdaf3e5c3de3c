package gpu

import "context"

// Problem is a GPU its driver reports unhealthy.
type Problem struct {
	Index  int    `json:"index"`
	UUID   string `json:"uuid"`
	Reason string `json:"reason"`
}

// HealthChecker is a Backend that can tell whether its GPUs are healthy.
// Health returns the GPUs that are not, now: the node daemon drains the
// node while any is. A problem that cannot heal without a reset (an XID
// error that means the hardware failed) stays reported.
type HealthChecker interface {
	Health(ctx context.Context) ([]Problem, error)
}

// Health returns f.Problems: a test sets them.
func (f *Fake) Health(context.Context) ([]Problem, error) {
	return append([]Problem(nil), f.Problems...), nil
}

var _ HealthChecker = (*Fake)(nil)

// benignXIDs are the XID errors that an application causes (a bad memory
// access, a stopped or pre-empted context, a timeout): they fail a job,
// not the GPU, and never drain the node. The list follows NVIDIA's XID
// catalogue and the Kubernetes device plugin.
var benignXIDs = map[uint64]bool{13: true, 31: true, 43: true, 45: true, 68: true, 109: true}
