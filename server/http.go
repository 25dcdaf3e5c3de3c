package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// routes wires the API. Every handler gets an authenticated caller; the
// panic firewall turns a bug in one request into a 500, never a crash;
// every state-changing call is written to the audit log (audit.go)
// before its answer goes out, and every answer is timed for the metrics.
// Node daemons with a certificate and join-token holders reach only the
// routes registered for them (handleNode, and the join).
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	type handlerFunc = func(w http.ResponseWriter, r *http.Request, c Caller)
	route := func(pattern string, nodes, join bool, h handlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := newRecorder(w, r)
			var c Caller
			authed := false
			func() {
				defer func() {
					if v := recover(); v != nil {
						s.log.Error("request panicked (please report this bug)", "method", r.Method, "path", r.URL.Path, "panic", v)
						// Its change may be recorded already; the
						// answer it gets is recorded too.
						rec.audited = false
						if rec.reset() {
							writeError(rec, http.StatusInternalServerError, fmt.Errorf("internal error"))
						}
					}
				}()
				var err error
				if c, err = s.authenticate(r); err != nil {
					writeError(rec, http.StatusUnauthorized, err)
					return
				}
				authed = true
				switch {
				case c.Node != "" && !nodes:
					writeError(rec, http.StatusForbidden, fmt.Errorf("node %s: a node certificate may be used only for the node endpoints", c.Node))
					return
				case c.Join && !join:
					writeError(rec, http.StatusForbidden, errors.New("a join token may be used only to join a node (POST /v1/nodes/join)"))
					return
				}
				h(rec, r, c)
			}()
			if rec.hold {
				if !rec.audited {
					s.audit(r, pattern, c, authed, rec)
				}
				rec.flush()
			}
			s.metrics.observeAPI(pattern, rec.status(), time.Since(start))
		})
	}
	handle := func(pattern string, h handlerFunc) { route(pattern, false, false, h) }
	// handleNode registers a node endpoint: for the node's own daemon
	// (its certificate) or a local root caller.
	handleNode := func(pattern string, h handlerFunc) { route(pattern, true, false, s.nodeOnly(h)) }
	handle("GET /v1/health", func(w http.ResponseWriter, r *http.Request, c Caller) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "user": c.User})
	})
	handle("POST /v1/jobs", s.handleSubmit)
	handle("GET /v1/jobs", s.handleListJobs)
	handle("GET /v1/jobs/{id}", s.handleGetJob)
	handle("POST /v1/jobs/{id}/kill", s.handleKill)
	handle("POST /v1/jobs/{id}/signal", s.handleSignal)
	handle("GET /v1/jobs/{id}/tty", s.handleAttach)
	handle("PATCH /v1/jobs/{id}", s.handleModify)
	handle("POST /v1/jobs/{id}/hold", s.handleHold(true))
	handle("POST /v1/jobs/{id}/release", s.handleHold(false))
	handle("POST /v1/jobs/{id}/top", s.handleMove(true))
	handle("POST /v1/jobs/{id}/bottom", s.handleMove(false))
	handle("POST /v1/jobs/{id}/suspend", s.handleSuspend(true))
	handle("POST /v1/jobs/{id}/continue", s.handleSuspend(false))
	handle("GET /v1/jobs/{id}/history", s.handleHistory)
	handle("GET /v1/events", s.handleEvents)
	handle("GET /v1/acct", s.handleAcct)
	handle("POST /v1/crons", s.handleAddCron)
	handle("GET /v1/crons", s.handleListCrons)
	handle("GET /v1/crons/{id}", s.handleGetCron)
	handle("DELETE /v1/crons/{id}", s.handleDeleteCron)
	handle("POST /v1/crons/{id}/pause", s.handlePauseCron(true))
	handle("POST /v1/crons/{id}/resume", s.handlePauseCron(false))
	handle("POST /v1/reservations", s.adminOnly(s.handleReserve))
	handle("GET /v1/reservations", s.handleListReservations)
	handle("DELETE /v1/reservations/{id}", s.adminOnly(s.handleDeleteReservation))
	handle("GET /v1/queues", s.handleListQueues)
	handle("GET /v1/queues/{name}", s.handleGetQueue)
	handle("PUT /v1/queues/{name}", s.adminOnly(s.handlePutQueue))
	handle("DELETE /v1/queues/{name}", s.adminOnly(s.handleDeleteQueue))
	handle("POST /v1/queues/{name}/{action}", s.adminOnly(s.handleQueueState))
	handle("GET /v1/nodes", s.handleListNodes)
	handle("GET /v1/nodes/{name}", s.handleGetNode)
	handle("POST /v1/nodes/{name}/drain", s.adminOnly(s.handleDrain))
	handle("POST /v1/nodes/{name}/resume", s.adminOnly(s.handleResume))
	handleNode("POST /v1/nodes/register", s.handleRegister)
	handleNode("POST /v1/nodes/{name}/status", s.handleNodeStatus)
	handleNode("GET /v1/nodes/{name}/assignments", s.handleAssignments)
	handleNode("GET /v1/nodes/{name}/jobs/{id}/tty", s.handleNodeTTY)
	route("POST /v1/nodes/join", false, true, s.handleJoin)
	handle("POST /v1/tokens", s.handleCreateToken)
	handle("GET /v1/tokens", s.handleListTokens)
	handle("DELETE /v1/tokens/{id}", s.handleRevokeToken)
	handle("GET /v1/audit", s.handleAudit)
	handle("GET /metrics", func(w http.ResponseWriter, r *http.Request, _ Caller) { s.metrics.handler.ServeHTTP(w, r) })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// nodeOnly guards the node endpoints: a node daemon acts only for the
// node its certificate names; over the socket only root may call them
// (admins over TCP with a token may not: they are not nodes).
func (s *Server) nodeOnly(h func(http.ResponseWriter, *http.Request, Caller)) func(http.ResponseWriter, *http.Request, Caller) {
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		if c.Node == "" {
			if c.Remote != "unix" || c.UID != 0 {
				writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not %s %s: node daemons (node certificate, or root on the local socket) only", c.User, r.Method, r.URL.Path))
				return
			}
			h(w, r, c)
			return
		}
		name := r.PathValue("name")
		if name == "" { // registration: the name is in the body
			body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, api.MaxSpecBytes))
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
				return
			}
			var req struct {
				Name string `json:"name"`
			}
			json.Unmarshal(body, &req)
			name = req.Name
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		if name != c.Node {
			writeError(w, http.StatusForbidden, fmt.Errorf("node %s may not act for node %q", c.Node, name))
			return
		}
		h(w, r, c)
	}
}

func (s *Server) adminOnly(h func(http.ResponseWriter, *http.Request, Caller)) func(http.ResponseWriter, *http.Request, Caller) {
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		if !c.Admin {
			writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not %s %s: admins only", c.User, r.Method, r.URL.Path))
			return
		}
		h(w, r, c)
	}
}

// decodeJSON reads exactly one JSON object of type T from r's body,
// rejecting unknown fields, trailing data and bodies over the size limit.
// The error names what was wrong.
func decodeJSON(r *http.Request, v any) error {
	return decodeJSONFrom(http.MaxBytesReader(nil, r.Body, api.MaxSpecBytes), v)
}

// decodeJSONFrom is decodeJSON reading body.
func decodeJSONFrom(body io.Reader, v any) error {
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body larger than %d bytes", mbe.Limit)
		}
		if errors.Is(err, io.EOF) {
			return errors.New("request body is empty: want a JSON object")
		}
		return fmt.Errorf("request body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("request body: unexpected data after the JSON object")
	}
	return nil
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, api.Error{Error: err.Error()})
}

// pathRef parses the {id} path value: a job id, or ID[INDEX] for an array
// element.
func pathRef(r *http.Request) (api.JobRef, error) {
	return api.ParseJobRef(r.PathValue("id"))
}
