package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Interactive jobs (bsub -I, -Is). The submitting client and the node
// daemon running the job each open an upgraded connection to the server
// (GET .../tty with "Upgrade: gantry-tty"), and the server joins the two:
// the client's bytes go to the job's terminal and back. The client's
// request waits (ttyWait at a time) for the node's, which the daemon
// makes once the job's terminal is up; the node's waits for a client. The
// node's stream starts with the client's window size, "ROWS COLS\n".

// ttyWait bounds one wait for the other side; both sides ask again.
const ttyWait = 30 * time.Second

// ttyUpgrade is the protocol name of the upgraded connections.
const ttyUpgrade = "gantry-tty"

// ttyBroker pairs clients with nodes, by job id.
type ttyBroker struct {
	mu      sync.Mutex
	clients map[int64]chan net.Conn // a waiting client takes the node's connection
	// arrived is closed (and replaced) when a client starts waiting:
	// waiting nodes look again.
	arrived chan struct{}
}

// take removes and returns the waiting client of job id, or, when none
// waits, a channel closed when a client next arrives.
func (b *ttyBroker) take(id int64) (chan net.Conn, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.clients[id]; ok {
		delete(b.clients, id) // taken: one node per client
		return c, nil
	}
	if b.arrived == nil {
		b.arrived = make(chan struct{})
	}
	return nil, b.arrived
}

// handleAttach connects the caller to an interactive job's terminal.
func (s *Server) handleAttach(w http.ResponseWriter, r *http.Request, c Caller) {
	j, ok := s.ownJob(w, r, c, "attach to")
	if !ok {
		return
	}
	switch {
	case j.Spec.TTY == "":
		writeError(w, http.StatusConflict, fmt.Errorf("job %d is not interactive (submit it with bsub -I or -Is)", j.ID))
		return
	case j.State.Terminal():
		writeError(w, http.StatusGone, fmt.Errorf("job %d has ended: %s", j.ID, j.State))
		return
	}
	rows, _ := strconv.ParseUint(r.URL.Query().Get("rows"), 10, 16)
	cols, _ := strconv.ParseUint(r.URL.Query().Get("cols"), 10, 16)
	node := make(chan net.Conn, 1)
	b := &s.ttys
	b.mu.Lock()
	if b.clients == nil {
		b.clients = map[int64]chan net.Conn{}
	}
	if _, busy := b.clients[j.ID]; busy {
		b.mu.Unlock()
		writeError(w, http.StatusConflict, fmt.Errorf("job %d: another terminal is attached", j.ID))
		return
	}
	b.clients[j.ID] = node
	if b.arrived != nil {
		close(b.arrived)
		b.arrived = nil
	}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.clients, j.ID)
		b.mu.Unlock()
		// A node that arrived as this client gave up is sent away.
		select {
		case nc := <-node:
			nc.Close()
		default:
		}
	}()
	var nc net.Conn
	select {
	case nc = <-node:
	case <-time.After(ttyWait):
		writeError(w, http.StatusGatewayTimeout, fmt.Errorf("job %d: its terminal is not up yet (the job has not started): ask again", j.ID))
		return
	case <-r.Context().Done():
		return
	}
	defer nc.Close()
	conn, rw, err := upgrade(w)
	if err != nil {
		s.log.Error("attach: upgrade", "job_id", j.ID, "err", err)
		return
	}
	defer conn.Close()
	fmt.Fprintf(nc, "%d %d\n", rows, cols)
	s.log.Info("terminal attached", "job_id", j.ID, "user", c.User)
	splice(conn, rw.Reader, nc)
}

// handleNodeTTY hands a node's connection to its job's terminal to the
// waiting client.
func (s *Server) handleNodeTTY(w http.ResponseWriter, r *http.Request, _ Caller) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("job id %q: want a number", r.PathValue("id")))
		return
	}
	j, err := s.store.Job(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if j.Node != r.PathValue("name") || j.State.Terminal() || j.Spec.TTY == "" {
		writeError(w, http.StatusGone, fmt.Errorf("job %d is not an interactive job running on node %s", id, r.PathValue("name")))
		return
	}
	timeout := time.NewTimer(ttyWait)
	defer timeout.Stop()
	for {
		client, arrived := s.ttys.take(id)
		if client != nil {
			conn, rw, err := upgrade(w)
			if err != nil {
				s.log.Error("node terminal: upgrade", "job_id", id, "err", err)
				return
			}
			if rw.Reader.Buffered() > 0 {
				conn.Close() // the node sends nothing before the client's line
				return
			}
			client <- conn
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-timeout.C:
			writeError(w, http.StatusRequestTimeout, fmt.Errorf("job %d: no client is attached: ask again", id))
			return
		case <-arrived:
		}
	}
}

// upgrade takes over the connection of w with a 101 answer.
func upgrade(w http.ResponseWriter) (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, nil, err
	}
	conn.SetDeadline(time.Time{})
	if _, err := fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: %s\r\n\r\n", ttyUpgrade); err != nil {
		conn.Close()
		return nil, nil, err
	}
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, nil, err
	}
	return conn, rw, nil
}

// splice joins client (read through cr, which may hold buffered bytes)
// and node until the node's stream ends, then closes both. The node's
// side decides the end: when the client's input ends, only the node's
// write side is closed, so that everything the job wrote still reaches
// the client.
func splice(client net.Conn, cr io.Reader, node net.Conn) {
	go func() {
		io.Copy(node, cr)
		if hc, ok := node.(interface{ CloseWrite() error }); ok {
			hc.CloseWrite()
		} else {
			node.Close()
		}
	}()
	io.Copy(client, node)
	client.Close()
	node.Close()
}
