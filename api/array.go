package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxArrayElements bounds the size of one job array.
const MaxArrayElements = 1_000_000

// maxArrayIndex is the largest element index.
const maxArrayIndex = 1<<31 - 1

// ArrayRange is lo..hi (inclusive) in steps of Step.
type ArrayRange struct {
	Lo, Hi, Step int64
}

// ArraySpec is a parsed array index list: ranges in ascending order that
// do not overlap.
type ArraySpec struct {
	Ranges []ArrayRange
	// Len is the number of elements.
	Len int64
}

// ParseArray parses an index list as LSF's bsub -J "name[...]" and Slurm's
// --array write it, without the brackets: comma-separated indices and
// ranges LO-HI, optionally with a step LO-HI:STEP, e.g. "1-100:2,200".
// Indices are 0 to 2^31-1; ranges must not overlap; at most
// MaxArrayElements in all. Errors name the offending item.
func ParseArray(s string) (ArraySpec, error) {
	var spec ArraySpec
	in := strings.TrimSpace(s)
	if in == "" {
		return spec, fmt.Errorf("array %q: empty index list (want e.g. 1-100 or 1,5,7-9)", s)
	}
	for _, item := range strings.Split(in, ",") {
		r, err := parseArrayItem(strings.TrimSpace(item))
		if err != nil {
			return ArraySpec{}, fmt.Errorf("array %q: %w", s, err)
		}
		spec.Ranges = append(spec.Ranges, r)
	}
	slices.SortFunc(spec.Ranges, func(a, b ArrayRange) int { return int(a.Lo - b.Lo) })
	for i, r := range spec.Ranges {
		if i > 0 && r.Lo <= spec.Ranges[i-1].Hi {
			return ArraySpec{}, fmt.Errorf("array %q: %d-%d overlaps %d-%d", s, r.Lo, r.Hi, spec.Ranges[i-1].Lo, spec.Ranges[i-1].Hi)
		}
		spec.Len += (r.Hi-r.Lo)/r.Step + 1
		if spec.Len > MaxArrayElements {
			return ArraySpec{}, fmt.Errorf("array %q: more than %d elements", s, MaxArrayElements)
		}
	}
	return spec, nil
}

func parseArrayItem(item string) (ArrayRange, error) {
	num := func(v string) (int64, error) {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 || n > maxArrayIndex || strings.HasPrefix(v, "+") {
			return 0, fmt.Errorf("index %q: want a number from 0 to %d", v, maxArrayIndex)
		}
		return n, nil
	}
	rng, stepText, hasStep := strings.Cut(item, ":")
	loText, hiText, isRange := strings.Cut(rng, "-")
	lo, err := num(loText)
	if err != nil {
		return ArrayRange{}, err
	}
	hi := lo
	if isRange {
		if hi, err = num(hiText); err != nil {
			return ArrayRange{}, err
		}
		if hi < lo {
			return ArrayRange{}, fmt.Errorf("range %q: end before start", item)
		}
	}
	step := int64(1)
	if hasStep {
		if !isRange {
			return ArrayRange{}, fmt.Errorf("item %q: a step needs a range (LO-HI:STEP)", item)
		}
		if step, err = strconv.ParseInt(stepText, 10, 64); err != nil || step < 1 || step > maxArrayIndex {
			return ArrayRange{}, fmt.Errorf("step %q: want a positive number", stepText)
		}
	}
	return ArrayRange{Lo: lo, Hi: hi - (hi-lo)%step, Step: step}, nil
}

// Index returns the ordinal'th index (0-based) of the array, in ascending
// order, and false past the end.
func (a ArraySpec) Index(ordinal int64) (int64, bool) {
	if ordinal < 0 {
		return 0, false
	}
	for _, r := range a.Ranges {
		n := (r.Hi-r.Lo)/r.Step + 1
		if ordinal < n {
			return r.Lo + ordinal*r.Step, true
		}
		ordinal -= n
	}
	return 0, false
}

// Contains reports whether index is an element of the array.
func (a ArraySpec) Contains(index int64) bool {
	for _, r := range a.Ranges {
		if index >= r.Lo && index <= r.Hi && (index-r.Lo)%r.Step == 0 {
			return true
		}
	}
	return false
}

// String renders the spec canonically ("1-99:2,200").
func (a ArraySpec) String() string {
	parts := make([]string, len(a.Ranges))
	for i, r := range a.Ranges {
		switch {
		case r.Lo == r.Hi:
			parts[i] = strconv.FormatInt(r.Lo, 10)
		case r.Step == 1:
			parts[i] = fmt.Sprintf("%d-%d", r.Lo, r.Hi)
		default:
			parts[i] = fmt.Sprintf("%d-%d:%d", r.Lo, r.Hi, r.Step)
		}
	}
	return strings.Join(parts, ",")
}

// JobRef names a job ("42") or an array element ("42[7]").
type JobRef struct {
	ID int64
	// Index is the element index when Element is true.
	Index   int64
	Element bool
}

// ParseJobRef parses "ID" or "ID[INDEX]".
func ParseJobRef(s string) (JobRef, error) {
	in := strings.TrimSpace(s)
	idText, rest, isElem := strings.Cut(in, "[")
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return JobRef{}, fmt.Errorf("job id %q: want a positive integer, or ID[INDEX] for an array element", s)
	}
	if !isElem {
		return JobRef{ID: id}, nil
	}
	idxText, ok := strings.CutSuffix(rest, "]")
	idx, err := strconv.ParseInt(idxText, 10, 64)
	if !ok || err != nil || idx < 0 || idx > maxArrayIndex {
		return JobRef{}, fmt.Errorf("job id %q: want ID[INDEX] with INDEX from 0 to %d", s, maxArrayIndex)
	}
	return JobRef{ID: id, Index: idx, Element: true}, nil
}

// String renders the reference as ParseJobRef reads it.
func (r JobRef) String() string {
	if r.Element {
		return fmt.Sprintf("%d[%d]", r.ID, r.Index)
	}
	return strconv.FormatInt(r.ID, 10)
}

// ParseJobName splits a job name as bsub -J writes it, "name[1-100:2]%10",
// into the name, the array's index list ("" when not an array) and its
// throttle (0 when none).
func ParseJobName(s string) (name, array string, throttle int, err error) {
	open := strings.IndexByte(s, '[')
	if open < 0 {
		if strings.ContainsAny(s, "]%") {
			return "", "", 0, fmt.Errorf("job name %q: brackets and %% belong to an array, as name[1-10]%%2", s)
		}
		return s, "", 0, nil
	}
	close := strings.LastIndexByte(s, ']')
	if close < open {
		return "", "", 0, fmt.Errorf("job name %q: missing ] after the index list", s)
	}
	name, array = s[:open], s[open+1:close]
	if rest := s[close+1:]; rest != "" {
		t, ok := strings.CutPrefix(rest, "%")
		n, err := strconv.Atoi(t)
		if !ok || err != nil || n < 1 {
			return "", "", 0, fmt.Errorf("job name %q: want %%N (a positive throttle) after ], got %q", s, rest)
		}
		throttle = n
	}
	a, err := ParseArray(array)
	if err != nil {
		return "", "", 0, fmt.Errorf("job name %q: %w", s, err)
	}
	return name, a.String(), throttle, nil
}
