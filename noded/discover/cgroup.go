package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
)

// cgroupMount is a cgroup filesystem mount from /proc/self/mountinfo.
type cgroupMount struct {
	point string // mount point, absolute ("/sys/fs/cgroup/memory")
	root  string // cgroup path mounted there ("/" unless bind-mounted)
}

// cgroupMemoryLimit returns the tightest memory limit on this process's
// cgroup and its ancestors up to the mount point, or 0 when there is none
// (no memory controller, "max", or the v1 "unlimited" value).
//
// The cgroup comes from proc/self/cgroup: the v1 line whose controllers
// include "memory", else the v2 "0::" line. Mount points come from
// proc/self/mountinfo; without it the usual /sys/fs/cgroup layouts are
// assumed.
func (r reader) cgroupMemoryLimit() (uint64, error) {
	text, err := r.readFile("proc/self/cgroup")
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var v1Path, v2Path string
	haveV1, haveV2 := false, false
	for line := range strings.Lines(text) {
		// "4:memory:/user.slice" (v1) or "0::/system.slice/x.service" (v2).
		f := strings.SplitN(strings.TrimSpace(line), ":", 3)
		if len(f) != 3 {
			continue
		}
		if f[0] == "0" && f[1] == "" {
			v2Path, haveV2 = f[2], true
			continue
		}
		for c := range strings.SplitSeq(f[1], ",") {
			if c == "memory" {
				v1Path, haveV1 = f[2], true
			}
		}
	}

	v1Mount, v2Mount, err := r.cgroupMounts()
	if err != nil {
		return 0, err
	}
	switch {
	case haveV1 && v1Mount != nil:
		return r.walkLimits(*v1Mount, v1Path, "memory.limit_in_bytes")
	case haveV2 && v2Mount != nil:
		return r.walkLimits(*v2Mount, v2Path, "memory.max")
	}
	return 0, nil
}

// cgroupMounts finds the v1 memory mount and the v2 mount. Without
// proc/self/mountinfo it falls back to /sys/fs/cgroup/memory (v1), and
// /sys/fs/cgroup (unified) or /sys/fs/cgroup/unified (hybrid) for v2.
func (r reader) cgroupMounts() (v1, v2 *cgroupMount, err error) {
	text, err := r.readFile("proc/self/mountinfo")
	if errors.Is(err, fs.ErrNotExist) {
		if r.exists("sys/fs/cgroup/memory") {
			v1 = &cgroupMount{point: "/sys/fs/cgroup/memory", root: "/"}
		}
		for _, p := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
			if r.exists(p[1:] + "/cgroup.controllers") {
				v2 = &cgroupMount{point: p, root: "/"}
				break
			}
		}
		return v1, v2, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for line := range strings.Lines(text) {
		// "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"
		pre, post, ok := strings.Cut(strings.TrimSpace(line), " - ")
		if !ok {
			continue
		}
		pf, qf := strings.Fields(pre), strings.Fields(post)
		if len(pf) < 5 || len(qf) < 3 {
			continue
		}
		m := &cgroupMount{root: unescapeMountinfo(pf[3]), point: unescapeMountinfo(pf[4])}
		switch qf[0] {
		case "cgroup2":
			if v2 == nil {
				v2 = m
			}
		case "cgroup":
			for o := range strings.SplitSeq(qf[2], ",") {
				if o == "memory" && v1 == nil {
					v1 = m
				}
			}
		}
	}
	return v1, v2, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for a space) that the
// kernel writes in mountinfo paths.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// walkLimits reads file in the process's cgroup directory and each parent
// up to the mount point and returns the smallest limit. Missing files (a
// controller not enabled on that level) are skipped.
func (r reader) walkLimits(m cgroupMount, cgPath, file string) (uint64, error) {
	cg, mroot := path.Clean("/"+cgPath), path.Clean(m.root)
	var rel string
	switch {
	case mroot == "/":
		rel = cg
	case strings.HasPrefix(cg, mroot+"/"):
		rel = cg[len(mroot):]
	default:
		// The cgroup is the mounted one, or lies outside the mounted
		// subtree: only the mount point itself can be read.
		rel = "/"
	}
	dir := path.Clean(path.Join(m.point, rel))
	top := path.Clean(m.point)
	var limit uint64
	for {
		v, err := r.readLimit(dir[1:] + "/" + file)
		if err != nil {
			return 0, err
		}
		if v > 0 && (limit == 0 || v < limit) {
			limit = v
		}
		if dir == top || dir == "/" {
			return limit, nil
		}
		dir = path.Dir(dir)
	}
}

// v1Unlimited is the smallest value treated as "no limit" in cgroup v1,
// which prints PAGE_COUNTER_MAX pages as 9223372036854771712 (page-size
// dependent); anything at or above 2^62 is no real limit.
const v1Unlimited = 1 << 62

// readLimit reads a memory limit file; 0 means none ("max", v1's huge
// value, or the file is absent).
func (r reader) readLimit(rel string) (uint64, error) {
	s, err := r.readFile(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s = strings.TrimSpace(s)
	if s == "max" {
		return 0, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read %s: limit %q is not a number", r.path(rel), s)
	}
	if v >= v1Unlimited {
		return 0, nil
	}
	return v, nil
}

// exists reports whether rel exists below the root.
func (r reader) exists(rel string) bool {
	_, err := fs.Stat(r.fsys, rel)
	return err == nil
}
