package depend

import (
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"done(42)", "done(42)"},
		{"42", "done(42)"},
		{"prep", `done("prep")`},
		{`ended("prep*")`, `ended("prep*")`},
		{"exit(7)", "exit(7)"},
		{"exit(7, >= 2)", "exit(7, >= 2)"},
		{"exit(7,3)", "exit(7, == 3)"},
		{"started(train)", `started("train")`},
		{"done(1) && done(2) || !ended(3)", "(done(1) && done(2)) || !ended(3)"},
		{"done(1) && (done(2) || ended(3))", "done(1) && (done(2) || ended(3))"},
		{"!!done(1)", "!!done(1)"},
		{"DONE(5)", "done(5)"},
	}
	for _, tt := range tests {
		e, err := Parse(tt.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("Parse(%q) = %s, want %s", tt.in, got, tt.want)
		}
		// The canonical form parses to itself.
		if again, err := Parse(e.String()); err != nil || again.String() != e.String() {
			t.Errorf("round trip of %q: %v, %v", e.String(), again, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "ends early"},
		{"done(", "wants a job id or name"},
		{"done(1", "missing )"},
		{"finished(1)", `unknown condition "finished"`},
		{"done(1) &&", "ends early"},
		{"done(1) done(2)", `unexpected "done"`},
		{"done(0)", "job id 0"},
		{"done(1, 3)", "only exit()"},
		{"exit(1, >= 300)", `exit code "300"`},
		{`done("unterminated)`, "wants a job id or name"},
		{"done(1) & done(2)", `unexpected "&"`},
		{"done(arr[1])", "array elements"},
		{strings.Repeat("(", 100) + "1" + strings.Repeat(")", 100), "nested deeper"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tt.in, err, tt.want)
		}
	}
}

type fakeJobs map[int64]JobState

func (f fakeJobs) ByID(id int64) (JobState, bool) { j, ok := f[id]; return j, ok }
func (f fakeJobs) ByName(p string) []JobState {
	names := map[string]int64{"prep-a": 1, "prep-b": 2, "train": 3}
	var out []JobState
	for n, id := range names {
		if Match(p, n) {
			out = append(out, f[id])
		}
	}
	return out
}

func code(c int) *int { return &c }

func TestEvaluate(t *testing.T) {
	jobs := fakeJobs{
		1: {State: api.StateSucceeded, Started: true, ExitCode: code(0)},
		2: {State: api.StateFailed, Started: true, ExitCode: code(3)},
		3: {State: api.StateRunning, Started: true},
		4: {State: api.StatePending},
		5: {State: api.StateCancelled},
	}
	tests := []struct {
		expr      string
		now, fin  bool
		wantNever bool
	}{
		{"done(1)", true, true, false},
		{"done(2)", false, true, true},
		{"done(3)", false, false, false},
		{"exit(2)", true, true, false},
		{"exit(2, == 3)", true, true, false},
		{"exit(2, > 3)", false, true, true},
		{"exit(1)", false, true, true},
		{"ended(2)", true, true, false},
		{"started(3)", true, true, false},
		{"started(4)", false, false, false},
		{"started(5)", false, true, true},
		{"done(99)", false, true, true},
		{"done(1) && done(3)", false, false, false},
		{"done(2) && done(3)", false, true, true},
		{"done(2) || done(3)", false, false, false},
		{"done(1) || done(3)", true, true, false},
		{"!done(2)", true, true, false},
		{"!done(3)", true, false, false},
		{"ended(prep*)", true, true, false},
		{"done(prep*)", false, true, true},
		{"done(nosuch*)", false, false, false},
	}
	for _, tt := range tests {
		e, err := Parse(tt.expr)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.expr, err)
		}
		v := Evaluate(e, jobs)
		if v.Now != tt.now || v.Final != tt.fin || v.Never() != tt.wantNever {
			t.Errorf("Evaluate(%s) = %+v (never %v), want now=%v final=%v never=%v", tt.expr, v, v.Never(), tt.now, tt.fin, tt.wantNever)
		}
	}
}

func TestMatch(t *testing.T) {
	for _, tt := range []struct {
		p, n string
		want bool
	}{
		{"a", "a", true}, {"a", "b", false}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "abbbc", true}, {"a*c", "acb", false}, {"*", "", true}, {"a*b*c", "a1b2c", true}, {"x/y*", "x/yz", true},
	} {
		if got := Match(tt.p, tt.n); got != tt.want {
			t.Errorf("Match(%q, %q) = %v", tt.p, tt.n, got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"done(1)", "exit(2, >= 3) || !started(\"a*\")", "((1))", "a && b || c", "!", "exit(1,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dependency") {
				t.Fatalf("error %q does not name the expression", err)
			}
			return
		}
		again, err := Parse(e.String())
		if err != nil || again.String() != e.String() {
			t.Fatalf("canonical form %q of %q does not round-trip: %v", e.String(), s, err)
		}
		Evaluate(e, fakeJobs{})
	})
}
