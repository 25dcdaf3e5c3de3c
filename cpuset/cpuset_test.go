package cpuset

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestParseCPUList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr string // substring; "" means success
	}{
		{name: "empty", in: "", want: []int{}},
		{name: "newline only", in: "\n", want: []int{}},
		{name: "single", in: "0", want: []int{0}},
		{name: "range", in: "0-3", want: []int{0, 1, 2, 3}},
		{name: "sysfs file with newline", in: "0-1\n", want: []int{0, 1}},
		{name: "mixed", in: "0-3,8,10-11", want: []int{0, 1, 2, 3, 8, 10, 11}},
		{name: "numa node of 2-socket SMT", in: "0-15,32-47", want: append(seq(0, 15), seq(32, 47)...)},
		{name: "unsorted and overlapping", in: "10-11,2,0-3", want: []int{0, 1, 2, 3, 10, 11}},
		{name: "degenerate range", in: "5-5", want: []int{5}},
		{name: "max id", in: "65535", want: []int{65535}},
		{name: "reversed range", in: "3-1", wantErr: `item "3-1": range end before start`},
		{name: "negative", in: "-1", wantErr: `item "-1": empty cpu id`},
		{name: "empty item", in: "0,,2", wantErr: `item "": empty cpu id`},
		{name: "trailing comma", in: "0-3,", wantErr: `item ""`},
		{name: "open range", in: "4-", wantErr: `item "4-": empty cpu id`},
		{name: "letters", in: "0-3,x", wantErr: `cpu id "x" is not a decimal number`},
		{name: "plus sign", in: "+1", wantErr: `cpu id "+1" is not a decimal number`},
		{name: "hex mask is not a list", in: "ffffffff", wantErr: `cpu id "ffffffff"`},
		{name: "stride form unsupported", in: "0-7:2/4", wantErr: `cpu id "7:2/4"`},
		{name: "too large", in: "0-4000000000", wantErr: `cpu id "4000000000" exceeds maximum 65535`},
		{name: "double dash", in: "1-2-3", wantErr: `cpu id "2-3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.in[:min(len(tt.in), 3)]) {
					t.Errorf("error %q does not name the input %q", err, tt.in)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatCPUList(t *testing.T) {
	tests := []struct {
		name string
		in   []int
		want string
	}{
		{name: "nil", in: nil, want: ""},
		{name: "empty", in: []int{}, want: ""},
		{name: "single", in: []int{7}, want: "7"},
		{name: "pair is a range", in: []int{10, 11}, want: "10-11"},
		{name: "mixed", in: []int{0, 1, 2, 3, 8, 10, 11}, want: "0-3,8,10-11"},
		{name: "unsorted with duplicates", in: []int{11, 3, 2, 10, 3, 0, 1, 8}, want: "0-3,8,10-11"},
		{name: "numa node", in: append(seq(16, 31), seq(48, 63)...), want: "16-31,48-63"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := slices.Clone(tt.in)
			if got := Format(tt.in); got != tt.want {
				t.Fatalf("Format(%v) = %q, want %q", tt.in, got, tt.want)
			}
			if !slices.Equal(in, tt.in) {
				t.Fatalf("Format modified its input: %v, was %v", tt.in, in)
			}
		})
	}
}

// FuzzParse checks that Parse never panics, that what it
// accepts is sorted and unique, and that Format and Parse round-trip.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "0", "0-3,8,10-11", "0-15,32-47\n", "3-1", "1,,2", "-", "0-65535", " 4 , 5-6 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cpus, err := Parse(s)
		if err != nil {
			return
		}
		for i, c := range cpus {
			if c < 0 || c > MaxCPUID || (i > 0 && cpus[i-1] >= c) {
				t.Fatalf("Parse(%q) = %v: not sorted, unique and in range", s, cpus)
			}
		}
		text := Format(cpus)
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("Parse(Format(%v) = %q): %v", cpus, text, err)
		}
		if !slices.Equal(cpus, again) {
			t.Fatalf("round trip of %q: %v -> %q -> %v", s, cpus, text, again)
		}
		if Format(again) != text {
			t.Fatalf("Format not canonical for %q", text)
		}
	})
}

func seq(lo, hi int) []int {
	var s []int
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}
