package lsf

import (
	"fmt"
	"strconv"
	"strings"
)

// ResReq is a parsed LSF resource requirement string (bsub -R):
//
//	[select[EXPR]] [order[ORDER]] [rusage[USAGE]] [span[SPAN]] [same[NAMES]]
//
// A leading expression outside any section is the selection string, as in
// LSF ("mem>1000 rusage[mem=1000]"). cu[] and affinity[] are accepted and
// kept verbatim.
type ResReq struct {
	Select Expr      // nil: no selection
	Order  []OrderBy // order[-slots:mem]
	Rusage []Usage   // rusage[...]; alternatives joined by ||
	Span   Span      // span[hosts=1] or span[ptile=N]
	Same   []string  // same[type:model]
	// CU and Affinity are the contents of cu[] and affinity[], kept as
	// given (trimmed); Gantry records them only.
	CU, Affinity string
}

// OrderBy is one key of order[]: a load index or resource, descending
// unless Ascending ("-name" in LSF sorts the other way).
type OrderBy struct {
	Name   string
	Invert bool
}

// Usage is one alternative of rusage[]: groups separated by commas, each
// with its own duration and decay.
type Usage []UsageGroup

// UsageGroup is "res=value[:res=value]...[:duration=D][:decay=0|1]".
type UsageGroup struct {
	Resources []Amount
	Duration  string // as given: minutes, or with an h or m suffix
	Decay     string // "0" or "1"
}

// Amount is one "name=value" of rusage; Value keeps the unit as given,
// canonicalised to upper case (4GB, 100).
type Amount struct {
	Name  string
	Value string
}

// Span is span[]: Hosts (1: one host; -1: no limit), PerHost (ptile=N;
// PerHostMax for ptile='!'), Block (block=N).
type Span struct {
	Hosts      int
	PerHost    int
	PerHostMax bool
	Block      int
}

func (s Span) empty() bool { return s == Span{} }

// ResReqError is a bad resource requirement: the string and what is wrong.
type ResReqError struct {
	Input string
	Pos   int // byte offset where the problem was found
	Msg   string
}

func (e *ResReqError) Error() string {
	return fmt.Sprintf("bad resource requirement %q: %s (at character %d)", e.Input, e.Msg, e.Pos+1)
}

// maxResReq bounds what the parser reads, and maxDepth its nesting, so a
// hostile string cannot exhaust memory or the stack.
const (
	maxResReq = 8192
	maxDepth  = 100
)

var sectionNames = map[string]bool{"select": true, "order": true, "rusage": true, "span": true, "same": true, "cu": true, "affinity": true}

// ParseResReq parses one -R string.
func ParseResReq(s string) (*ResReq, error) {
	if len(s) > maxResReq {
		return nil, &ResReqError{Input: s[:40] + "...", Msg: fmt.Sprintf("longer than %d characters", maxResReq)}
	}
	r := &ResReq{}
	seen := map[string]bool{}
	i := 0
	bareStart := -1
	for i < len(s) {
		if isSpace(s[i]) {
			i++
			continue
		}
		name, j := scanWord(s, i)
		k := j
		for k < len(s) && isSpace(s[k]) {
			k++
		}
		if !sectionNames[name] || k >= len(s) || s[k] != '[' {
			if len(seen) > 0 || bareStart >= 0 {
				return nil, &ResReqError{Input: s, Pos: i, Msg: "text outside a section; the selection string comes first or goes in select[]"}
			}
			// A bare selection string: up to the first section.
			bareStart = i
			end := findSection(s, i)
			expr, err := parseSelect(s, i, end)
			if err != nil {
				return nil, err
			}
			r.Select = expr
			seen["select"] = true
			i = end
			continue
		}
		if seen[name] {
			return nil, &ResReqError{Input: s, Pos: i, Msg: fmt.Sprintf("section %s[] given twice", name)}
		}
		seen[name] = true
		open := k
		close, err := matchBracket(s, open)
		if err != nil {
			return nil, err
		}
		if err := r.parseSection(s, name, open+1, close); err != nil {
			return nil, err
		}
		i = close + 1
	}
	return r, nil
}

// findSection returns the offset of the first "name[" with a section name
// at or after i (outside quotes), or len(s).
func findSection(s string, i int) int {
	for j := i; j < len(s); j++ {
		c := s[j]
		if c == '"' || c == '\'' {
			if k := strings.IndexByte(s[j+1:], c); k >= 0 {
				j += k + 1
			}
			continue
		}
		if isWordStart(c) && (j == i || !isWordChar(s[j-1])) {
			name, k := scanWord(s, j)
			for k < len(s) && isSpace(s[k]) {
				k++
			}
			if sectionNames[name] && k < len(s) && s[k] == '[' {
				return j
			}
			j += len(name) - 1
		}
	}
	return len(s)
}

// matchBracket returns the offset of the ']' closing the '[' at open.
func matchBracket(s string, open int) (int, error) {
	depth := 0
	for j := open; j < len(s); j++ {
		switch s[j] {
		case '[':
			depth++
		case ']':
			depth--
			if depth == 0 {
				return j, nil
			}
		}
	}
	return 0, &ResReqError{Input: s, Pos: open, Msg: "missing ']'"}
}

func (r *ResReq) parseSection(s, name string, from, to int) error {
	body := s[from:to]
	switch name {
	case "select":
		expr, err := parseSelect(s, from, to)
		if err != nil {
			return err
		}
		r.Select = expr
	case "order":
		for _, item := range splitKeep(body, ':', from) {
			t := strings.TrimSpace(item.text)
			if t == "" {
				return &ResReqError{Input: s, Pos: item.pos, Msg: "empty key in order[]"}
			}
			ob := OrderBy{}
			if t[0] == '-' {
				ob.Invert = true
				t = strings.TrimSpace(t[1:])
			}
			if !isIdent(t) {
				return &ResReqError{Input: s, Pos: item.pos, Msg: fmt.Sprintf("order[] key %q: want a resource name, optionally with a leading -", item.text)}
			}
			ob.Name = t
			r.Order = append(r.Order, ob)
		}
	case "rusage":
		alts, err := parseRusage(s, from, to)
		if err != nil {
			return err
		}
		r.Rusage = alts
	case "span":
		return r.parseSpan(s, from, to)
	case "same":
		for _, item := range splitKeep(body, ':', from) {
			t := strings.TrimSpace(item.text)
			if !isIdent(t) {
				return &ResReqError{Input: s, Pos: item.pos, Msg: fmt.Sprintf("same[] resource %q: want a resource name such as type or model", item.text)}
			}
			r.Same = append(r.Same, t)
		}
	case "cu":
		r.CU = strings.TrimSpace(body)
	case "affinity":
		r.Affinity = strings.TrimSpace(body)
	}
	return nil
}

func (r *ResReq) parseSpan(s string, from, to int) error {
	for _, item := range splitKeep(s[from:to], ':', from) {
		k, v, ok := strings.Cut(strings.TrimSpace(item.text), "=")
		k, v = strings.TrimSpace(k), strings.Trim(strings.TrimSpace(v), `"`)
		bad := func(msg string) error { return &ResReqError{Input: s, Pos: item.pos, Msg: msg} }
		if !ok {
			return bad(fmt.Sprintf("span[] item %q: want hosts=N, ptile=N or block=N", strings.TrimSpace(item.text)))
		}
		n, err := strconv.Atoi(v)
		switch k {
		case "hosts":
			if err != nil || (n < 1 && n != -1) || n > 1<<20 {
				return bad(fmt.Sprintf("span[hosts=%s]: want a positive number of hosts, or -1", v))
			}
			r.Span.Hosts = n
		case "ptile":
			if v == "'!'" || v == "!" {
				r.Span.PerHostMax = true
				continue
			}
			if err != nil || n < 1 || n > 1<<20 {
				return bad(fmt.Sprintf("span[ptile=%s]: want a positive number of slots per host, or '!'", v))
			}
			r.Span.PerHost = n
		case "block":
			if err != nil || n < 1 || n > 1<<20 {
				return bad(fmt.Sprintf("span[block=%s]: want a positive block size", v))
			}
			r.Span.Block = n
		default:
			return bad(fmt.Sprintf("span[] key %q: want hosts, ptile or block", k))
		}
	}
	if r.Span.Hosts != 0 && (r.Span.PerHost != 0 || r.Span.PerHostMax) {
		return &ResReqError{Input: s, Pos: from, Msg: "span[] takes hosts or ptile, not both"}
	}
	return nil
}

type piece struct {
	text string
	pos  int
}

// splitKeep splits s on sep, remembering each piece's offset (+base).
func splitKeep(s string, sep byte, base int) []piece {
	var out []piece
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == sep {
			out = append(out, piece{s[start:i], base + start})
			start = i + 1
		}
	}
	return out
}

// rusage value units: a number, optionally with a memory unit.
var rusageUnits = map[string]bool{"": true, "K": true, "KB": true, "M": true, "MB": true, "G": true, "GB": true, "T": true, "TB": true}

func parseRusage(s string, from, to int) ([]Usage, error) {
	var alts []Usage
	body := s[from:to]
	off := 0
	for _, alt := range strings.Split(body, "||") {
		altPos := from + off
		off += len(alt) + 2
		var u Usage
		for _, grp := range splitKeep(alt, ',', altPos) {
			g := UsageGroup{}
			for _, item := range splitKeep(grp.text, ':', grp.pos) {
				bad := func(msg string) error { return &ResReqError{Input: s, Pos: item.pos, Msg: msg} }
				k, v, ok := strings.Cut(strings.TrimSpace(item.text), "=")
				k, v = strings.TrimSpace(k), strings.TrimSpace(v)
				if !ok || !isIdent(k) {
					return nil, bad(fmt.Sprintf("rusage[] item %q: want name=value, e.g. mem=4GB", strings.TrimSpace(item.text)))
				}
				switch k {
				case "duration":
					d := strings.TrimRight(v, "hmHM")
					if n, err := strconv.Atoi(d); err != nil || n < 0 || len(v)-len(d) > 1 {
						return nil, bad(fmt.Sprintf("rusage[duration=%s]: want minutes, or a number with h or m", v))
					}
					g.Duration = strings.ToLower(v)
				case "decay":
					if v != "0" && v != "1" {
						return nil, bad(fmt.Sprintf("rusage[decay=%s]: want 0 or 1", v))
					}
					g.Decay = v
				default:
					val, err := rusageValue(v)
					if err != nil {
						return nil, bad(fmt.Sprintf("rusage[%s=%s]: %v", k, v, err))
					}
					for _, a := range g.Resources {
						if a.Name == k {
							return nil, bad(fmt.Sprintf("rusage[] names %s twice", k))
						}
					}
					g.Resources = append(g.Resources, Amount{Name: k, Value: val})
				}
			}
			if len(g.Resources) == 0 {
				return nil, &ResReqError{Input: s, Pos: grp.pos, Msg: "rusage[] group without a resource, e.g. rusage[mem=4GB]"}
			}
			u = append(u, g)
		}
		alts = append(alts, u)
	}
	return alts, nil
}

// rusageValue canonicalises "4gb" to "4GB" and checks the number.
func rusageValue(v string) (string, error) {
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	num, unit := v[:i], strings.ToUpper(v[i:])
	f, err := strconv.ParseFloat(num, 64)
	if num == "" || err != nil || f < 0 || f > 1<<50 {
		return "", fmt.Errorf("want a non-negative number, optionally with a unit (KB, MB, GB, TB)")
	}
	if !rusageUnits[unit] {
		return "", fmt.Errorf("unknown unit %q (want KB, MB, GB or TB)", v[i:])
	}
	return num + unit, nil
}

// MemoryMB returns the memory the first rusage alternative reserves, in
// MiB (LSF's default unit), summed over its groups; 0 if none.
func (r *ResReq) MemoryMB() float64 {
	if r == nil || len(r.Rusage) == 0 {
		return 0
	}
	var total float64
	for _, g := range r.Rusage[0] {
		for _, a := range g.Resources {
			if a.Name == "mem" {
				total += mbOf(a.Value)
			}
		}
	}
	return total
}

func mbOf(v string) float64 {
	i := 0
	for i < len(v) && (v[i] >= '0' && v[i] <= '9' || v[i] == '.') {
		i++
	}
	f, _ := strconv.ParseFloat(v[:i], 64)
	switch v[i:] {
	case "K", "KB":
		return f / 1024
	case "G", "GB":
		return f * 1024
	case "T", "TB":
		return f * 1024 * 1024
	}
	return f
}

// String renders the requirement canonically: sections in a fixed order,
// single spaces, empty sections left out. Parsing the result gives the
// same requirement.
func (r *ResReq) String() string {
	if r == nil {
		return ""
	}
	var parts []string
	if r.Select != nil {
		parts = append(parts, "select["+r.Select.String()+"]")
	}
	if len(r.Order) > 0 {
		var ks []string
		for _, o := range r.Order {
			if o.Invert {
				ks = append(ks, "-"+o.Name)
			} else {
				ks = append(ks, o.Name)
			}
		}
		parts = append(parts, "order["+strings.Join(ks, ":")+"]")
	}
	if len(r.Rusage) > 0 {
		var alts []string
		for _, u := range r.Rusage {
			var grps []string
			for _, g := range u {
				var items []string
				for _, a := range g.Resources {
					items = append(items, a.Name+"="+a.Value)
				}
				if g.Duration != "" {
					items = append(items, "duration="+g.Duration)
				}
				if g.Decay != "" {
					items = append(items, "decay="+g.Decay)
				}
				grps = append(grps, strings.Join(items, ":"))
			}
			alts = append(alts, strings.Join(grps, ", "))
		}
		parts = append(parts, "rusage["+strings.Join(alts, " || ")+"]")
	}
	if !r.Span.empty() {
		var items []string
		if r.Span.Hosts != 0 {
			items = append(items, "hosts="+strconv.Itoa(r.Span.Hosts))
		}
		if r.Span.PerHostMax {
			items = append(items, "ptile='!'")
		} else if r.Span.PerHost != 0 {
			items = append(items, "ptile="+strconv.Itoa(r.Span.PerHost))
		}
		if r.Span.Block != 0 {
			items = append(items, "block="+strconv.Itoa(r.Span.Block))
		}
		parts = append(parts, "span["+strings.Join(items, ":")+"]")
	}
	if len(r.Same) > 0 {
		parts = append(parts, "same["+strings.Join(r.Same, ":")+"]")
	}
	if r.CU != "" {
		parts = append(parts, "cu["+r.CU+"]")
	}
	if r.Affinity != "" {
		parts = append(parts, "affinity["+r.Affinity+"]")
	}
	return strings.Join(parts, " ")
}

// Merge combines several -R strings as LSF does for repeated -R: the
// selections must all hold, the rusage groups add up, and a later
// order[], span[] or same[] replaces an earlier one.
func Merge(rs ...*ResReq) *ResReq {
	out := &ResReq{}
	for _, r := range rs {
		if r == nil {
			continue
		}
		switch {
		case r.Select == nil:
		case out.Select == nil:
			out.Select = r.Select
		default:
			out.Select = &Binary{Op: "&&", L: out.Select, R: r.Select}
		}
		if len(r.Order) > 0 {
			out.Order = r.Order
		}
		if len(r.Rusage) > 0 {
			if len(out.Rusage) == 0 {
				out.Rusage = r.Rusage
			} else {
				out.Rusage = []Usage{append(append(Usage(nil), out.Rusage[0]...), r.Rusage[0]...)}
			}
		}
		if !r.Span.empty() {
			out.Span = r.Span
		}
		if len(r.Same) > 0 {
			out.Same = r.Same
		}
		if r.CU != "" {
			out.CU = r.CU
		}
		if r.Affinity != "" {
			out.Affinity = r.Affinity
		}
	}
	return out
}

func isSpace(c byte) bool     { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
func isWordStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isWordChar(c byte) bool  { return isWordStart(c) || c >= '0' && c <= '9' }

func scanWord(s string, i int) (string, int) {
	j := i
	for j < len(s) && isWordChar(s[j]) {
		j++
	}
	return s[i:j], j
}

// isIdent reports whether t is a resource name: a letter or _, then
// letters, digits, _, . or -.
func isIdent(t string) bool {
	if t == "" || !isWordStart(t[0]) {
		return false
	}
	for i := 1; i < len(t); i++ {
		if !isWordChar(t[i]) && t[i] != '.' && t[i] != '-' {
			return false
		}
	}
	return true
}
