package recur

import (
	"strings"
	"testing"
	"time"
)

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ spec, tz, want string }{
		{"* * *", "", `cron spec "* * *"`},
		{"61 * * * *", "", `cron spec "61 * * * *"`},
		{"@every 5m", "", "@every"},
		{"0 0 * * *", "Mars/Olympus", `time zone "Mars/Olympus"`},
		{"CRON_TZ=UTC 0 0 * * *", "", "TZ="},
	} {
		if _, err := Parse(tt.spec, tt.tz); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q, %q) = %v, want error with %q", tt.spec, tt.tz, err, tt.want)
		}
	}
}

// fires lists the fire times of s from start until end.
func fires(s *Schedule, start, end time.Time) []time.Time {
	var out []time.Time
	last := ""
	for t := start; ; {
		n, slot := s.Next(t, last)
		if n.IsZero() || n.After(end) {
			return out
		}
		out = append(out, n)
		t, last = n, slot
	}
}

func TestDaylightSaving(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	tests := []struct {
		name       string
		spec       string
		start, end time.Time
		want       []string // in New York wall time with zone
	}{
		{
			// 2026-11-01: clocks fall back at 02:00 EDT to 01:00 EST, so
			// 01:30 happens twice. It fires once.
			name: "fall back: repeated slot fires once", spec: "30 1 * * *",
			start: time.Date(2026, 10, 31, 12, 0, 0, 0, ny), end: time.Date(2026, 11, 2, 12, 0, 0, 0, ny),
			want: []string{"2026-11-01 01:30 EDT", "2026-11-02 01:30 EST"},
		},
		{
			// 2026-03-08: clocks spring forward from 02:00 EST to 03:00 EDT;
			// 02:30 does not exist and fires once, after the gap.
			name: "spring forward: missing slot fires once after the gap", spec: "30 2 * * *",
			start: time.Date(2026, 3, 7, 12, 0, 0, 0, ny), end: time.Date(2026, 3, 9, 12, 0, 0, 0, ny),
			want: []string{"2026-03-08 03:30 EDT", "2026-03-09 02:30 EDT"},
		},
		{
			name: "hourly across fall back: 01:00 and 01:30 once each", spec: "0,30 1 * * *",
			start: time.Date(2026, 11, 1, 0, 0, 0, 0, ny), end: time.Date(2026, 11, 1, 4, 0, 0, 0, ny),
			want: []string{"2026-11-01 01:00 EDT", "2026-11-01 01:30 EDT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(tt.spec, "America/New_York")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fires(s, tt.start, tt.end) {
				got = append(got, f.In(ny).Format("2006-01-02 15:04 MST"))
			}
			if strings.Join(got, ", ") != strings.Join(tt.want, ", ") {
				t.Errorf("fires %v\nwant  %v", got, tt.want)
			}
		})
	}
}

func TestNextUTC(t *testing.T) {
	s, err := Parse("@daily", "")
	if err != nil {
		t.Fatal(err)
	}
	n, slot := s.Next(time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC), "")
	if !n.Equal(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)) || slot != "2026-01-02 00:00" {
		t.Errorf("Next = %v %q", n, slot)
	}
	never, _ := Parse("0 0 30 2 *", "") // 30 February
	if n, _ := never.Next(time.Now(), ""); !n.IsZero() {
		t.Errorf("30 February fires at %v", n)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"* * * * *", "@daily", "0 0 30 2 *", "*/5 1-3 * JAN-MAR MON", "0 0 * * 7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		s, err := Parse(spec, "America/New_York")
		if err != nil {
			return
		}
		s.Next(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), "")
	})
}

func TestInsideFallBackOverlap(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	s, _ := Parse("30 1 * * *", "America/New_York")
	// 01:10 EST is the second pass through 01:xx; the 01:30 slot has not
	// fired (no last slot), so it fires at 01:30 EST, not in the past.
	secondPass := time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC) // 01:10 EST
	n, slot := s.Next(secondPass, "")
	if got := n.In(ny).Format("15:04 MST"); got != "01:30 EST" || slot != "2026-11-01 01:30" {
		t.Errorf("Next = %s %q, want 01:30 EST", got, slot)
	}
	// Had it fired at 01:30 EDT, the next fire is the next day.
	n, _ = s.Next(secondPass, "2026-11-01 01:30")
	if got := n.In(ny).Format("2006-01-02 15:04 MST"); got != "2026-11-02 01:30 EST" {
		t.Errorf("Next after the fired slot = %s", got)
	}
}
