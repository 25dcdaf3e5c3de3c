package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/gantry-hpc/gantry/api"
)

// routes wires the API. Every handler gets an authenticated caller; the
// panic firewall turns a bug in one request into a 500, never a crash.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request, c Caller)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					s.log.Error("request panicked (please report this bug)", "method", r.Method, "path", r.URL.Path, "panic", v)
					writeError(w, http.StatusInternalServerError, fmt.Errorf("internal error"))
				}
			}()
			c, ok := s.authenticate(r)
			if !ok {
				writeError(w, http.StatusUnauthorized, errors.New("unauthenticated: TCP callers must send the cluster token (Authorization: Bearer)"))
				return
			}
			h(w, r, c)
		})
	}
	handle("GET /v1/health", func(w http.ResponseWriter, r *http.Request, c Caller) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "user": c.User})
	})
	handle("POST /v1/jobs", s.handleSubmit)
	handle("GET /v1/jobs", s.handleListJobs)
	handle("GET /v1/jobs/{id}", s.handleGetJob)
	handle("POST /v1/jobs/{id}/kill", s.handleKill)
	handle("POST /v1/jobs/{id}/hold", s.handleHold(true))
	handle("POST /v1/jobs/{id}/release", s.handleHold(false))
	handle("GET /v1/jobs/{id}/history", s.handleHistory)
	handle("GET /v1/events", s.handleEvents)
	handle("GET /v1/acct", s.handleAcct)
	handle("POST /v1/crons", s.handleAddCron)
	handle("GET /v1/crons", s.handleListCrons)
	handle("GET /v1/crons/{id}", s.handleGetCron)
	handle("DELETE /v1/crons/{id}", s.handleDeleteCron)
	handle("POST /v1/crons/{id}/pause", s.handlePauseCron(true))
	handle("POST /v1/crons/{id}/resume", s.handlePauseCron(false))
	handle("GET /v1/queues", s.handleListQueues)
	handle("GET /v1/queues/{name}", s.handleGetQueue)
	handle("PUT /v1/queues/{name}", s.adminOnly(s.handlePutQueue))
	handle("DELETE /v1/queues/{name}", s.adminOnly(s.handleDeleteQueue))
	handle("POST /v1/queues/{name}/{action}", s.adminOnly(s.handleQueueState))
	handle("GET /v1/nodes", s.handleListNodes)
	handle("GET /v1/nodes/{name}", s.handleGetNode)
	handle("POST /v1/nodes/{name}/drain", s.adminOnly(s.handleDrain))
	handle("POST /v1/nodes/{name}/resume", s.adminOnly(s.handleResume))
	handle("POST /v1/nodes/register", s.adminOnly(s.handleRegister))
	handle("POST /v1/nodes/{name}/status", s.adminOnly(s.handleNodeStatus))
	handle("GET /v1/nodes/{name}/assignments", s.adminOnly(s.handleAssignments))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Errorf("no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (s *Server) adminOnly(h func(http.ResponseWriter, *http.Request, Caller)) func(http.ResponseWriter, *http.Request, Caller) {
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		if !c.Admin {
			writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not %s %s: node daemons and admins only", c.User, r.Method, r.URL.Path))
			return
		}
		h(w, r, c)
	}
}

// decodeJSON reads exactly one JSON object of type T from r's body,
// rejecting unknown fields, trailing data and bodies over the size limit.
// The error names what was wrong.
func decodeJSON(r *http.Request, v any) error {
	body := http.MaxBytesReader(nil, r.Body, api.MaxSpecBytes)
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
