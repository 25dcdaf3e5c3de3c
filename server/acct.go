package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/store"
)

// handleAcct lists accounting records: one per finished job. Users see
// their own; admins everyone's, or one user's with ?user=NAME.
// ?queue=, ?state=, ?since= and ?until= (RFC 3339) filter them.
func (s *Server) handleAcct(w http.ResponseWriter, r *http.Request, c Caller) {
	q := r.URL.Query()
	var f store.AcctFilter
	f.Queue = q.Get("queue")
	if st := q.Get("state"); st != "" {
		if !api.JobState(st).Terminal() {
			writeError(w, http.StatusBadRequest, fmt.Errorf("state %q: want a final state (SUCCEEDED, FAILED, ...)", st))
			return
		}
		f.State = api.JobState(st)
	}
	for _, b := range []struct {
		key string
		dst *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if raw := q.Get(b.key); raw != "" {
			t, err := time.Parse(time.RFC3339, raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("%s %q: want an RFC 3339 time", b.key, raw))
				return
			}
			*b.dst = t
		}
	}
	switch user := q.Get("user"); {
	case !c.Admin:
		if user != "" && user != c.User {
			writeError(w, http.StatusForbidden, fmt.Errorf("user %s may not read the accounting of %s", c.User, user))
			return
		}
		uid := c.UID
		f.UID = &uid
	case user != "" && user != "all":
		uid, err := uidOf(user)
		if err != nil {
			writeError(w, http.StatusBadRequest, err)
			return
		}
		f.UID = &uid
	}
	recs, err := s.store.Accounting(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if recs == nil {
		recs = []api.AcctRecord{}
	}
	writeJSON(w, http.StatusOK, api.AcctList{Records: recs})
}
