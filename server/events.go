package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-hpc/gantry/store"
)

// handleEvents streams the event log as newline-delimited JSON, one
// api.Event per line, in id order. ?after=ID resumes after an event;
// ?job=ID (repeatable) keeps only those jobs (and the elements of those
// that are arrays); ?follow=true keeps the
// stream open and sends new events as they are committed, so clients wait
// without polling. Users see their own jobs' events, admins everyone's.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request, c Caller) {
	q := r.URL.Query()
	// A stream for given jobs carries their arrays' element events too.
	f := store.EventFilter{Limit: 1000, Elements: true}
	if raw := q.Get("after"); raw != "" {
		v, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || v < 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("after %q: want an event id", raw))
			return
		}
		f.After = v
	}
	for _, raw := range q["job"] {
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || id <= 0 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("job %q: want a positive integer", raw))
			return
		}
		f.Jobs = append(f.Jobs, id)
	}
	if !c.Admin {
		uid := c.UID
		f.UID = &uid
	}
	follow := q.Get("follow") == "true" || q.Get("follow") == "1"

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	keepalive := time.NewTicker(30 * time.Second)
	defer keepalive.Stop()
	for {
		// Take the wake-up channels before reading, so an event committed
		// between the read and the wait is not missed.
		_, assigned := s.assign.current()
		_, recorded := s.events.current()
		evs, err := s.store.Events(r.Context(), f)
		if err != nil {
			return // the client sees the stream end and resumes from its last id
		}
		for _, e := range evs {
			if err := enc.Encode(e); err != nil {
				return
			}
			f.After = e.ID
		}
		if flusher != nil {
			flusher.Flush()
		}
		if len(evs) == f.Limit {
			continue // more are waiting
		}
		if !follow {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-assigned:
		case <-recorded:
		case <-keepalive.C:
			// An empty line keeps idle connections from being cut by
			// proxies; clients skip it.
			if _, err := w.Write([]byte("\n")); err != nil {
				return
			}
		}
	}
}
