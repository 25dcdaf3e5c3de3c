package api

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseMemory(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr string
	}{
		{in: "512", want: 512 << 20},
		{in: "64M", want: 64 << 20},
		{in: "64MiB", want: 64 << 20},
		{in: "1.5G", want: 3 << 29},
		{in: "2tb", want: 2 << 40},
		{in: "100k", want: 100 << 10},
		{in: " 8G ", want: 8 << 30},
		{in: "", wantErr: `memory size ""`},
		{in: "lots", wantErr: `memory size "lots"`},
		{in: "12Q", wantErr: `unknown unit "q"`},
		{in: "1.2.3G", wantErr: `bad number "1.2.3"`},
		{in: "0", wantErr: "out of range"},
		{in: "99999999999T", wantErr: "out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMemory(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseMemory(%q) = %d, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMemory(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseWalltime(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "30", want: 30 * time.Minute},
		{in: "2:30", want: 150 * time.Minute},
		{in: "0:01", want: time.Minute},
		{in: "90s", want: 90 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "", wantErr: "empty"},
		{in: "0", wantErr: "positive"},
		{in: "1:75", wantErr: `walltime "1:75"`},
		{in: "abc", wantErr: `walltime "abc"`},
		{in: "-5", wantErr: `walltime "-5"`},
		{in: "1:2:3", wantErr: `walltime "1:2:3"`},
		{in: "99999999:00", wantErr: "ten years"},
		{in: "-1h", wantErr: "positive"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWalltime(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseWalltime(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseWalltime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestFormatMemory(t *testing.T) {
	for in, want := range map[int64]string{0: "0B", 1023: "1023B", 64 << 20: "64.0MiB", 3 << 29: "1.5GiB"} {
		if got := FormatMemory(in); got != want {
			t.Errorf("FormatMemory(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestOutputPath(t *testing.T) {
	tests := []struct{ tmpl, cwd, want string }{
		{"gantry-%J.out", "/home/a", "/home/a/gantry-42.out"},
		{"out.%J.%I", "/w", "/w/out.42.7"},
		{"/abs/%J/%%J.log", "/x", "/abs/42/%J.log"},
		{"../out", "/home/a/run", "/home/a/out"},
		{"trailing%", "/w", "/w/trailing%"},
	}
	for _, tt := range tests {
		if got := OutputPath(tt.tmpl, tt.cwd, 42, 7); got != tt.want {
			t.Errorf("OutputPath(%q, %q) = %q, want %q", tt.tmpl, tt.cwd, got, tt.want)
		}
	}
}

func TestJobSpecValidate(t *testing.T) {
	ok := JobSpec{Command: []string{"true"}, Cwd: "/tmp"}
	tests := []struct {
		name    string
		mod     func(*JobSpec)
		wantErr string
	}{
		{name: "ok", mod: func(*JobSpec) {}},
		{name: "no command", mod: func(s *JobSpec) { s.Command = nil }, wantErr: "command: missing"},
		{name: "relative cwd", mod: func(s *JobSpec) { s.Cwd = "rel" }, wantErr: `cwd "rel"`},
		{name: "negative cores", mod: func(s *JobSpec) { s.Cores = -1 }, wantErr: "cores -1"},
		{name: "bad env", mod: func(s *JobSpec) { s.Env = []string{"NOEQUALS"} }, wantErr: `env entry "NOEQUALS"`},
		{name: "nul arg", mod: func(s *JobSpec) { s.Command = []string{"a\x00b"} }, wantErr: "NUL"},
		{name: "negative walltime", mod: func(s *JobSpec) { s.WalltimeSeconds = -3 }, wantErr: "walltime -3"},
		{name: "gang", mod: func(s *JobSpec) { s.Nodes, s.TasksPerNode, s.Tasks = 3, 4, 10 }},
		{name: "negative nodes", mod: func(s *JobSpec) { s.Nodes = -2 }, wantErr: "nodes -2"},
		{name: "gang array", mod: func(s *JobSpec) { s.Nodes, s.Array = 2, "1-3" }, wantErr: `nodes 2 with array "1-3"`},
		{name: "per gpu without gpus", mod: func(s *JobSpec) { s.TasksPerGPU = 1 }, wantErr: "asks for no GPUs"},
		{name: "tasks per gpu 2", mod: func(s *JobSpec) { s.TasksPerGPU, s.NumGPUs = 2, 2 }, wantErr: "tasks per gpu 2"},
		{name: "too many tasks", mod: func(s *JobSpec) { s.Nodes, s.TasksPerNode, s.Tasks = 2, 2, 5 }, wantErr: "tasks 5"},
		{name: "empty last node", mod: func(s *JobSpec) { s.Nodes, s.TasksPerNode, s.Tasks = 3, 4, 8 }, wantErr: "tasks 8: fewer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ok
			tt.mod(&s)
			err := s.Validate()
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"512", "1.5G", "64MiB", "", "1e400", "0.0000001k", "9223372036854775807T"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseMemory(s)
		if err == nil && (v < 1 || v > 1<<60) {
			t.Fatalf("ParseMemory(%q) = %d without error", s, v)
		}
		if err != nil && !strings.Contains(err.Error(), "memory size") {
			t.Fatalf("error %q does not name the value", err)
		}
	})
}

func FuzzParseWalltime(f *testing.F) {
	for _, s := range []string{"30", "2:30", "90s", "1h", ":", "1:", "-0", "5000000000:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseWalltime(s)
		if err == nil && (v <= 0 || v > maxWalltime) {
			t.Fatalf("ParseWalltime(%q) = %v without error", s, v)
		}
	})
}

func TestParseBeginTime(t *testing.T) {
	now := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	tests := []struct {
		in      string
		want    time.Time
		wantErr string
	}{
		{in: "21:30", want: time.Date(2026, 11, 26, 21, 30, 0, 0, time.UTC)},
		{in: "08:00", want: time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)},
		{in: "30:08:00", want: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)},
		{in: "1:08:00", want: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{in: "31:08:00", want: time.Date(2026, 12, 31, 8, 0, 0, 0, time.UTC)},
		{in: "2:29:00:00", want: time.Date(2028, 2, 29, 0, 0, 0, 0, time.UTC)},
		{in: "2027:1:2:3:4", want: time.Date(2027, 1, 2, 3, 4, 0, 0, time.UTC)},
		{in: "2026-12-01T08:00:00Z", want: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{in: "2026-12-01 08:00", want: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{in: "25:00", wantErr: "hour 25"},
		{in: "13:32:00:00", wantErr: "month 13"},
		{in: "2027:2:30:0:0", wantErr: "no such date"},
		{in: "noon", wantErr: `begin time "noon"`},
		{in: "1:2:3:4:5:6", wantErr: `begin time "1:2:3:4:5:6"`},
	}
	for _, tt := range tests {
		got, err := ParseBeginTime(tt.in, now)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseBeginTime(%q) = %v, %v; want error with %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseBeginTime(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseBeginTime(f *testing.F) {
	for _, s := range []string{"21:30", "2:29:00:00", "2027:1:2:3:4", "2026-12-01T08:00:00Z", "::", "9999:12:31:23:59"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 20, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseBeginTime(s, now)
		if err == nil && got.IsZero() {
			t.Fatalf("ParseBeginTime(%q) gave the zero time", s)
		}
	})
}

func TestRankOutput(t *testing.T) {
	for _, tt := range []struct {
		path string
		rank int
		want string
	}{
		{"/w/train.out", 0, "/w/train.out"},
		{"/w/train.out", 3, "/w/train.rank3.out"},
		{"/w/gantry-42", 1, "/w/gantry-42.rank1"},
		{"/w/.log", 2, "/w/.log.rank2"},
	} {
		if got := RankOutput(tt.path, tt.rank); got != tt.want {
			t.Errorf("RankOutput(%q, %d) = %q, want %q", tt.path, tt.rank, got, tt.want)
		}
	}
}

func TestSpecTasks(t *testing.T) {
	s := JobSpec{Nodes: 3, TasksPerNode: 4, Tasks: 10}
	if s.TotalTasks() != 10 || s.TasksOnRank(0) != 4 || s.TasksOnRank(2) != 2 {
		t.Errorf("tasks %d, on ranks %d %d", s.TotalTasks(), s.TasksOnRank(0), s.TasksOnRank(2))
	}
	g := JobSpec{Nodes: 2, NumGPUs: 8, TasksPerGPU: 1}
	if g.NodeTasks() != 8 || g.TotalTasks() != 16 {
		t.Errorf("per-GPU tasks %d, total %d", g.NodeTasks(), g.TotalTasks())
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]string{"USR1": "SIGUSR1", "sigusr2": "SIGUSR2", "SIGHUP": "SIGHUP", "10": "SIGUSR1", " term ": "SIGTERM"} {
		if got, err := ParseSignal(in); got != want || err != nil {
			t.Errorf("ParseSignal(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "NOSUCH", "0", "64", "-1", "SIG"} {
		if _, err := ParseSignal(bad); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", bad)) {
			t.Errorf("ParseSignal(%q) = %v, want an error naming it", bad, err)
		}
	}
}
