package integration

import (
	"strings"
	"testing"
)

// TestBadInput checks that wrong input gets a clear error naming the value
// and a non-zero exit, and leaves the server's state alone.
func TestBadInput(t *testing.T) {
	c := newCluster(t) // a server alone: nothing here needs to run
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"unknown flag", []string{"sub", "--bogus", "--", "true"}, 2, "bogus"},
		{"malformed memory", []string{"sub", "-M", "12Q", "--", "true"}, 2, `"12Q"`},
		{"malformed walltime", []string{"sub", "-W", "soon", "--", "true"}, 2, `"soon"`},
		{"walltime minutes over 59", []string{"sub", "-W", "1:75", "--", "true"}, 2, `"1:75"`},
		{"missing command", []string{"sub", "-n", "2"}, 2, "missing command"},
		{"zero cores", []string{"sub", "-n", "0", "--", "true"}, 2, "-n 0"},
		{"unknown queue", []string{"sub", "-q", "nope", "--", "true"}, 1, `queue "nope"`},
		{"unknown job", []string{"job", "999"}, 1, "job 999"},
		{"bad job id", []string{"job", "abc"}, 2, `"abc"`},
		{"kill unknown job", []string{"kill", "999"}, 1, "job 999"},
		{"unknown command", []string{"frobnicate"}, 2, "frobnicate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := c.gantry(tt.args...)
			if r.code != tt.wantCode || !strings.Contains(r.stderr, tt.wantErr) {
				t.Fatalf("gantry %v: code %d stderr %q; want code %d mentioning %q", tt.args, r.code, r.stderr, tt.wantCode, tt.wantErr)
			}
		})
	}
	if r := c.gantry("jobs", "-a", "--json"); strings.Contains(r.stdout, `"id"`) {
		t.Errorf("bad input left jobs behind:\n%s", r.stdout)
	}

	// Unreachable server: a clear error naming the address.
	r := c.gantry("--server", "/nonexistent/gantry.sock", "jobs")
	if r.code != 1 || !strings.Contains(r.stderr, "/nonexistent/gantry.sock") {
		t.Errorf("unreachable server: %+v", r)
	}
}
