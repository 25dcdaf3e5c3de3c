package api

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseArray(t *testing.T) {
	tests := []struct {
		in, canon string
		n         int64
		wantErr   string
	}{
		{in: "1-10", canon: "1-10", n: 10},
		{in: "1-10:3", canon: "1-10:3", n: 4},
		{in: "1-11:5", canon: "1-11:5", n: 3},
		{in: "1-12:5", canon: "1-11:5", n: 3},
		{in: "7,1,3-5", canon: "1,3-5,7", n: 5},
		{in: "0", canon: "0", n: 1},
		{in: "1-1000000", canon: "1-1000000", n: 1000000},
		{in: "1-1000001", wantErr: "more than 1000000"},
		{in: "", wantErr: "empty"},
		{in: "5-3", wantErr: `range "5-3"`},
		{in: "1-5,3", wantErr: "overlaps"},
		{in: "x", wantErr: `index "x"`},
		{in: "-3", wantErr: `index ""`},
		{in: "1-9:0", wantErr: `step "0"`},
		{in: "4:2", wantErr: "needs a range"},
		{in: "1,,2", wantErr: `index ""`},
		{in: "99999999999", wantErr: `index "99999999999"`},
	}
	for _, tt := range tests {
		a, err := ParseArray(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseArray(%q) = %v, %v; want error with %q", tt.in, a, err, tt.wantErr)
			}
			continue
		}
		if err != nil || a.String() != tt.canon || a.Len != tt.n {
			t.Errorf("ParseArray(%q) = %s (%d), %v; want %s (%d)", tt.in, a, a.Len, err, tt.canon, tt.n)
		}
	}
	a, _ := ParseArray("1-5:2,10,20-21")
	var got []int64
	for i := int64(0); ; i++ {
		idx, ok := a.Index(i)
		if !ok {
			break
		}
		got = append(got, idx)
		if !a.Contains(idx) {
			t.Errorf("Contains(%d) = false", idx)
		}
	}
	if got := fmt.Sprint(got); got != "[1 3 5 10 20 21]" {
		t.Errorf("indices %s, want [1 3 5 10 20 21]", got)
	}
	if a.Contains(2) || a.Contains(11) {
		t.Error("Contains accepts a non-element")
	}
}

func TestParseJobRef(t *testing.T) {
	for in, want := range map[string]string{"42": "42", "42[7]": "42[7]", " 5[0] ": "5[0]"} {
		r, err := ParseJobRef(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseJobRef(%q) = %v, %v", in, r, err)
		}
	}
	for _, bad := range []string{"", "x", "0", "4[", "4[x]", "4[1", "4[-1]", "[3]"} {
		if _, err := ParseJobRef(bad); err == nil {
			t.Errorf("ParseJobRef(%q) succeeded", bad)
		}
	}
}

func FuzzParseArray(f *testing.F) {
	for _, s := range []string{"1-100:2,200", "0", "1-5,3", "9-1", "1-1000000", "1:2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseArray(s)
		if err != nil {
			return
		}
		again, err := ParseArray(a.String())
		if err != nil || again.Len != a.Len || again.String() != a.String() {
			t.Fatalf("canonical %q of %q does not round-trip: %v", a.String(), s, err)
		}
		if last, ok := a.Index(a.Len - 1); !ok || !a.Contains(last) {
			t.Fatalf("last element of %q missing", s)
		}
		if _, ok := a.Index(a.Len); ok {
			t.Fatalf("element past the end of %q", s)
		}
	})
}

func TestParseJobName(t *testing.T) {
	tests := []struct {
		in, name, array string
		throttle        int
		wantErr         string
	}{
		{in: "train", name: "train"},
		{in: "sweep[1-100:2]%10", name: "sweep", array: "1-99:2", throttle: 10},
		{in: "[1,3]", array: "1,3"},
		{in: "x[5-1]", wantErr: `range "5-1"`},
		{in: "x[1-3", wantErr: "missing ]"},
		{in: "x[1-3]%0", wantErr: "positive throttle"},
		{in: "x[1-3]junk", wantErr: `got "junk"`},
		{in: "x]", wantErr: "brackets"},
	}
	for _, tt := range tests {
		name, array, throttle, err := ParseJobName(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseJobName(%q) err = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || name != tt.name || array != tt.array || throttle != tt.throttle {
			t.Errorf("ParseJobName(%q) = %q %q %d %v", tt.in, name, array, throttle, err)
		}
	}
}
