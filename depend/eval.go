package depend

import (
	"strings"

	"github.com/gantry-hpc/gantry/api"
)

// JobState is what evaluation needs to know of a job a condition names.
type JobState struct {
	State api.JobState
	// Started is true once the job has run (or runs) on a node.
	Started bool
	// ExitCode is the exit code of an ended job that ran.
	ExitCode *int
}

// Lookup finds the jobs a condition names: by id (one job, or none when
// it does not exist or is not visible), or by name pattern (every
// matching job of the submitting user).
type Lookup interface {
	ByID(id int64) (JobState, bool)
	ByName(pattern string) []JobState
}

// Value is the three-valued result of an evaluation: whether the
// expression holds now, and whether that can no longer change.
type Value struct {
	Now   bool
	Final bool
}

// Never reports whether the expression can never become true.
func (v Value) Never() bool { return !v.Now && v.Final }

// Evaluate evaluates e against the jobs lk finds.
func Evaluate(e Expr, lk Lookup) Value {
	switch e := e.(type) {
	case Not:
		v := Evaluate(e.X, lk)
		return Value{Now: !v.Now, Final: v.Final}
	case And:
		l, r := Evaluate(e.L, lk), Evaluate(e.R, lk)
		return Value{
			Now:   l.Now && r.Now,
			Final: l.Final && r.Final || l.Never() || r.Never(),
		}
	case Or:
		l, r := Evaluate(e.L, lk), Evaluate(e.R, lk)
		return Value{
			Now:   l.Now || r.Now,
			Final: l.Final && r.Final || l.Now && l.Final || r.Now && r.Final,
		}
	case Cond:
		if e.ID != 0 {
			j, ok := lk.ByID(e.ID)
			if !ok {
				return Value{Now: false, Final: true} // no such job: never
			}
			return e.eval(j)
		}
		jobs := lk.ByName(e.Name)
		if len(jobs) == 0 {
			// No job of that name yet: one may still be submitted.
			return Value{}
		}
		// A name matching several jobs holds when it holds for each.
		all := Value{Now: true, Final: true}
		for _, j := range jobs {
			v := e.eval(j)
			all = Value{Now: all.Now && v.Now, Final: all.Final && v.Final || v.Never()}
			if v.Never() {
				all.Now = false
			}
		}
		return all
	}
	return Value{Final: true}
}

// eval evaluates one condition on one job.
func (c Cond) eval(j JobState) Value {
	ended := j.State.Terminal()
	switch c.Kind {
	case Done:
		return Value{Now: j.State == api.StateSucceeded, Final: ended}
	case Ended:
		return Value{Now: ended, Final: ended}
	case Started:
		return Value{Now: j.Started, Final: j.Started || ended}
	case Exit:
		if !ended {
			return Value{}
		}
		if c.Op == "" {
			return Value{Now: j.State != api.StateSucceeded, Final: true}
		}
		return Value{Now: j.ExitCode != nil && compare(*j.ExitCode, c.Op, c.Code), Final: true}
	}
	return Value{Final: true}
}

func compare(a int, op string, b int) bool {
	switch op {
	case "==":
		return a == b
	case "!=":
		return a != b
	case "<":
		return a < b
	case "<=":
		return a <= b
	case ">":
		return a > b
	case ">=":
		return a >= b
	}
	return false
}

// Match reports whether a job name matches a pattern in which * stands
// for any run of characters (and nothing else is special).
func Match(pattern, name string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == name
	}
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return strings.HasSuffix(name, parts[len(parts)-1])
}
