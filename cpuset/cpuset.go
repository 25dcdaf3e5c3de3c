package cpuset

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// MaxCPUID is the largest CPU id Parse accepts. The kernel's NR_CPUS
// tops out at 8192 on x86-64 (MAXSMP); the bound is generous but stops a
// typo such as "0-4000000000" from allocating gigabytes.
const MaxCPUID = 1<<16 - 1

// Parse parses the kernel's CPU list format, as printed in
// /sys/devices/system/cpu/online, node*/cpulist, cpuset.cpus and the
// Cpus_allowed_list line of /proc/<pid>/status: comma-separated ids and
// inclusive ranges, e.g. "0-3,8,10-11". Surrounding white space (the
// trailing newline of a sysfs file) is ignored, and an empty string is the
// empty set (the kernel prints an empty line for an empty cpuset).
//
// The result is sorted and free of duplicates; overlapping items are
// accepted as the kernel accepts them. The stride form "0-31:2/4" is not
// supported. Errors name the offending item.
func Parse(s string) ([]int, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return []int{}, nil
	}
	var cpus []int
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		lo, hi, isRange := strings.Cut(item, "-")
		first, err := ParseID(lo)
		if err != nil {
			return nil, fmt.Errorf("parse cpu list %q: item %q: %w", s, item, err)
		}
		last := first
		if isRange {
			if last, err = ParseID(hi); err != nil {
				return nil, fmt.Errorf("parse cpu list %q: item %q: %w", s, item, err)
			}
			if last < first {
				return nil, fmt.Errorf("parse cpu list %q: item %q: range end before start", s, item)
			}
		}
		for c := first; c <= last; c++ {
			cpus = append(cpus, c)
		}
	}
	slices.Sort(cpus)
	return slices.Compact(cpus), nil
}

// ParseID parses one decimal CPU id. Signs, spaces inside the number and
// other bases are rejected, as the kernel rejects them.
func ParseID(s string) (int, error) {
	if s == "" {
		return 0, fmt.Errorf("empty cpu id")
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, fmt.Errorf("cpu id %q is not a decimal number", s)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > MaxCPUID {
		return 0, fmt.Errorf("cpu id %q exceeds maximum %d", s, MaxCPUID)
	}
	return n, nil
}

// Format formats CPU ids in the kernel's list format, collapsing
// runs into ranges: [0 1 2 3 8 10 11] becomes "0-3,8,10-11". The input need
// not be sorted and may repeat ids; it is not modified. An empty or nil
// slice formats as "". Negative ids are a programming error and are
// formatted as-is, so the output will not parse.
func Format(cpus []int) string {
	if len(cpus) == 0 {
		return ""
	}
	sorted := slices.Clone(cpus)
	slices.Sort(sorted)
	sorted = slices.Compact(sorted)
	var b strings.Builder
	for i := 0; i < len(sorted); {
		j := i
		for j+1 < len(sorted) && sorted[j+1] == sorted[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(sorted[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(sorted[j]))
		}
		i = j + 1
	}
	return b.String()
}

// Intersect returns the ids present in both sorted, duplicate-free lists.
func Intersect(a, b []int) []int {
	out := []int{}
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] < b[j]:
			i++
		case a[i] > b[j]:
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}

// Difference returns the ids of sorted list a that are not in sorted list b.
func Difference(a, b []int) []int {
	out := []int{}
	for _, c := range a {
		if _, found := slices.BinarySearch(b, c); !found {
			out = append(out, c)
		}
	}
	return out
}
