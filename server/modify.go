package server

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/gantry-hpc/gantry/api"
)

// handleModify changes a job that has not started (gantry mod): the
// changed spec is validated and admitted like a new submission.
func (s *Server) handleModify(w http.ResponseWriter, r *http.Request, c Caller) {
	var ch api.JobChanges
	if err := decodeJSON(r, &ch); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, ok := s.ownJob(w, r, c, "modify")
	if !ok {
		return
	}
	if j.ID == 0 {
		writeError(w, http.StatusConflict, fmt.Errorf("job %d[%d]: modify the array %d instead", j.ArrayID, j.ArrayIndex, j.ArrayID))
		return
	}
	spec := j.Spec
	var what []string
	set := func(name string, changed bool, apply func()) {
		if changed {
			apply()
			what = append(what, name)
		}
	}
	set("name", ch.Name != nil, func() { spec.Name = *ch.Name })
	set("queue", ch.Queue != nil, func() { spec.Queue = *ch.Queue })
	set("cores", ch.Cores != nil, func() { spec.Cores = *ch.Cores })
	set("memory", ch.MemoryBytes != nil, func() { spec.MemoryBytes = *ch.MemoryBytes })
	set("walltime", ch.WalltimeSeconds != nil, func() { spec.WalltimeSeconds = *ch.WalltimeSeconds })
	set("stdout", ch.Stdout != nil, func() { spec.Stdout = *ch.Stdout })
	set("stderr", ch.Stderr != nil, func() { spec.Stderr = *ch.Stderr })
	set("begin time", ch.BeginTime != nil, func() { spec.BeginTime = ch.BeginTime })
	set("dependency", ch.Dependency != nil, func() { spec.Dependency = *ch.Dependency })
	set("array throttle", ch.ArrayThrottle != nil, func() { spec.ArrayThrottle = *ch.ArrayThrottle })
	if len(what) == 0 {
		writeError(w, http.StatusBadRequest, errors.New("nothing to change"))
		return
	}
	if ch.Cores != nil && *ch.Cores < 1 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("cores %d: must be at least 1", *ch.Cores))
		return
	}
	if code, err := s.prepare(r, c, &spec); err != nil {
		writeError(w, code, err)
		return
	}
	j, err := s.store.ModifyJob(r.Context(), j.ID, spec, strings.Join(what, ", "), c.User, s.now())
	if err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("job modified", "job_id", j.ID, "user", c.User, "changed", what)
	s.events.bump()
	s.kick()
	writeJSON(w, http.StatusOK, j)
}
