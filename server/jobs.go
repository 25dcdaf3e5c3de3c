package server

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/store"
)

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request, c Caller) {
	var spec api.JobSpec
	if err := decodeJSON(r, &spec); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if err := spec.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	defaultQueue := spec.Queue == ""
	if defaultQueue {
		spec.Queue = s.cfg.DefaultQueue
	}
	if spec.Queue != s.cfg.DefaultQueue {
		writeError(w, http.StatusBadRequest, fmt.Errorf("queue %q: no such queue (known: %s)", spec.Queue, s.cfg.DefaultQueue))
		return
	}
	if spec.Cores == 0 {
		spec.Cores = 1
	}
	if spec.Stdout == "" {
		spec.Stdout = "gantry-%J.out"
	}
	job := api.Job{Spec: spec, User: c.User, UID: c.UID, GID: c.GID, Groups: c.Groups, SubmitTime: s.now().UTC()}
	id, err := s.store.SubmitJob(r.Context(), job)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("job submitted", "job_id", id, "user", c.User, "cores", spec.Cores, "memory", spec.MemoryBytes)
	s.kick()
	s.events.bump()
	writeJSON(w, http.StatusCreated, api.SubmitResponse{ID: id, Queue: spec.Queue, DefaultQueue: defaultQueue})
}

// visible redacts what a caller may not see of another user's job: its
// command line and environment.
func visible(j api.Job, c Caller) api.Job {
	if c.Admin || c.UID == j.UID {
		return j
	}
	j.Spec.Command, j.Spec.Env = []string{"(hidden)"}, nil
	return j
}

func (s *Server) handleListJobs(w http.ResponseWriter, r *http.Request, c Caller) {
	var f store.JobFilter
	q := r.URL.Query()
	if q.Get("user") != "all" {
		uid := c.UID
		f.UID = &uid
	}
	for _, st := range q["state"] {
		if !api.JobState(st).Valid() {
			writeError(w, http.StatusBadRequest, fmt.Errorf("state %q: no such job state", st))
			return
		}
		f.States = append(f.States, api.JobState(st))
	}
	jobs, err := s.store.Jobs(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	out := api.JobList{Jobs: make([]api.Job, 0, len(jobs))}
	for _, j := range jobs {
		out.Jobs = append(out.Jobs, visible(j, c))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request, c Caller) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, err := s.store.Job(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, visible(j, c))
}

func (s *Server) handleKill(w http.ResponseWriter, r *http.Request, c Caller) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, err := s.store.Job(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if !c.Admin && j.UID != c.UID {
		writeError(w, http.StatusForbidden, fmt.Errorf("job %d belongs to %s: user %s may not kill it", id, j.User, c.User))
		return
	}
	j, err = s.store.RequestKill(r.Context(), id, c.User, s.now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeStoreError(w, err)
		} else {
			writeError(w, http.StatusConflict, err)
		}
		return
	}
	s.log.Info("kill requested", "job_id", id, "user", c.User, "state", j.State)
	if j.State == api.StateCancelled {
		s.kick()
		s.events.bump()
	} else {
		s.assign.bump()
	}
	writeJSON(w, http.StatusOK, j)
}

// handleHistory lists one job's events.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, c Caller) {
	id, err := pathID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, err := s.store.Job(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if !c.Admin && j.UID != c.UID {
		writeError(w, http.StatusForbidden, fmt.Errorf("job %d belongs to %s: user %s may not read its history", id, j.User, c.User))
		return
	}
	evs, err := s.store.Events(r.Context(), store.EventFilter{Jobs: []int64{id}, Limit: 100000})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if evs == nil {
		evs = []api.Event{}
	}
	writeJSON(w, http.StatusOK, api.History{Events: evs})
}

func writeStoreError(w http.ResponseWriter, err error) {
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, err)
		return
	}
	writeError(w, http.StatusInternalServerError, err)
}
