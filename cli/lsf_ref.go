package cli

import (
	"context"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/client"
)

// jobByRef returns the job "ID" or the array element "ID[INDEX]".
func jobByRef(ctx context.Context, cl *client.Client, ref string) (api.Job, error) {
	return cl.JobByRef(ctx, ref)
}

// killRef kills the job or array element ref.
func killRef(ctx context.Context, cl *client.Client, ref string) (api.Job, error) {
	return cl.KillRef(ctx, ref)
}

// refOf is how a job is addressed: "ID", or "ID[INDEX]" for an element.
func refOf(j api.Job) string {
	if j.ArrayID != 0 {
		return api.JobRef{ID: j.ArrayID, Index: j.ArrayIndex, Element: true}.String()
	}
	return api.JobRef{ID: j.ID}.String()
}
