package lsf

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits of job arrays: LSF's largest index, and how many elements one
// array may have (LSF's MAX_JOB_ARRAY_SIZE is configurable; this is the
// hard cap).
const (
	MaxArrayIndex    = 2147483646
	MaxArrayElements = 1_000_000
)

// ArraySpec is a job array's index list: ranges "start[-end[:step]]".
type ArraySpec []IndexRange

// IndexRange is start-end:step (Start == End for a single index).
type IndexRange struct{ Start, End, Step int64 }

// ArrayError is a bad job name or array specification.
type ArrayError struct {
	Input string
	Msg   string
}

func (e *ArrayError) Error() string {
	return fmt.Sprintf("bad job name or array %q: %s", e.Input, e.Msg)
}

// ParseJobName splits bsub -J's value "name[INDEXES]%LIMIT" into the
// name, the array (nil when not an array) and the throttle (0: none).
func ParseJobName(s string) (name string, arr ArraySpec, throttle int, err error) {
	bad := func(format string, args ...any) error {
		return &ArrayError{Input: s, Msg: fmt.Sprintf(format, args...)}
	}
	if len(s) > 4096 {
		return "", nil, 0, bad("longer than 4096 characters")
	}
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if strings.ContainsAny(s, "]%") {
			return "", nil, 0, bad("']' or '%%' without an array, e.g. name[1-10]%%2")
		}
		return s, nil, 0, validName(s, bad)
	}
	name = s[:open]
	close := strings.LastIndexByte(s, ']')
	if close < open {
		return "", nil, 0, bad("missing ']' after the array indexes")
	}
	if err := validName(name, bad); err != nil {
		return "", nil, 0, err
	}
	arr, err = ParseArray(s[open+1:close], 1)
	if err != nil {
		return "", nil, 0, &ArrayError{Input: s, Msg: err.(*ArrayError).Msg}
	}
	rest := s[close+1:]
	if rest != "" {
		if rest[0] != '%' {
			return "", nil, 0, bad("unexpected %q after ']' (want %%LIMIT)", rest)
		}
		n, err := strconv.Atoi(rest[1:])
		if err != nil || n < 1 || n > MaxArrayElements {
			return "", nil, 0, bad("limit %q: want %%N with N a positive number of elements running at once", rest)
		}
		throttle = n
	}
	return name, arr, throttle, nil
}

func validName(n string, bad func(string, ...any) error) error {
	if len(n) > 256 {
		return bad("job name longer than 256 characters")
	}
	if strings.ContainsAny(n, "[]%\x00\n\"'") {
		return bad("job name %q: no brackets, %%, quotes or newlines", n)
	}
	return nil
}

// ParseArray parses an index list "1-100:2,200,300-310" (no brackets);
// indexes are at least min (1 for LSF, 0 for Slurm) and at most
// MaxArrayIndex, and the list has at most MaxArrayElements elements.
func ParseArray(s string, min int64) (ArraySpec, error) {
	bad := func(format string, args ...any) error {
		return &ArrayError{Input: s, Msg: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(s) == "" {
		return nil, bad("empty index list (want e.g. 1-100 or 1-100:2,200)")
	}
	var out ArraySpec
	var total int64
	for _, item := range strings.Split(s, ",") {
		r, err := parseRange(strings.TrimSpace(item), min)
		if err != nil {
			return nil, bad("%q: %v", item, err)
		}
		total += (r.End-r.Start)/r.Step + 1
		if total > MaxArrayElements {
			return nil, bad("more than %d elements", MaxArrayElements)
		}
		out = append(out, r)
	}
	// As the server: ranges (start to last index reached) must not overlap.
	sorted := append(ArraySpec(nil), out...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Start < sorted[j].Start })
	for i := 1; i < len(sorted); i++ {
		p := sorted[i-1]
		if last := p.Start + (p.End-p.Start)/p.Step*p.Step; sorted[i].Start <= last {
			return nil, bad("ranges overlap at %d", sorted[i].Start)
		}
	}
	return out, nil
}

func parseRange(s string, min int64) (IndexRange, error) {
	num := func(t string) (int64, error) {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil || t == "" || t[0] == '+' || t[0] == '-' {
			return 0, fmt.Errorf("want start[-end[:step]] with whole numbers")
		}
		if n < min || n > MaxArrayIndex {
			return 0, fmt.Errorf("index %d out of range (%d to %d)", n, min, MaxArrayIndex)
		}
		return n, nil
	}
	rng, step, hasStep := strings.Cut(s, ":")
	a, b, hasEnd := strings.Cut(rng, "-")
	start, err := num(a)
	if err != nil {
		return IndexRange{}, err
	}
	r := IndexRange{Start: start, End: start, Step: 1}
	if hasEnd {
		if r.End, err = num(b); err != nil {
			return IndexRange{}, err
		}
		if r.End < r.Start {
			return IndexRange{}, fmt.Errorf("end %d before start %d", r.End, r.Start)
		}
	}
	if hasStep {
		if !hasEnd {
			return IndexRange{}, fmt.Errorf("a step needs a range, e.g. 1-10:2")
		}
		st, err := strconv.ParseInt(step, 10, 64)
		if err != nil || st < 1 || st > MaxArrayIndex || step[0] == '+' {
			return IndexRange{}, fmt.Errorf("step %q: want a positive whole number", step)
		}
		r.Step = st
	}
	return r, nil
}

// Count is the number of elements.
func (a ArraySpec) Count() int64 {
	var n int64
	for _, r := range a {
		n += (r.End-r.Start)/r.Step + 1
	}
	return n
}

// String is the canonical index list, without brackets: "1-99:2,200".
// A range's end is the last index it reaches.
func (a ArraySpec) String() string {
	parts := make([]string, len(a))
	for i, r := range a {
		end := r.Start + (r.End-r.Start)/r.Step*r.Step
		switch {
		case end == r.Start:
			parts[i] = strconv.FormatInt(r.Start, 10)
		case r.Step == 1:
			parts[i] = fmt.Sprintf("%d-%d", r.Start, end)
		default:
			parts[i] = fmt.Sprintf("%d-%d:%d", r.Start, end, r.Step)
		}
	}
	return strings.Join(parts, ",")
}

// Indexes lists the indexes in order of the spec, at most limit of them.
func (a ArraySpec) Indexes(limit int) []int64 {
	var out []int64
	for _, r := range a {
		for i := r.Start; i <= r.End && len(out) < limit; i += r.Step {
			out = append(out, i)
		}
	}
	return out
}

// JobRef is a job named on a command line: "42", or "42[3]" / "42[1-5]"
// for array elements.
type JobRef struct {
	ID    int64
	Array ArraySpec // nil: the whole job
}

// ParseJobRef parses "ID" or "ID[INDEXES]".
func ParseJobRef(s string) (JobRef, error) {
	idPart, rest, hasIdx := strings.Cut(s, "[")
	id, err := strconv.ParseInt(idPart, 10, 64)
	if err != nil || id < 0 || idPart[0] == '+' {
		return JobRef{}, fmt.Errorf("%s: Illegal job ID", s)
	}
	ref := JobRef{ID: id}
	if hasIdx {
		if !strings.HasSuffix(rest, "]") {
			return JobRef{}, fmt.Errorf("%s: Illegal job ID (missing ']')", s)
		}
		if ref.Array, err = ParseArray(rest[:len(rest)-1], 1); err != nil {
			return JobRef{}, fmt.Errorf("%s: Illegal job ID: %v", s, err)
		}
	}
	return ref, nil
}
