package server

import (
	"fmt"
	"net/http"

	"github.com/gantry-hpc/gantry/api"
)

func (s *Server) handleListQueues(w http.ResponseWriter, r *http.Request, _ Caller) {
	qs, err := s.store.Queues(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if qs == nil {
		qs = []api.Queue{}
	}
	writeJSON(w, http.StatusOK, api.QueueList{Queues: qs})
}

func (s *Server) handleGetQueue(w http.ResponseWriter, r *http.Request, _ Caller) {
	q, err := s.store.Queue(r.Context(), r.PathValue("name"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, q)
}

// handlePutQueue creates or replaces a queue (admins only).
func (s *Server) handlePutQueue(w http.ResponseWriter, r *http.Request, c Caller) {
	var q api.Queue
	if err := decodeJSON(r, &q); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if name := r.PathValue("name"); q.Name != name {
		writeError(w, http.StatusBadRequest, fmt.Errorf("queue name %q in the body differs from %q in the path", q.Name, name))
		return
	}
	q.Source = "api"
	if err := q.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := s.store.PutQueue(r.Context(), q); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("queue defined", "queue", q.Name, "user", c.User)
	s.kick()
	q, _ = s.store.Queue(r.Context(), q.Name)
	writeJSON(w, http.StatusOK, q)
}

func (s *Server) handleDeleteQueue(w http.ResponseWriter, r *http.Request, c Caller) {
	name := r.PathValue("name")
	if name == s.cfg.DefaultQueue {
		writeError(w, http.StatusConflict, fmt.Errorf("queue %s is the default queue and cannot be removed", name))
		return
	}
	err := s.store.DeleteQueue(r.Context(), name)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("queue removed", "queue", name, "user", c.User)
	writeJSON(w, http.StatusOK, struct{}{})
}

// handleQueueState opens, closes, activates or inactivates a queue.
func (s *Server) handleQueueState(w http.ResponseWriter, r *http.Request, c Caller) {
	q, err := s.store.Queue(r.Context(), r.PathValue("name"))
	if err != nil {
		writeStoreError(w, err)
		return
	}
	switch action := r.PathValue("action"); action {
	case "open":
		q.Open = true
	case "close":
		q.Open = false
	case "activate":
		q.Active = true
	case "inactivate":
		q.Active = false
	default:
		writeError(w, http.StatusNotFound, fmt.Errorf("queue action %q: want open, close, activate or inactivate", action))
		return
	}
	if err := s.store.PutQueue(r.Context(), q); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("queue "+r.PathValue("action"), "queue", q.Name, "user", c.User)
	s.kick()
	writeJSON(w, http.StatusOK, q)
}
