package cli

import (
	"io"
	"os"

	"github.com/gantry-hpc/gantry/api"
)

// colourOn reports whether output to w may be coloured: w is a terminal
// and $NO_COLOR is unset (https://no-color.org). A pipe or a file never
// gets escape codes.
func colourOn(w io.Writer) bool {
	return os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

// stateColour is the ANSI colour of a job state in the native tables:
// failures red, successes green, running jobs blue, the rest uncoloured
// ("").
func stateColour(st api.JobState) string {
	switch st {
	case api.StateFailed, api.StateTimeout, api.StateNodeFail:
		return "31"
	case api.StateSucceeded:
		return "32"
	case api.StateRunning:
		return "34"
	}
	return ""
}

// columnPainter returns a function that colours one column's cells of a
// tabwriter table when on (colourOn of its output). Every cell, the
// header's and the uncoloured ones included, gets escape codes of the
// same length (the default colour, 39, for none), so that tabwriter,
// which counts them as text, still aligns the columns. When not on it
// returns s as is.
func columnPainter(on bool) func(code, s string) string {
	if !on {
		return func(_, s string) string { return s }
	}
	return func(code, s string) string {
		if len(code) != 2 {
			code = "39"
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
}
