package runner

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Files the job names (stdout, stderr, the command) are opened and checked
// with the user's identity, never root's.
//
// How: asUser runs a function on a fresh, locked OS thread whose
// filesystem identity (fsuid, fsgid and supplementary groups, set with raw
// per-thread syscalls) is the user's. Changing fsuid from 0 also clears
// the thread's filesystem capabilities (CAP_DAC_OVERRIDE, CAP_FOWNER, ...),
// so the kernel checks every path component, symlink and open exactly as
// for the user: a symlink the user planted can only lead where the user
// could write anyway. The thread is never unlocked, so the Go runtime
// destroys it when the function returns and no other goroutine ever runs
// with those credentials. This was preferred over O_NOFOLLOW plus checks
// (which miss symlinks in parent directories and hard links) and over a
// helper child process (a fork+exec per job start).

// asUser runs fn with the filesystem identity uid/gid/groups.
func asUser(uid, gid uint32, groups []uint32, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread: the thread dies with this goroutine.
		if err := setThreadFSCreds(uid, gid, groups); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// setThreadFSCreds changes the calling thread's supplementary groups,
// fsgid and fsuid. The libc and Go wrappers of setgroups change every
// thread, hence the raw syscalls.
func setThreadFSCreds(uid, gid uint32, groups []uint32) error {
	var p unsafe.Pointer
	if len(groups) > 0 {
		p = unsafe.Pointer(&groups[0])
	}
	if _, _, e := unix.RawSyscall(unix.SYS_SETGROUPS, uintptr(len(groups)), uintptr(p), 0); e != 0 {
		return fmt.Errorf("setgroups %v: %w", groups, e)
	}
	// setfsgid/setfsuid return the previous id and never fail loudly; a
	// second call returns the current one, which verifies the change.
	unix.RawSyscall(unix.SYS_SETFSGID, uintptr(gid), 0, 0)
	if cur, _, _ := unix.RawSyscall(unix.SYS_SETFSGID, uintptr(gid), 0, 0); uint32(cur) != gid {
		return fmt.Errorf("setfsgid %d: still %d", gid, cur)
	}
	unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0)
	if cur, _, _ := unix.RawSyscall(unix.SYS_SETFSUID, uintptr(uid), 0, 0); uint32(cur) != uid {
		return fmt.Errorf("setfsuid %d: still %d", uid, cur)
	}
	return nil
}

// openOutput opens (creating or truncating) path for writing as the user.
// Only regular files, character devices and FIFOs with a reader are
// accepted; a FIFO without a reader fails instead of blocking.
func openOutput(path string, appendTo bool, uid, gid uint32, groups []uint32) (*os.File, error) {
	var f *os.File
	mode := unix.O_TRUNC
	if appendTo {
		mode = unix.O_APPEND
	}
	err := asUser(uid, gid, groups, func() error {
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|mode|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0o644)
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(fd), path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("open output %s as uid %d: %w", path, uid, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("stat output %s: %w", path, err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG, unix.S_IFCHR, unix.S_IFIFO:
	default:
		f.Close()
		return nil, fmt.Errorf("open output %s: not a regular file, device or fifo (mode %#o)", path, st.Mode)
	}
	if err := unix.SetNonblock(int(f.Fd()), false); err != nil {
		f.Close()
		return nil, fmt.Errorf("open output %s: clear O_NONBLOCK: %w", path, err)
	}
	return f, nil
}

// jobWriter returns what to hand libcontainer as the job's stdout/stderr.
// libcontainer's init chowns a stdio file to the job's uid when it is owned
// by someone else (fixStdioPermissions), which would give the user a file
// that merely was writable to them (group- or world-writable, owned by
// another user). Such files, and anything but the user's own files and
// /dev/null, are therefore passed behind a pipe that the supervisor copies
// into the file.
func jobWriter(f *os.File, uid uint32) (io.Writer, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, fmt.Errorf("stat output %s: %w", f.Name(), err)
	}
	if st.Uid == uid || isDevNull(&st) {
		return f, nil
	}
	return struct{ io.Writer }{f}, nil
}

func isDevNull(st *unix.Stat_t) bool {
	var dn unix.Stat_t
	if err := unix.Stat("/dev/null", &dn); err != nil {
		return false
	}
	return st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == dn.Rdev
}

// defaultPath is searched when the job's environment has no PATH (as
// execvp does).
const defaultPath = "/usr/local/bin:/usr/bin:/bin"

// errNotFound marks a command that cannot be run; the job ends with 127.
var errNotFound = errors.New("command not found")

// lookPath resolves the command argv0 as the user would see it inside the
// job: against PATH from env (relative PATH entries are ignored), relative
// names against cwd, on the host's files minus the directories the
// container replaces (hidden). The check runs with the user's identity, so
// "executable" means executable by the user. It returns an absolute path
// for bare names, argv0 itself otherwise.
func lookPath(argv0 string, env []string, cwd string, hidden func(string) bool, uid, gid uint32, groups []uint32) (string, error) {
	path, found := defaultPath, false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path, found = v, true // the last one wins, as in libcontainer
		}
	}
	var cands []string
	if strings.Contains(argv0, "/") {
		p := argv0
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		cands = []string{p}
	} else {
		for _, d := range filepath.SplitList(path) {
			if filepath.IsAbs(d) {
				cands = append(cands, filepath.Join(d, argv0))
			}
		}
	}
	var hit string
	var lastErr error
	err := asUser(uid, gid, groups, func() error {
		for _, c := range cands {
			if hidden(c) {
				continue
			}
			var st unix.Stat_t
			if err := unix.Stat(c, &st); err != nil {
				lastErr = err
				continue
			}
			if st.Mode&unix.S_IFMT != unix.S_IFREG {
				lastErr = fmt.Errorf("%s is not a regular file", c)
				continue
			}
			if err := unix.Faccessat2(unix.AT_FDCWD, c, unix.X_OK, unix.AT_EACCESS); err != nil {
				lastErr = err
				continue
			}
			hit = c
			return nil
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look up command %q: %w", argv0, err)
	}
	if hit == "" {
		where := fmt.Sprintf("in PATH %q", path)
		if !found {
			where = fmt.Sprintf("in default PATH %q", path)
		}
		if strings.Contains(argv0, "/") {
			where = "relative to " + cwd
		}
		if lastErr != nil && !errors.Is(lastErr, unix.ENOENT) {
			where += fmt.Sprintf(" (last error: %v)", lastErr)
		}
		return "", fmt.Errorf("%w: %q %s as uid %d", errNotFound, argv0, where, uid)
	}
	if strings.Contains(argv0, "/") {
		return argv0, nil
	}
	return hit, nil
}
