package swf

import (
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestReadFixture(t *testing.T) {
	raw, err := os.ReadFile("../testdata/swf/tiny.swf")
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	for name, data := range map[string][]byte{"plain": raw, "gzip": gz.Bytes()} {
		t.Run(name, func(t *testing.T) {
			l, err := Read(bytes.NewReader(data), 0)
			if err != nil {
				t.Fatal(err)
			}
			if l.Header.MaxProcs != 4 || l.Header.MaxNodes != 2 {
				t.Errorf("header = %+v", l.Header)
			}
			if len(l.Jobs) != 6 {
				t.Fatalf("%d jobs, want 6", len(l.Jobs))
			}
			want := Job{Number: 5, Submit: 30, RunTime: 500, AllocProcs: 1, AvgCPU: 12.5, UsedMemory: -1, ReqProcs: 1, ReqTime: 40,
				ReqMemory: -1, Status: 0, User: 3, Group: 1, App: 1, Queue: 1, Partition: -1, PrecedingJob: -1, ThinkTime: -1, Line: 16}
			if got := l.Jobs[4]; !reflect.DeepEqual(got, want) {
				t.Errorf("job 5 = %+v\nwant %+v", got, want)
			}
		})
	}
	l, err := Read(bytes.NewReader(raw), 2)
	if err != nil || len(l.Jobs) != 2 || l.Jobs[1].Number != 2 {
		t.Fatalf("limit 2: %v, %+v", err, l)
	}
}

func TestReadErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"1 2 3\n", "line 1: 3 fields, want 18"},
		{"; c\n1 0 0 10 1 -1 -1 1 10 -1 1 1 1 1 1 -1 -1 x\n", `line 2: field 18 "x": not a number`},
		{"1 0 0 1e300 1 -1 -1 1 10 -1 1 1 1 1 1 -1 -1 -1\n", "field 4"},
		{"1 0 0 NaN 1 -1 -1 1 10 -1 1 1 1 1 1 -1 -1 -1\n", "out of range"},
	}
	for _, tt := range tests {
		_, err := Read(strings.NewReader(tt.in), 0)
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Read(%q) = %v, want a ParseError containing %q", tt.in, err, tt.want)
		}
	}
}

func TestExtraFieldsAndDecimals(t *testing.T) {
	l, err := Read(strings.NewReader("7 1.9 0 10.5 2 -1 -1 2 20 -1 1 1 1 1 1 -1 -1 -1 99 98\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if j := l.Jobs[0]; j.Submit != 1 || j.RunTime != 10 || j.ExtraFieldsLen != 2 {
		t.Errorf("got %+v", j)
	}
}

// FuzzRead: any input either parses or is rejected with an error; never
// a panic; parsing is deterministic; numbers stay in range.
func FuzzRead(f *testing.F) {
	if raw, err := os.ReadFile("../testdata/swf/tiny.swf"); err == nil {
		f.Add(raw)
	}
	f.Add([]byte("; MaxProcs: 8\n1 0 0 10 1 -1 -1 1 10 -1 1 1 1 1 1 -1 -1 -1\n"))
	f.Add([]byte("\x1f\x8b"))
	f.Add([]byte("1 0 0 1.5e3 1 -1 -1 1 10 -1 1 1 1 1 1 -1 -1 -1 extra\n;MaxNodes:3"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := Read(bytes.NewReader(data), 0)
		if err != nil {
			return
		}
		again, err := Read(bytes.NewReader(data), 0)
		if err != nil || !reflect.DeepEqual(l, again) {
			t.Fatalf("not deterministic")
		}
		if l.Header.MaxProcs < 0 || l.Header.MaxNodes < 0 {
			t.Fatalf("negative header %+v", l.Header)
		}
		for _, j := range l.Jobs {
			if j.Line <= 0 || j.RunTime > maxValue || j.RunTime < -maxValue || j.Submit > maxValue || j.Submit < -maxValue {
				t.Fatalf("bad job %+v", j)
			}
		}
	})
}
