//go:build linux && cgo

package runner

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/runc/libcontainer/utils"
	"golang.org/x/sys/unix"
)

// Interactive jobs (Spec.TTY). The job's PID 1 gets a pseudo-terminal
// (libcontainer makes it and hands the supervisor its master end through
// a console socket), and the supervisor serves that terminal on a Unix
// socket in the job directory, TTYSocket, one connection at a time: the
// node daemon connects it to the submitting client through the server.
//
// A connection starts with one line, "ROWS COLS\n", the client's window
// size (0 0: unknown); then bytes flow both ways, raw. Everything the job
// writes also goes to its output file; what it wrote before the first
// connection is replayed to it (up to ttyReplay bytes).

// TTY modes (Spec.TTY).
const (
	// TTYLine is bsub -I: no echo, line editing by the terminal (the
	// client's ^D ends the input).
	TTYLine = "line"
	// TTYRaw is bsub -Is and -Ip: a full terminal, echoing, for a client
	// whose own terminal is in raw mode.
	TTYRaw = "raw"
)

// TTYSocket, in a job directory, serves an interactive job's terminal.
const TTYSocket = "tty.sock"

// ttyReplay bounds what is kept for the first connection.
const ttyReplay = 1 << 20

// ttyServer relays a job's terminal.
type ttyServer struct {
	log    *slog.Logger
	master *os.File
	out    io.Writer // the job's output file
	l      net.Listener
	path   string // l's socket file

	pumped   chan struct{} // closed when the job's output has all been read
	attached chan struct{} // closed when a first client has had the replay

	mu     sync.Mutex
	conn   net.Conn // the attached client, if any
	replay []byte   // output before the first connection
	served bool
}

// newConsoleSocket returns the pair of sockets libcontainer sends the
// terminal's master end over: child goes into the Process, parent to
// startTTY.
func newConsoleSocket() (parent, child *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("console socket: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "console-parent"), os.NewFile(uintptr(fds[1]), "console-child"), nil
}

// startTTY receives the terminal's master end from parent, sets its mode,
// and serves it on dir/TTYSocket until the job ends (stop).
func startTTY(log *slog.Logger, dir, mode string, parent *os.File, out io.Writer) (*ttyServer, error) {
	master, err := utils.RecvFile(parent)
	if err != nil {
		return nil, fmt.Errorf("receive the job's terminal: %w", err)
	}
	if mode == TTYLine {
		t, err := unix.IoctlGetTermios(int(master.Fd()), unix.TCGETS)
		if err == nil {
			t.Lflag &^= unix.ECHO | unix.ECHONL
			t.Oflag &^= unix.ONLCR // "\n" stays "\n", as from a pipe
			err = unix.IoctlSetTermios(int(master.Fd()), unix.TCSETS, t)
		}
		if err != nil {
			master.Close()
			return nil, fmt.Errorf("set the job's terminal mode: %w", err)
		}
	}
	// The node daemon takes the socket's file for "the terminal is up":
	// it appears only once the socket listens (bind makes the file before
	// listen would accept), under a name of its own first.
	path := filepath.Join(dir, TTYSocket)
	os.Remove(path)
	tmp := path + ".new"
	os.Remove(tmp)
	l, err := net.Listen("unix", tmp)
	if err == nil {
		l.(*net.UnixListener).SetUnlinkOnClose(false) // stop removes path
		if err = os.Rename(tmp, path); err != nil {
			l.Close()
			os.Remove(tmp)
		}
	}
	if err != nil {
		master.Close()
		return nil, fmt.Errorf("terminal socket: %w", err)
	}
	t := &ttyServer{log: log, master: master, out: out, l: l, path: path, pumped: make(chan struct{}), attached: make(chan struct{})}
	go t.pump()
	go t.accept()
	return t, nil
}

// pump copies the job's output to its file and to the attached client.
func (t *ttyServer) pump() {
	defer close(t.pumped)
	buf := make([]byte, 32<<10)
	for {
		n, err := t.master.Read(buf)
		if n > 0 {
			t.out.Write(buf[:n])
			t.mu.Lock()
			switch {
			case t.conn != nil:
				t.conn.Write(buf[:n])
			case !t.served && len(t.replay) < ttyReplay:
				t.replay = append(t.replay, buf[:min(n, ttyReplay-len(t.replay))]...)
			}
			t.mu.Unlock()
		}
		if err != nil {
			return // EIO: every process holding the terminal is gone
		}
	}
}

// accept serves one client at a time.
func (t *ttyServer) accept() {
	for {
		c, err := t.l.Accept()
		if err != nil {
			return
		}
		t.serve(c)
	}
}

func (t *ttyServer) serve(c net.Conn) {
	defer c.Close()
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return
	}
	if f := strings.Fields(line); len(f) == 2 {
		rows, err1 := strconv.ParseUint(f[0], 10, 16)
		cols, err2 := strconv.ParseUint(f[1], 10, 16)
		if err1 == nil && err2 == nil && rows > 0 && cols > 0 {
			unix.IoctlSetWinsize(int(t.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: uint16(rows), Col: uint16(cols)})
		}
	}
	t.mu.Lock()
	if len(t.replay) > 0 {
		c.Write(t.replay)
	}
	if !t.served {
		close(t.attached)
	}
	t.replay, t.served, t.conn = nil, true, c
	t.mu.Unlock()
	t.log.Info("terminal attached")
	_, err = io.Copy(t.master, r)
	t.mu.Lock()
	if t.conn == c {
		t.conn = nil
	}
	t.mu.Unlock()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		t.log.Info("terminal detached", "error", err)
	}
}

// ttyAttachWait is how long a job that ended before any client attached
// keeps its output for one (bsub -I is waiting, but its connection may
// not have been made yet); the job's end is reported after it.
const ttyAttachWait = 30 * time.Second

// stop ends the service once the job has ended: the attached client sees
// the end of the stream once the job's last output is through.
func (t *ttyServer) stop() {
	select {
	case <-t.pumped:
	case <-time.After(2 * time.Second): // an orphan holds the terminal
	}
	select {
	case <-t.attached:
	case <-time.After(ttyAttachWait):
		t.log.Warn("no terminal attached to the interactive job before its end", "waited", ttyAttachWait)
	}
	t.l.Close()
	os.Remove(t.path)
	t.mu.Lock()
	if t.conn != nil {
		t.conn.Close()
	}
	t.mu.Unlock()
	t.master.Close()
}
