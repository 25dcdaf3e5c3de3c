package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
	"github.com/gantry-hpc/gantry/store"
)

// Every state-changing call (any method but GET and HEAD) is written to
// the audit log by the route wrapper (routes, in http.go), before its
// answer is sent: a client that got an answer can find its call there.
// One kind of call is left out: a node's periodic heartbeat
// (POST /v1/nodes/{name}/status) that succeeded and reported no finished
// job. It comes every few seconds from every node; the job transitions
// it causes are in the event log. Failed heartbeats and those carrying
// results are recorded.

// audited reports whether a request's method changes state.
func audited(method string) bool {
	return method != http.MethodGet && method != http.MethodHead
}

// maxAuditBody bounds what the recorder keeps of a request body to find
// the object a call acted on.
const maxAuditBody = 64 << 10

// recorder is the ResponseWriter the route wrapper hands to handlers. For
// audited requests it holds the whole answer back until the audit record
// is written; for others it passes writes through (event streams flush),
// noting the status for the metrics.
type recorder struct {
	w      http.ResponseWriter
	hold   bool
	code   int
	body   bytes.Buffer
	wrote  bool
	reqBuf *bytes.Buffer // the start of the request body (held requests)
	// audited: the handler's own transaction wrote the audit record
	// (auditWith).
	audited bool
}

func newRecorder(w http.ResponseWriter, r *http.Request) *recorder {
	rec := &recorder{w: w, hold: audited(r.Method)}
	if rec.hold && r.Body != nil {
		rec.reqBuf = &bytes.Buffer{}
		r.Body = &teeBody{ReadCloser: r.Body, buf: rec.reqBuf}
	}
	return rec
}

func (rec *recorder) Header() http.Header { return rec.w.Header() }

func (rec *recorder) WriteHeader(code int) {
	if rec.wrote {
		return
	}
	rec.code, rec.wrote = code, true
	if !rec.hold {
		rec.w.WriteHeader(code)
	}
}

func (rec *recorder) Write(b []byte) (int, error) {
	if !rec.wrote {
		rec.WriteHeader(http.StatusOK)
	}
	if rec.hold {
		return rec.body.Write(b)
	}
	return rec.w.Write(b)
}

// Flush passes through for streams; held answers are sent by flush.
func (rec *recorder) Flush() {
	if f, ok := rec.w.(http.Flusher); ok && !rec.hold {
		f.Flush()
	}
}

func (rec *recorder) Unwrap() http.ResponseWriter { return rec.w }

// reset drops what a handler wrote (it panicked), when still possible.
func (rec *recorder) reset() bool {
	if rec.wrote && !rec.hold {
		return false
	}
	rec.wrote, rec.code = false, 0
	rec.body.Reset()
	return true
}

// flush sends a held answer.
func (rec *recorder) flush() {
	if !rec.hold {
		return
	}
	if !rec.wrote {
		rec.code = http.StatusOK
	}
	rec.w.WriteHeader(rec.code)
	rec.w.Write(rec.body.Bytes())
}

func (rec *recorder) status() int {
	if !rec.wrote {
		return http.StatusOK
	}
	return rec.code
}

// teeBody keeps the first maxAuditBody bytes read from a request body.
type teeBody struct {
	io.ReadCloser
	buf *bytes.Buffer
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := maxAuditBody - t.buf.Len(); room > 0 && n > 0 {
		t.buf.Write(p[:min(n, room)])
	}
	return n, err
}

// audit writes the record of a held (state-changing) call. authed says
// whether c is the caller or the call was refused before anyone was
// identified.
func (s *Server) audit(r *http.Request, pattern string, c Caller, authed bool, rec *recorder) {
	code := rec.status()
	if quietHeartbeat(pattern, code, rec.body.Bytes()) {
		return
	}
	a := s.auditRecord(r, c, authed, code, auditObject(r, pattern, rec))
	if code >= 400 {
		var e api.Error
		if json.Unmarshal(rec.body.Bytes(), &e) == nil {
			a.Error = e.Error
		}
		if a.Error == "" {
			a.Error = http.StatusText(code)
		}
	}
	// The request's own context may be gone (client hung up): the record
	// is still written.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if err := s.store.AddAudit(ctx, a); err != nil {
		s.metrics.auditErrors.Inc()
		s.log.Error("audit log: record lost", "method", a.Method, "path", a.Path, "user", a.User, "status", a.Status, "err", err)
	}
}

// auditRecord is the record of call r answered with code, acting on
// object (see audit; the error of a refusal is the caller's to add).
func (s *Server) auditRecord(r *http.Request, c Caller, authed bool, code int, object string) api.AuditRecord {
	a := api.AuditRecord{
		Time: s.now().UTC(), Method: r.Method, Path: r.URL.RequestURI(), Status: code, Object: object,
	}
	if authed {
		a.User, a.UID, a.Admin, a.Remote = c.User, c.UID, c.Admin, c.Remote
	} else {
		a.UID, a.Remote = noUID, r.RemoteAddr
		if r.RemoteAddr == "" || r.RemoteAddr == "@" {
			a.Remote = "unix"
		}
	}
	if len(a.Path) > 2048 {
		a.Path = a.Path[:2048]
	}
	return a
}

// auditWith returns the function that makes the audit record of
// successful call r answered with code, for a handler whose store write
// appends it in the same transaction (a submission: one commit instead
// of two, the job and its record durable together), and the function
// the handler calls once that write succeeded, so the route wrapper does
// not record the call again. When w does not hold the answer for the
// audit log, record is nil and written does nothing.
func (s *Server) auditWith(w http.ResponseWriter, r *http.Request, c Caller, code int, kind string) (record func(id int64) api.AuditRecord, written func()) {
	rec, ok := w.(*recorder)
	if !ok || !rec.hold {
		return nil, func() {}
	}
	record = func(id int64) api.AuditRecord {
		return s.auditRecord(r, c, true, code, kind+" "+strconv.FormatInt(id, 10))
	}
	return record, func() { rec.audited = true }
}

// quietHeartbeat reports whether a call is a plain node heartbeat: a
// successful status report that carried no finished job.
func quietHeartbeat(pattern string, code int, answer []byte) bool {
	if pattern != "POST /v1/nodes/{name}/status" || code != http.StatusOK {
		return false
	}
	var resp api.NodeStatusResponse
	return json.Unmarshal(answer, &resp) == nil && len(resp.Acked) == 0
}

// auditObject names what a call acted on: the path's {id} or {name}, else
// the id in the answer (a new job, cron or token), else the name in the
// request (a node registering or joining).
func auditObject(r *http.Request, pattern string, rec *recorder) string {
	kind := objectKind(pattern)
	if kind == "" {
		return ""
	}
	for _, w := range []string{"id", "name"} {
		if v := r.PathValue(w); v != "" {
			return kind + " " + v
		}
	}
	var answer struct {
		ID json.RawMessage `json:"id"`
	}
	if rec.status() < 300 && json.Unmarshal(rec.body.Bytes(), &answer) == nil && len(answer.ID) > 0 {
		if id, err := strconv.Unquote(string(answer.ID)); err == nil {
			return kind + " " + id
		}
		if _, err := strconv.ParseInt(string(answer.ID), 10, 64); err == nil {
			return kind + " " + string(answer.ID)
		}
	}
	if rec.reqBuf != nil {
		var req struct {
			Name string `json:"name"`
		}
		if json.Unmarshal(rec.reqBuf.Bytes(), &req) == nil && req.Name != "" && len(req.Name) <= 256 {
			return kind + " " + req.Name
		}
	}
	return ""
}

// objectKind is "job" for "POST /v1/jobs/{id}/kill": the singular of
// the collection a route is under.
func objectKind(pattern string) string {
	_, path, _ := strings.Cut(pattern, " ")
	rest, ok := strings.CutPrefix(path, "/v1/")
	if !ok {
		return ""
	}
	coll, _, _ := strings.Cut(rest, "/")
	return strings.TrimSuffix(coll, "s")
}

// handleAudit answers GET /v1/audit?user=&since=&until=&method=&limit=:
// admins see every call, others their own.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request, c Caller) {
	q := r.URL.Query()
	f := store.AuditFilter{User: q.Get("user"), Method: strings.ToUpper(q.Get("method"))}
	if !c.Admin {
		if f.User != "" && f.User != c.User {
			writeError(w, http.StatusForbidden, fmt.Errorf("user %s may see only their own calls in the audit log", c.User))
			return
		}
		f.User = c.User
	}
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if raw := q.Get(p.key); raw != "" {
			t, err := time.Parse(time.RFC3339Nano, raw)
			if err != nil {
				writeError(w, http.StatusBadRequest, fmt.Errorf("%s %q: want an RFC 3339 time", p.key, raw))
				return
			}
			*p.t = t
		}
	}
	if raw := q.Get("limit"); raw != "" {
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 || n > 100000 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to 100000", raw))
			return
		}
		f.Limit = n
	}
	recs, err := s.store.Audit(r.Context(), f)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	if recs == nil {
		recs = []api.AuditRecord{}
	}
	writeJSON(w, http.StatusOK, api.AuditList{Records: recs})
}
