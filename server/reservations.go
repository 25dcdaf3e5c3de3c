package server

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// maxReservation bounds a reservation's length.
const maxReservation = 366 * 24 * time.Hour

// handleReserve creates a maintenance reservation (admins).
func (s *Server) handleReserve(w http.ResponseWriter, r *http.Request, c Caller) {
	var req api.ReservationRequest
	if err := decodeJSON(r, &req); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d := time.Duration(req.DurationSeconds) * time.Second
	switch {
	case len(req.Nodes) == 0:
		writeError(w, http.StatusBadRequest, fmt.Errorf("reservation: no nodes"))
		return
	case d <= 0 || d > maxReservation:
		writeError(w, http.StatusBadRequest, fmt.Errorf("reservation duration %s: must be positive and at most a year", d))
		return
	case req.Start.IsZero():
		writeError(w, http.StatusBadRequest, fmt.Errorf("reservation: no start time"))
		return
	case strings.TrimSpace(req.Reason) == "" || len(req.Reason) > 1024 || strings.ContainsAny(req.Reason, "\x00\n"):
		writeError(w, http.StatusBadRequest, fmt.Errorf("reservation reason %q: give one line saying why", req.Reason))
		return
	}
	nodes, err := s.store.Nodes(r.Context())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	known := map[string]bool{}
	for _, n := range nodes {
		known[n.Name] = true
	}
	for _, n := range req.Nodes {
		if !known[n] {
			writeError(w, http.StatusBadRequest, fmt.Errorf("reservation: node %q: no such node", n))
			return
		}
	}
	res := api.Reservation{Nodes: req.Nodes, Start: req.Start.UTC(), End: req.Start.Add(d).UTC(), Reason: req.Reason, By: c.User}
	if res.ID, err = s.store.AddReservation(r.Context(), res); err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("reservation added", "id", res.ID, "nodes", res.Nodes, "start", res.Start, "end", res.End, "by", c.User)
	s.kick()
	writeJSON(w, http.StatusCreated, res)
}

func (s *Server) handleListReservations(w http.ResponseWriter, r *http.Request, _ Caller) {
	res, err := s.store.Reservations(r.Context(), s.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if res == nil {
		res = []api.Reservation{}
	}
	writeJSON(w, http.StatusOK, api.ReservationList{Reservations: res})
}

func (s *Server) handleDeleteReservation(w http.ResponseWriter, r *http.Request, c Caller) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("reservation id %q: want a positive integer", raw))
		return
	}
	if err := s.store.DeleteReservation(r.Context(), id); err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("reservation removed", "id", id, "by", c.User)
	s.kick()
	writeJSON(w, http.StatusOK, struct{}{})
}
