package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Binary units for memory sizes. Like LSF with LSF_UNIT_FOR_LIMITS=MB and
// Slurm's --mem, a bare number means MiB.
var memUnits = map[string]int64{
	"":  1 << 20,
	"b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// ParseMemory parses a memory size such as "512", "512M", "1.5G", "64MiB"
// or "2TB" into bytes. A bare number is MiB; units are binary and
// case-insensitive. The result is positive and at most 1 EiB.
func ParseMemory(s string) (int64, error) {
	in := strings.TrimSpace(s)
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.') {
		i++
	}
	num, unit := in[:i], strings.ToLower(strings.TrimSpace(in[i:]))
	if num == "" {
		return 0, fmt.Errorf("memory size %q: want a number with an optional unit (K, M, G, T), e.g. 512M or 4G", s)
	}
	mult, ok := memUnits[unit]
	if !ok {
		return 0, fmt.Errorf("memory size %q: unknown unit %q (want K, M, G or T)", s, unit)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("memory size %q: bad number %q", s, num)
	}
	bytes := v * float64(mult)
	if bytes < 1 || bytes > 1<<60 || math.IsNaN(bytes) {
		return 0, fmt.Errorf("memory size %q: out of range (1 byte to 1 EiB)", s)
	}
	return int64(bytes), nil
}

// FormatMemory renders bytes with a binary unit, e.g. "64.0MiB".
func FormatMemory(b int64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%dB", b)
	}
	div, exp := int64(unit), 0
	for n := b / unit; n >= unit && exp < 5; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%ciB", float64(b)/float64(div), "KMGTPE"[exp])
}

// maxWalltime bounds walltimes to something a scheduler can add to a time
// without overflow: 10 years.
const maxWalltime = 10 * 365 * 24 * time.Hour

// ParseWalltime parses a run-time limit. It accepts LSF's bsub -W form,
// "[hours:]minutes" ("30" is 30 minutes, "2:30" is two and a half hours),
// and Go durations with units ("90s", "1h30m"). The result is positive and
// at most ten years.
func ParseWalltime(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	var d time.Duration
	switch {
	case in == "":
		return 0, fmt.Errorf("walltime %q: empty (want [hours:]minutes, e.g. 30 or 2:30, or a duration like 90s)", s)
	case strings.ContainsAny(in, "hmsuµn"):
		v, err := time.ParseDuration(in)
		if err != nil {
			return 0, fmt.Errorf("walltime %q: want [hours:]minutes or a duration like 90s or 1h30m", s)
		}
		d = v
	default:
		hours, minutes, hasHours := strings.Cut(in, ":")
		if !hasHours {
			hours, minutes = "0", in
		}
		h, err1 := strconv.ParseUint(hours, 10, 32)
		m, err2 := strconv.ParseUint(minutes, 10, 32)
		if err1 != nil || err2 != nil || (hasHours && m >= 60) {
			return 0, fmt.Errorf("walltime %q: want [hours:]minutes with minutes below 60 after a colon, e.g. 30 or 2:30", s)
		}
		if h > uint64(maxWalltime/time.Hour) || m > uint64(maxWalltime/time.Minute) {
			return 0, fmt.Errorf("walltime %q: longer than ten years", s)
		}
		d = time.Duration(h)*time.Hour + time.Duration(m)*time.Minute
	}
	if d <= 0 {
		return 0, fmt.Errorf("walltime %q: must be positive", s)
	}
	if d > maxWalltime {
		return 0, fmt.Errorf("walltime %q: longer than ten years", s)
	}
	return d, nil
}

// ParseBeginTime parses a begin time relative to now, in local time. It
// accepts bsub -b's [[[year:]month:]day:]hour:minute, where omitted parts
// mean the next such time (14:30 is today at 14:30 if that is still to
// come, else tomorrow), RFC 3339 ("2026-12-01T08:00:00Z"), and
// "YYYY-MM-DD HH:MM".
func ParseBeginTime(s string, now time.Time) (time.Time, error) {
	in := strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, in); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02 15:04", in, now.Location()); err == nil {
		return t, nil
	}
	bad := fmt.Errorf("begin time %q: want [[[year:]month:]day:]hour:minute (bsub -b), YYYY-MM-DD HH:MM, or RFC 3339", s)
	parts := strings.Split(in, ":")
	if len(parts) < 2 || len(parts) > 5 {
		return time.Time{}, bad
	}
	nums := make([]int, len(parts))
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || len(p) > 4 {
			return time.Time{}, bad
		}
		nums[i] = n
	}
	// Right-align into year, month, day, hour, minute.
	f := [5]int{-1, -1, -1, -1, -1}
	copy(f[5-len(nums):], nums)
	year, month, day, hour, minute := f[0], f[1], f[2], f[3], f[4]
	switch {
	case hour > 23 || minute > 59:
		return time.Time{}, fmt.Errorf("begin time %q: hour %d or minute %d out of range", s, hour, minute)
	case month == 0 || month > 12:
		return time.Time{}, fmt.Errorf("begin time %q: month %d out of range", s, month)
	case day == 0 || day > 31:
		return time.Time{}, fmt.Errorf("begin time %q: day %d out of range", s, day)
	case year >= 0 && (year < 1970 || year > 9999):
		return time.Time{}, fmt.Errorf("begin time %q: year %d out of range", s, year)
	}
	loc := now.Location()
	build := func(y int, m time.Month, d int) (time.Time, bool) {
		t := time.Date(y, m, d, hour, minute, 0, 0, loc)
		return t, t.Day() == d && t.Month() == m // no 31 February
	}
	y, m, d := now.Date()
	switch {
	case year >= 0:
		if t, ok := build(year, time.Month(month), day); ok {
			return t, nil
		}
	case month >= 0:
		for yy := y; yy <= y+4; yy++ { // 29 February may be years away
			if t, ok := build(yy, time.Month(month), day); ok && !t.Before(now) {
				return t, nil
			}
		}
	case day >= 0:
		for k := 0; k < 13; k++ {
			if t, ok := build(y, m+time.Month(k), day); ok && !t.Before(now) {
				return t, nil
			}
		}
	default:
		t, _ := build(y, m, d)
		if t.Before(now) {
			t = t.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return time.Time{}, fmt.Errorf("begin time %q: no such date", s)
}

// ParseSignal reads a signal given by name, with or without SIG (USR1,
// SIGUSR1, usr1), or by number (10), and returns its name (SIGUSR1).
func ParseSignal(s string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if n, err := strconv.Atoi(t); err == nil {
		if name := unix.SignalName(syscall.Signal(n)); name != "" && n > 0 && n < 32 {
			return name, nil
		}
		return "", fmt.Errorf("signal %q: no such signal number", s)
	}
	if !strings.HasPrefix(t, "SIG") {
		t = "SIG" + t
	}
	if n := unix.SignalNum(t); n > 0 && n < 32 {
		return t, nil
	}
	return "", fmt.Errorf("signal %q: want a name such as USR1 or a number from 1 to 31", s)
}
