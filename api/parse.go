package api

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
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
