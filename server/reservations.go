package server

import (
	"fmt"
	"net/http"
	"slices"
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
	for _, u := range req.Users {
		if u == "" || len(u) > 256 || strings.ContainsAny(u, ", \t\n\x00") {
			writeError(w, http.StatusBadRequest, fmt.Errorf("reservation user %q: want a user name", u))
			return
		}
	}
	res := api.Reservation{Nodes: req.Nodes, Start: req.Start.UTC(), End: req.Start.Add(d).UTC(), Reason: req.Reason, By: c.User, Users: req.Users}
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

// admitToReservation checks a job submitted into an advance reservation:
// the reservation is there and not over, it is one for users (not a
// maintenance window), the caller is one of them (or an admin), and the
// job has a walltime that fits in it.
func (s *Server) admitToReservation(r *http.Request, c Caller, spec *api.JobSpec) (int, error) {
	all, err := s.store.Reservations(r.Context(), s.now())
	if err != nil {
		return http.StatusInternalServerError, err
	}
	i := slices.IndexFunc(all, func(v api.Reservation) bool { return v.ID == spec.Reservation })
	if i < 0 {
		return http.StatusBadRequest, fmt.Errorf("reservation %d: no such reservation, or it has ended", spec.Reservation)
	}
	rsv := all[i]
	length := int64(rsv.End.Sub(rsv.Start) / time.Second)
	switch {
	case len(rsv.Users) == 0:
		return http.StatusBadRequest, fmt.Errorf("reservation %d is a maintenance window (%s): no job runs in it", rsv.ID, rsv.Reason)
	case !c.Admin && !rsv.Admits(c.User):
		return http.StatusForbidden, fmt.Errorf("reservation %d: user %s may not run jobs in it (users %v)", rsv.ID, c.User, rsv.Users)
	case spec.WalltimeSeconds == 0 || spec.WalltimeSeconds > length:
		return http.StatusBadRequest, fmt.Errorf("walltime %s: a job in reservation %d needs a walltime (-W) of at most its %s",
			time.Duration(spec.WalltimeSeconds)*time.Second, rsv.ID, time.Duration(length)*time.Second)
	}
	return 0, nil
}
