package server

import (
	"errors"
	"fmt"
	"net/http"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/depend"
	"github.com/gantry-hpc/gantry/store"
)

func (s *Server) handleSubmit(w http.ResponseWriter, r *http.Request, c Caller) {
	var spec api.JobSpec
	if err := decodeSpec(r, &spec); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	defaultQueue := spec.Queue == ""
	if code, err := s.prepare(r, c, &spec); err != nil {
		writeError(w, code, err)
		return
	}
	job := api.Job{Spec: spec, User: c.User, UID: c.UID, GID: c.GID, Groups: c.Groups, SubmitTime: s.now().UTC()}
	record, recorded := s.auditWith(w, r, c, http.StatusCreated, "job")
	id, err := s.store.SubmitJobAudited(r.Context(), job, record)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	recorded()
	s.log.Info("job submitted", "job_id", id, "user", c.User, "cores", spec.Cores, "memory", spec.MemoryBytes)
	s.kickSubmit()
	s.events.bump()
	writeJSON(w, http.StatusCreated, api.SubmitResponse{ID: id, Queue: spec.Queue, DefaultQueue: defaultQueue})
}

// prepare validates a job spec from caller c, checks it against its queue
// and fills in the defaults (queue, cores, name, output file, canonical
// dependency). It returns the HTTP status of a refusal.
func (s *Server) prepare(r *http.Request, c Caller, spec *api.JobSpec) (int, error) {
	if err := spec.Validate(); err != nil {
		return http.StatusBadRequest, err
	}
	if spec.Queue == "" {
		spec.Queue = s.cfg.DefaultQueue
	}
	if code, err := s.admit(r, c, spec); err != nil {
		return code, err
	}
	if spec.Cores == 0 {
		spec.Cores = 1
	}
	if spec.Name == "" {
		spec.Name = filepath.Base(spec.Command[0])
	}
	if spec.Dependency != "" {
		expr, err := depend.Parse(spec.Dependency)
		if err != nil {
			return http.StatusBadRequest, err
		}
		spec.Dependency = expr.String()
	}
	if spec.Stdout == "" {
		spec.Stdout = "gantry-%J.out"
	}
	return 0, nil
}

// admit checks a submission against its queue: the queue exists and is
// open, the caller may use it, and the walltime is within its limit (the
// queue's default applies when the job names none). It returns the HTTP
// status for a refusal.
func (s *Server) admit(r *http.Request, c Caller, spec *api.JobSpec) (int, error) {
	q, err := s.store.QueueSpec(r.Context(), spec.Queue)
	if errors.Is(err, store.ErrNotFound) {
		var names []string
		if all, err := s.store.Queues(r.Context()); err == nil {
			for _, q := range all {
				names = append(names, q.Name)
			}
		}
		return http.StatusBadRequest, fmt.Errorf("queue %q: no such queue (known: %s)", spec.Queue, strings.Join(names, ", "))
	}
	if err != nil {
		return http.StatusInternalServerError, err
	}
	switch {
	case !q.Open:
		return http.StatusConflict, fmt.Errorf("queue %s is closed: it accepts no new jobs", q.Name)
	case !c.Admin && q.Restricted() && !q.Admits(c.User, groupNames(c.Groups)):
		return http.StatusForbidden, fmt.Errorf("queue %s: user %s may not submit here (users %v, groups %v)", q.Name, c.User, q.Users, q.Groups)
	}
	if spec.WalltimeSeconds == 0 {
		spec.WalltimeSeconds = q.DefaultWalltimeSeconds
	}
	if spec.Reservation != 0 {
		if code, err := s.admitToReservation(r, c, spec); err != nil {
			return code, err
		}
	}
	if q.MaxWalltimeSeconds > 0 && spec.WalltimeSeconds > q.MaxWalltimeSeconds {
		return http.StatusBadRequest, fmt.Errorf("walltime %s: queue %s allows at most %s", time.Duration(spec.WalltimeSeconds)*time.Second, q.Name, time.Duration(q.MaxWalltimeSeconds)*time.Second)
	}
	return 0, nil
}

// groupNames turns group ids into names; ids without a name are kept as
// numbers.
func groupNames(ids []uint32) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		s := strconv.FormatUint(uint64(id), 10)
		if g, err := user.LookupGroupId(s); err == nil {
			s = g.Name
		}
		out = append(out, s)
	}
	return out
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
	if q.Get("view") == "table" { // columns, without commands: nothing to hide
		t, err := s.store.JobTable(r.Context(), f)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
		writeJSON(w, http.StatusOK, t)
		return
	}
	jobs, err := s.store.Jobs(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	// A listing leaves out environments (the bulk of a spec); GET
	// /v1/jobs/{id} has them.
	out := api.JobList{Jobs: make([]api.Job, 0, len(jobs))}
	for _, j := range jobs {
		j = visible(j, c)
		j.Spec.Env = nil
		out.Jobs = append(out.Jobs, j)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) handleGetJob(w http.ResponseWriter, r *http.Request, c Caller) {
	ref, err := pathRef(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, err := s.jobByRef(r, ref)
	if err != nil {
		writeStoreError(w, err)
		return
	}
	if j.State == api.StateRunnable {
		j.Priority = s.priorityOf(j.ID)
	}
	if j.Spec.Array != "" {
		if j.Elements, err = s.store.ArrayElements(r.Context(), j); err != nil {
			writeError(w, http.StatusInternalServerError, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, visible(j, c))
}

// jobByRef loads a job or an array element (which may not have a row of
// its own yet: then it is a view of its array).
func (s *Server) jobByRef(r *http.Request, ref api.JobRef) (api.Job, error) {
	if ref.Element {
		return s.store.Element(r.Context(), ref.ID, ref.Index)
	}
	return s.store.Job(r.Context(), ref.ID)
}

// ownJob loads the {id} job and checks that c may act on it (verb names
// the action in the refusal). It writes the error answer itself.
func (s *Server) ownJob(w http.ResponseWriter, r *http.Request, c Caller, verb string) (api.Job, bool) {
	ref, err := pathRef(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return api.Job{}, false
	}
	j, err := s.jobByRef(r, ref)
	if err != nil {
		writeStoreError(w, err)
		return j, false
	}
	if !c.Admin && j.UID != c.UID {
		writeError(w, http.StatusForbidden, fmt.Errorf("job %s belongs to %s: user %s may not %s it", ref, j.User, c.User, verb))
		return j, false
	}
	if ref.Element && j.ID == 0 && verb != "kill" {
		writeError(w, http.StatusConflict, fmt.Errorf("job %s has not started yet: act on the array %d", ref, ref.ID))
		return j, false
	}
	return j, true
}

func (s *Server) handleKill(w http.ResponseWriter, r *http.Request, c Caller) {
	j, ok := s.ownJob(w, r, c, "kill")
	if !ok {
		return
	}
	var err error
	if j.ID == 0 { // an array element that has not started
		j, err = s.store.CancelElement(r.Context(), j.ArrayID, j.ArrayIndex, c.User, s.now())
	} else {
		j, err = s.store.RequestKill(r.Context(), j.ID, c.User, s.now())
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			writeStoreError(w, err)
		} else {
			writeError(w, http.StatusConflict, err)
		}
		return
	}
	s.log.Info("kill requested", "job_id", j.ID, "user", c.User, "state", j.State)
	s.kick()
	s.events.bump()
	s.assign.bump()
	writeJSON(w, http.StatusOK, j)
}

// handleSignal sends a signal to every process of a running job, on all
// its nodes (bkill -s).
func (s *Server) handleSignal(w http.ResponseWriter, r *http.Request, c Caller) {
	var body api.SignalBody
	if err := decodeJSON(r, &body); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	sig, err := api.ParseSignal(body.Signal)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	j, ok := s.ownJob(w, r, c, "signal")
	if !ok {
		return
	}
	if j, err = s.store.SignalJob(r.Context(), j.ID, sig, c.User, s.now()); err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("signal requested", "job_id", j.ID, "signal", sig, "user", c.User)
	s.events.bump()
	s.assign.bump()
	writeJSON(w, http.StatusOK, j)
}

// handleHistory lists one job's events.
func (s *Server) handleHistory(w http.ResponseWriter, r *http.Request, c Caller) {
	j, ok := s.ownJob(w, r, c, "read the history of")
	if !ok {
		return
	}
	evs, err := s.store.Events(r.Context(), store.EventFilter{Jobs: []int64{j.ID}, Limit: 100000})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if evs == nil {
		evs = []api.Event{}
	}
	writeJSON(w, http.StatusOK, api.History{Events: evs})
}

// handleHold holds (hold) or releases a job that has not started.
func (s *Server) handleHold(hold bool) func(http.ResponseWriter, *http.Request, Caller) {
	verb := map[bool]string{true: "hold", false: "release"}[hold]
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		j, ok := s.ownJob(w, r, c, verb)
		if !ok {
			return
		}
		id := j.ID
		j, err := s.store.SetHold(r.Context(), id, hold, c.User, s.now())
		if err != nil {
			writeStoreError(w, err)
			return
		}
		s.log.Info("job "+verb, "job_id", id, "user", c.User)
		s.events.bump()
		s.kick()
		writeJSON(w, http.StatusOK, j)
	}
}

// handleSuspend suspends (on) or continues a running job: its node
// freezes or thaws it with the cgroup freezer.
func (s *Server) handleSuspend(on bool) func(http.ResponseWriter, *http.Request, Caller) {
	verb := map[bool]string{true: "suspend", false: "continue"}[on]
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		j, ok := s.ownJob(w, r, c, verb)
		if !ok {
			return
		}
		j, err := s.store.SetSuspend(r.Context(), j.ID, on, c.User, s.now())
		if err != nil {
			writeStoreError(w, err)
			return
		}
		s.log.Info("job "+verb, "job_id", j.ID, "user", c.User)
		s.assign.bump()
		writeJSON(w, http.StatusOK, j)
	}
}

// handleMove moves a waiting job to the top or bottom of its user's
// queue (gantry top/bot).
func (s *Server) handleMove(top bool) func(http.ResponseWriter, *http.Request, Caller) {
	verb := map[bool]string{true: "move to the top", false: "move to the bottom"}[top]
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		j, ok := s.ownJob(w, r, c, verb)
		if !ok {
			return
		}
		j, err := s.store.MoveJob(r.Context(), j.ID, top, c.User, s.now())
		if err != nil {
			writeStoreError(w, err)
			return
		}
		s.events.bump()
		s.kick()
		writeJSON(w, http.StatusOK, j)
	}
}

func writeStoreError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err)
	case errors.Is(err, store.ErrNotHoldable), errors.Is(err, store.ErrNotModifiable),
		errors.Is(err, store.ErrNotRunning), errors.Is(err, store.ErrQueueInUse):
		writeError(w, http.StatusConflict, err)
	default:
		writeError(w, http.StatusInternalServerError, err)
	}
}
