package server

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/recur"
)

// cronLoop fires recurring jobs when their slots come: it sleeps until the
// earliest next slot, or until a recurring job is added or resumed.
func (s *Server) cronLoop(ctx context.Context) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.cronWake:
		}
		res, err := s.store.FireDue(ctx, s.now())
		if err != nil {
			if ctx.Err() == nil {
				s.log.Error("recurring jobs", "err", err)
			}
			t.Reset(time.Minute)
			continue
		}
		if len(res.Submitted) > 0 {
			s.log.Info("recurring jobs submitted", "job_ids", res.Submitted)
			s.kick()
			s.events.bump()
		}
		wait := time.Hour
		if !res.Next.IsZero() {
			wait = min(max(res.Next.Sub(s.now()), 0), time.Hour)
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(wait)
	}
}

func (s *Server) wakeCron() {
	select {
	case s.cronWake <- struct{}{}:
	default:
	}
}

func (s *Server) handleAddCron(w http.ResponseWriter, r *http.Request, c Caller) {
	var spec api.CronSpec
	if err := decodeJSON(r, &spec); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	switch spec.Overlap {
	case "":
		spec.Overlap = "skip"
	case "skip", "queue", "allow":
	default:
		writeError(w, http.StatusBadRequest, fmt.Errorf("overlap %q: want skip, queue or allow", spec.Overlap))
		return
	}
	if _, err := recur.Parse(spec.Schedule, spec.TZ); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	if spec.Job.BeginTime != nil || spec.Job.Hold {
		writeError(w, http.StatusBadRequest, fmt.Errorf("a recurring job cannot have a begin time or be held (pause the cron instead)"))
		return
	}
	if code, err := s.prepare(r, c, &spec.Job); err != nil {
		writeError(w, code, err)
		return
	}
	owner := api.Job{User: c.User, UID: c.UID, GID: c.GID, Groups: c.Groups}
	id, err := s.store.AddCron(r.Context(), spec, owner, s.now())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	s.log.Info("recurring job added", "cron", id, "user", c.User, "schedule", spec.Schedule, "tz", spec.TZ)
	s.wakeCron()
	cr, err := s.store.Cron(r.Context(), id)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	writeJSON(w, http.StatusCreated, cr)
}

func (s *Server) handleListCrons(w http.ResponseWriter, r *http.Request, c Caller) {
	var uid *uint32
	if !c.Admin {
		uid = &c.UID
	}
	crons, err := s.store.Crons(r.Context(), uid)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if crons == nil {
		crons = []api.Cron{}
	}
	writeJSON(w, http.StatusOK, api.CronList{Crons: crons})
}

// ownCron loads the {id} recurring job and checks that c may act on it.
func (s *Server) ownCron(w http.ResponseWriter, r *http.Request, c Caller) (api.Cron, bool) {
	raw := r.PathValue("id")
	id, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, fmt.Errorf("cron id %q: want a positive integer", raw))
		return api.Cron{}, false
	}
	cr, err := s.store.Cron(r.Context(), id)
	if err != nil {
		writeStoreError(w, err)
		return cr, false
	}
	if !c.Admin && cr.UID != c.UID {
		writeError(w, http.StatusForbidden, fmt.Errorf("cron %d belongs to %s: user %s may not change it", id, cr.User, c.User))
		return cr, false
	}
	return cr, true
}

func (s *Server) handleGetCron(w http.ResponseWriter, r *http.Request, c Caller) {
	if cr, ok := s.ownCron(w, r, c); ok {
		writeJSON(w, http.StatusOK, cr)
	}
}

func (s *Server) handleDeleteCron(w http.ResponseWriter, r *http.Request, c Caller) {
	cr, ok := s.ownCron(w, r, c)
	if !ok {
		return
	}
	if err := s.store.DeleteCron(r.Context(), cr.ID); err != nil {
		writeStoreError(w, err)
		return
	}
	s.log.Info("recurring job removed", "cron", cr.ID, "user", c.User)
	writeJSON(w, http.StatusOK, struct{}{})
}

// handlePauseCron pauses (pause true) or resumes a recurring job.
func (s *Server) handlePauseCron(pause bool) func(http.ResponseWriter, *http.Request, Caller) {
	return func(w http.ResponseWriter, r *http.Request, c Caller) {
		cr, ok := s.ownCron(w, r, c)
		if !ok {
			return
		}
		cr, err := s.store.SetCronPaused(r.Context(), cr.ID, pause, s.now())
		if err != nil {
			writeStoreError(w, err)
			return
		}
		s.wakeCron()
		writeJSON(w, http.StatusOK, cr)
	}
}
