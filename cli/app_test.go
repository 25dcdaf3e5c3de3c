package cli

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestHoistFlags(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"gantry job 42 --json", "gantry job --json 42"},
		{"gantry --server /s job 42 --json", "gantry --server /s job --json 42"},
		{"gantry jobs -a --state RUNNING", "gantry jobs -a --state RUNNING"},
		{"gantry kill 1 2 --server /s", "gantry kill --server /s 1 2"},
		{"gantry sub -n 2 -- sh -c --json", "gantry sub -n 2 -- sh -c --json"},
		{"gantry job -- 42", "gantry job 42"},
		{"gantry queue add gpu --priority 5 --users a,b", "gantry queue add --priority 5 --users a,b gpu"},
		{"gantry queue close gpu", "gantry queue close gpu"},
		{"gantry", "gantry"},
	}
	for _, tt := range tests {
		got := strings.Join(hoistFlags(strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("hoistFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestUsageErrors runs the command line in-process: bad input exits 2 with
// a message naming the value, before any server is contacted.
func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args    []string
		wantErr string
	}{
		{[]string{"sub", "-M", "lots", "--", "x"}, `"lots"`},
		{[]string{"sub", "-W", "1:99", "--", "x"}, `"1:99"`},
		{[]string{"sub", "-n", "-3", "--", "x"}, "-n -3"},
		{[]string{"sub"}, "missing command"},
		{[]string{"sub", "--nope"}, "nope"},
		{[]string{"job"}, "exactly one job id"},
		{[]string{"job", "0"}, `"0"`},
		{[]string{"kill", "x1"}, `"x1"`},
		{[]string{"kill"}, "missing job id"},
		{[]string{"jobs", "--state", "DOZING"}, `"DOZING"`},
		{[]string{"node", "--cpus", "3-1"}, "--cpus"},
		{[]string{"dev", "--memory", "huge"}, `"huge"`},
		{[]string{"server", "--log-level", "loud"}, `"loud"`},
		{[]string{"bogus"}, `"bogus"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			args := append([]string{"gantry", "--server", "/nonexistent.sock"}, tt.args...)
			code := Main(context.Background(), args, &out, &errb)
			if code != exitUsage || !strings.Contains(errb.String(), tt.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d mentioning %q", code, errb.String(), exitUsage, tt.wantErr)
			}
		})
	}
}

func TestSubValidatesBeforeConnecting(t *testing.T) {
	var out, errb bytes.Buffer
	// An unreachable server: the spec is built and validated first, so the
	// failure is the connection, exit 1.
	code := Main(context.Background(), []string{"gantry", "sub", "--server", "/nonexistent.sock", "-n", "4", "-M", "2G", "-W", "1:30",
		"-o", "o.%J", "-J", "train", "--", "python3", "train.py"}, &out, &errb)
	if code != exitFailure || !strings.Contains(errb.String(), "/nonexistent.sock") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	if !reflect.DeepEqual(hoistFlags([]string{"gantry", "sub", "-n", "1", "--", "x", "--json"}), []string{"gantry", "sub", "-n", "1", "--", "x", "--json"}) {
		t.Fatal("sub's command line was reordered")
	}
}
