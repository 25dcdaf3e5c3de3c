package runner

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	good := Spec{JobID: "j-1", Argv: []string{"true"}, Cwd: "/home/u", UID: 1000, GID: 1000,
		Stdout: "/home/u/o", Stderr: "/home/u/e", Env: []string{"A=b", "EMPTY="}}
	tests := []struct {
		name    string
		edit    func(*Spec)
		wantErr string
	}{
		{"good", func(*Spec) {}, ""},
		{"bad id", func(s *Spec) { s.JobID = "a/b" }, `job id "a/b"`},
		{"no argv", func(s *Spec) { s.Argv = nil }, "empty command"},
		{"relative cwd", func(s *Spec) { s.Cwd = "home" }, `cwd "home"`},
		{"unclean cwd", func(s *Spec) { s.Cwd = "/home/../etc" }, `cwd "/home/../etc"`},
		{"relative stdout", func(s *Spec) { s.Stdout = "o" }, `stdout "o"`},
		{"bad env", func(s *Spec) { s.Env = []string{"NOEQUALS"} }, `env "NOEQUALS"`},
		{"repeated cpu", func(s *Spec) { s.CPUs = []int{1, 1} }, "cpu 1 negative or repeated"},
		{"negative walltime", func(s *Spec) { s.Walltime = -time.Second }, "walltime -1s"},
		{"gpus", func(s *Spec) {
			s.GPUs = []GPU{{Index: 0, UUID: "GPU-a", Minor: 0}, {Index: 3, UUID: "GPU-b", Minor: 5}}
		}, ""},
		{"repeated gpu", func(s *Spec) {
			s.GPUs = []GPU{{Index: 1, UUID: "GPU-a", Minor: 1}, {Index: 1, UUID: "GPU-b", Minor: 2}}
		}, "gpu 1 (minor 2"},
		{"gpu without uuid", func(s *Spec) { s.GPUs = []GPU{{Index: 1, Minor: 1}} }, `uuid ""`},
		{"gpu minor unknown", func(s *Spec) { s.GPUs = []GPU{{Index: 1, UUID: "GPU-a", Minor: -1}} }, "minor -1"},
		{"relative dev dir", func(s *Spec) { s.DevDir = "dev" }, `dev_dir "dev"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestHiddenInJob(t *testing.T) {
	tests := []struct {
		cwd, p string
		want   bool
	}{
		{"/home/u", "/usr/bin/python3", false},
		{"/home/u", "/tmp/x", true},
		{"/home/u", "/run/x", true},
		{"/home/u", "/proc/self/exe", true},
		{"/tmp/u/run", "/tmp/u/run/a.out", false},
		{"/tmp/u/run", "/tmp/u/runner", true},
		{"/", "/tmp/x", true},
		{"/home/u", "/tmpfoo/x", false},
	}
	for _, tt := range tests {
		if got := hiddenInJob(tt.cwd)(tt.p); got != tt.want {
			t.Errorf("hiddenInJob(%q)(%q) = %v, want %v", tt.cwd, tt.p, got, tt.want)
		}
	}
}

func TestResultRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadResult(dir); ok || err != nil {
		t.Fatalf("ReadResult of empty dir: ok %v err %v", ok, err)
	}
	want := Result{ExitCode: 137, Signal: "SIGKILL", OOMKilled: true, PeakMemoryBytes: 1 << 26,
		CPUTime: 1500 * time.Millisecond, StartedAt: time.Unix(100, 5).UTC(), EndedAt: time.Unix(200, 0).UTC()}
	if err := writeResult(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadResult(dir)
	if err != nil || !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadResult = %+v %v %v, want %+v", got, ok, err, want)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("temporary files left: %v", ents)
	}
	if err := os.WriteFile(filepath.Join(dir, ResultFile), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadResult(dir); err == nil || !strings.Contains(err.Error(), ResultFile) {
		t.Errorf("corrupt result: err = %v", err)
	}
}

func TestWriteAtomicNoClobber(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, SpecFile, []byte("1"), true, false); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(dir, SpecFile, []byte("2"), true, false); !os.IsExist(unwrapAll(err)) {
		t.Errorf("second no-clobber write: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, SpecFile)); string(b) != "1" {
		t.Errorf("spec overwritten: %q", b)
	}
}

func unwrapAll(err error) error {
	for {
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return err
		}
		err = u.Unwrap()
	}
}

func TestLookPathAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skipf("needs root to switch the thread's filesystem identity (euid %d)", os.Geteuid())
	}
	dir := t.TempDir() // 0700 root: nobody cannot search it
	exe := filepath.Join(dir, "tool")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	never := func(string) bool { return false }
	got, err := lookPath("sh", []string{"PATH=relative:/usr/bin:/bin"}, "/", never, nobody, nobody, nil)
	if err != nil || (got != "/usr/bin/sh" && got != "/bin/sh") {
		t.Errorf("lookPath sh = %q, %v", got, err)
	}
	if got, err := lookPath("tool", []string{"PATH=" + dir}, "/", never, 0, 0, nil); err != nil || got != exe {
		t.Errorf("lookPath as root = %q, %v", got, err)
	}
	if _, err := lookPath("tool", []string{"PATH=" + dir}, "/", never, nobody, nobody, nil); err == nil || !strings.Contains(err.Error(), `"tool"`) {
		t.Errorf("lookPath as nobody in a 0700 dir: err = %v, want not found", err)
	}
	if _, err := lookPath("sh", []string{"PATH=/usr/bin:/bin"}, "/", func(string) bool { return true }, nobody, nobody, nil); err == nil {
		t.Errorf("lookPath found a hidden path")
	}
}
