package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// DefaultSocket is where the server listens by default: /run/gantry for
// root, $XDG_RUNTIME_DIR otherwise.
func DefaultSocket() string {
	if os.Geteuid() == 0 {
		return "/run/gantry/gantry.sock"
	}
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		return d + "/gantry.sock"
	}
	return fmt.Sprintf("/tmp/gantry-%d/gantry.sock", os.Geteuid())
}

// Client talks to one server.
type Client struct {
	hc    *http.Client
	base  string
	token string
	// Addr is the address the client was made for, for messages.
	Addr string
}

// New returns a client for addr: a Unix socket path, or an http(s) URL.
// An empty addr means $GANTRY_SERVER, else the default socket. token is
// sent as a bearer token (TCP only); empty means $GANTRY_TOKEN, then
// ~/.config/gantry/token. An https server is verified against $GANTRY_CA,
// then ~/.config/gantry/ca.pem, then the system's roots (see Options).
func New(addr, token string) (*Client, error) {
	return NewWithOptions(addr, Options{Token: token})
}

// NewWithOptions is New with the TLS and token settings of o.
func NewWithOptions(addr string, o Options) (*Client, error) {
	if addr == "" {
		addr = os.Getenv("GANTRY_SERVER")
	}
	if addr == "" {
		addr = DefaultSocket()
	}
	c := &Client{Addr: addr, token: o.Token}
	switch {
	case strings.HasPrefix(addr, "http://") || strings.HasPrefix(addr, "https://"):
		if _, err := url.Parse(addr); err != nil {
			return nil, fmt.Errorf("server address %q: %w", addr, err)
		}
		c.base = strings.TrimSuffix(addr, "/")
		if err := o.discover(); err != nil {
			return nil, err
		}
		c.token = o.Token
		tc, err := o.tlsConfig()
		if err != nil {
			return nil, err
		}
		c.hc = &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment}}
	case strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "."):
		path := addr
		c.base = "http://gantry"
		c.hc = &http.Client{Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, "unix", path)
			},
		}}
	default:
		return nil, fmt.Errorf("server address %q: want a socket path or an http(s) URL", addr)
	}
	return c, nil
}

// APIError is a non-2xx answer from the server.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return e.Message }

// NotFound reports whether err is a 404 from the server.
func NotFound(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Status == http.StatusNotFound
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the gantry server at %s: %w", c.Addr, tlsHint(unwrapURLError(err)))
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		var e api.Error
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("%s %s: %s", method, path, resp.Status)
		}
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%s %s: bad answer: %w", method, path, err)
	}
	return nil
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// Submit submits a job. It gives the submission a random token (unless
// spec has one) and, when the server cannot be reached, tries again with
// the same token for a few seconds: a submission whose answer was lost is
// then not made twice (see api.JobSpec.SubmitToken).
func (c *Client) Submit(ctx context.Context, spec api.JobSpec) (api.SubmitResponse, error) {
	if spec.SubmitToken == "" {
		spec.SubmitToken = newSubmitToken(time.Now())
	}
	var out api.SubmitResponse
	var err error
	for delay := 100 * time.Millisecond; ; delay *= 2 {
		err = c.do(ctx, http.MethodPost, "/v1/jobs", spec, &out)
		var ae *APIError
		if err == nil || errors.As(err, &ae) || delay > 3*time.Second {
			return out, err
		}
		select {
		case <-ctx.Done():
			return out, err
		case <-time.After(delay):
		}
	}
}

// newSubmitToken returns a fresh submit token: the time (nanoseconds,
// big-endian) and 8 random bytes, in hex. A user's tokens thus grow with
// time, and the server's index of them takes each new one at its end (a
// page or two per group commit) instead of at a random place (a page
// per submission); the random half keeps two tokens of the same
// nanosecond apart.
func newSubmitToken(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixNano()))
	rand.Read(b[8:])
	return hex.EncodeToString(b[:])
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id int64) (api.Job, error) {
	return c.JobByRef(ctx, strconv.FormatInt(id, 10))
}

// JobByRef returns a job by reference: "42", or "42[7]" for an array
// element (which may not have started yet).
func (c *Client) JobByRef(ctx context.Context, ref string) (api.Job, error) {
	var out api.Job
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(ref), nil, &out)
	return out, err
}

// Jobs lists the caller's jobs, or everyone's with all.
func (c *Client) Jobs(ctx context.Context, all bool, states ...api.JobState) ([]api.Job, error) {
	var out api.JobList
	err := c.do(ctx, http.MethodGet, "/v1/jobs?"+jobsQuery(all, states).Encode(), nil, &out)
	return out.Jobs, err
}

// JobTable lists the same jobs as Jobs, as columns of what a listing
// shows: much quicker for many jobs.
func (c *Client) JobTable(ctx context.Context, all bool, states ...api.JobState) (api.JobTable, error) {
	q := jobsQuery(all, states)
	q.Set("view", "table")
	var out api.JobTable
	err := c.do(ctx, http.MethodGet, "/v1/jobs?"+q.Encode(), nil, &out)
	return out, err
}

func jobsQuery(all bool, states []api.JobState) url.Values {
	q := url.Values{}
	if all {
		q.Set("user", "all")
	}
	for _, s := range states {
		q.Add("state", string(s))
	}
	return q
}

// Kill kills or cancels a job.
func (c *Client) Kill(ctx context.Context, id int64) (api.Job, error) {
	return c.KillRef(ctx, strconv.FormatInt(id, 10))
}

// KillRef kills or cancels a job or an array element ("42[7]"); killing
// an array cancels all its elements.
func (c *Client) KillRef(ctx context.Context, ref string) (api.Job, error) {
	var out api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(ref)+"/kill", nil, &out)
	return out, err
}

// Signal sends signal sig (SIGUSR1, USR1 or 10) to every process of
// running job or array element ref, on all its nodes.
func (c *Client) Signal(ctx context.Context, ref, sig string) (api.Job, error) {
	var out api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(ref)+"/signal", api.SignalBody{Signal: sig}, &out)
	return out, err
}

// Nodes lists the nodes.
func (c *Client) Nodes(ctx context.Context) ([]api.Node, error) {
	var out api.NodeList
	err := c.do(ctx, http.MethodGet, "/v1/nodes", nil, &out)
	return out.Nodes, err
}

// Register registers a node daemon.
func (c *Client) Register(ctx context.Context, req api.RegisterRequest) error {
	return c.do(ctx, http.MethodPost, "/v1/nodes/register", req, nil)
}

// Status sends a node's heartbeat and report.
func (c *Client) Status(ctx context.Context, node string, st api.NodeStatus) (api.NodeStatusResponse, error) {
	var out api.NodeStatusResponse
	err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/status", st, &out)
	return out, err
}

// Assignments long-polls a node's desired state: it returns when the
// server's index passes after, or after about wait.
func (c *Client) Assignments(ctx context.Context, node string, after uint64, wait time.Duration) (api.Assignments, error) {
	var out api.Assignments
	path := fmt.Sprintf("/v1/nodes/%s/assignments?index=%d&wait=%s", url.PathEscape(node), after, wait)
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// Node returns one node, with its topology.
func (c *Client) Node(ctx context.Context, name string) (api.Node, error) {
	var out api.Node
	err := c.do(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(name), nil, &out)
	return out, err
}

// History returns one job's events.
func (c *Client) History(ctx context.Context, ref string) ([]api.Event, error) {
	var out api.History
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(ref)+"/history", nil, &out)
	return out.Events, err
}

// Events streams events after the given id, for the given jobs (all the
// caller may see when none), calling fn for each in order. With follow it
// keeps waiting for new events until ctx ends or fn returns false;
// without, it returns after the events already recorded.
func (c *Client) Events(ctx context.Context, after int64, jobs []int64, follow bool, fn func(api.Event) bool) error {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	for _, id := range jobs {
		q.Add("job", strconv.FormatInt(id, 10))
	}
	if follow {
		q.Set("follow", "true")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/events?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the gantry server at %s: %w", c.Addr, unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e api.Error
		json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&e)
		return &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue // keepalive
		}
		var e api.Event
		if err := json.Unmarshal(line, &e); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		if !fn(e) {
			return nil
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("event stream: %w", err)
	}
	return ctx.Err()
}

// SetHold holds (hold true) or releases a job (or array).
func (c *Client) SetHold(ctx context.Context, ref string, hold bool) (api.Job, error) {
	verb := "release"
	if hold {
		verb = "hold"
	}
	var out api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(ref)+"/"+verb, nil, &out)
	return out, err
}

// Queues lists the queues.
func (c *Client) Queues(ctx context.Context) ([]api.Queue, error) {
	var out api.QueueList
	err := c.do(ctx, http.MethodGet, "/v1/queues", nil, &out)
	return out.Queues, err
}

// Queue returns one queue.
func (c *Client) Queue(ctx context.Context, name string) (api.Queue, error) {
	var out api.Queue
	err := c.do(ctx, http.MethodGet, "/v1/queues/"+url.PathEscape(name), nil, &out)
	return out, err
}

// PutQueue creates or replaces a queue (admins).
func (c *Client) PutQueue(ctx context.Context, q api.Queue) (api.Queue, error) {
	var out api.Queue
	err := c.do(ctx, http.MethodPut, "/v1/queues/"+url.PathEscape(q.Name), q, &out)
	return out, err
}

// DeleteQueue removes a queue without unfinished jobs (admins).
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, "/v1/queues/"+url.PathEscape(name), nil, nil)
}

// QueueAction opens, closes, activates or inactivates a queue (admins).
func (c *Client) QueueAction(ctx context.Context, name, action string) (api.Queue, error) {
	var out api.Queue
	err := c.do(ctx, http.MethodPost, "/v1/queues/"+url.PathEscape(name)+"/"+url.PathEscape(action), nil, &out)
	return out, err
}

// AddCron adds a recurring job.
func (c *Client) AddCron(ctx context.Context, spec api.CronSpec) (api.Cron, error) {
	var out api.Cron
	err := c.do(ctx, http.MethodPost, "/v1/crons", spec, &out)
	return out, err
}

// Crons lists the caller's recurring jobs (everyone's for admins).
func (c *Client) Crons(ctx context.Context) ([]api.Cron, error) {
	var out api.CronList
	err := c.do(ctx, http.MethodGet, "/v1/crons", nil, &out)
	return out.Crons, err
}

// DeleteCron removes a recurring job.
func (c *Client) DeleteCron(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "/v1/crons/"+strconv.FormatInt(id, 10), nil, nil)
}

// PauseCron pauses (pause true) or resumes a recurring job.
func (c *Client) PauseCron(ctx context.Context, id int64, pause bool) (api.Cron, error) {
	verb := "resume"
	if pause {
		verb = "pause"
	}
	var out api.Cron
	err := c.do(ctx, http.MethodPost, "/v1/crons/"+strconv.FormatInt(id, 10)+"/"+verb, nil, &out)
	return out, err
}

// Drain drains a node (admins).
func (c *Client) Drain(ctx context.Context, node string, req api.DrainRequest) (api.Node, error) {
	var out api.Node
	err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/drain", req, &out)
	return out, err
}

// ResumeNode ends a node's drain (admins).
func (c *Client) ResumeNode(ctx context.Context, node string) (api.Node, error) {
	var out api.Node
	err := c.do(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/resume", nil, &out)
	return out, err
}

// Accounting lists accounting records; query holds the filters (user,
// queue, state, since, until).
func (c *Client) Accounting(ctx context.Context, query url.Values) ([]api.AcctRecord, error) {
	var out api.AcctList
	err := c.do(ctx, http.MethodGet, "/v1/acct?"+query.Encode(), nil, &out)
	return out.Records, err
}

// Modify changes a job that has not started.
func (c *Client) Modify(ctx context.Context, ref string, ch api.JobChanges) (api.Job, error) {
	var out api.Job
	err := c.do(ctx, http.MethodPatch, "/v1/jobs/"+url.PathEscape(ref), ch, &out)
	return out, err
}

// Reserve creates a maintenance reservation (admins).
func (c *Client) Reserve(ctx context.Context, req api.ReservationRequest) (api.Reservation, error) {
	var out api.Reservation
	err := c.do(ctx, http.MethodPost, "/v1/reservations", req, &out)
	return out, err
}

// Reservations lists the reservations that have not ended.
func (c *Client) Reservations(ctx context.Context) ([]api.Reservation, error) {
	var out api.ReservationList
	err := c.do(ctx, http.MethodGet, "/v1/reservations", nil, &out)
	return out.Reservations, err
}

// DeleteReservation removes a reservation (admins).
func (c *Client) DeleteReservation(ctx context.Context, id int64) error {
	return c.do(ctx, http.MethodDelete, "/v1/reservations/"+strconv.FormatInt(id, 10), nil, nil)
}

// SetSuspend suspends (on) or continues a running job.
func (c *Client) SetSuspend(ctx context.Context, ref string, on bool) (api.Job, error) {
	verb := "continue"
	if on {
		verb = "suspend"
	}
	var out api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(ref)+"/"+verb, nil, &out)
	return out, err
}

// Move moves a waiting job to the top (top true) or bottom of its user's
// queue.
func (c *Client) Move(ctx context.Context, ref string, top bool) (api.Job, error) {
	where := "bottom"
	if top {
		where = "top"
	}
	var out api.Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+url.PathEscape(ref)+"/"+where, nil, &out)
	return out, err
}

// upgrade opens an upgraded connection (see the server's tty.go) with a
// GET of path, and returns it once the server has answered 101.
func (c *Client) upgrade(ctx context.Context, path string) (io.ReadWriteCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "gantry-tty")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the gantry server at %s: %w", c.Addr, tlsHint(unwrapURLError(err)))
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		var e api.Error
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(raw, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("GET %s: %s", path, resp.Status)
		}
		return nil, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	rwc, ok := resp.Body.(io.ReadWriteCloser)
	if !ok {
		resp.Body.Close()
		return nil, fmt.Errorf("GET %s: the upgraded connection is not writable", path)
	}
	return rwc, nil
}

// Attach connects to interactive job ref's terminal, telling it the
// caller's window size (0, 0: unknown). It waits a while for the job to
// start; an APIError with status 504 means it has not yet: ask again.
func (c *Client) Attach(ctx context.Context, ref string, rows, cols int) (io.ReadWriteCloser, error) {
	return c.upgrade(ctx, fmt.Sprintf("/v1/jobs/%s/tty?rows=%d&cols=%d", url.PathEscape(ref), rows, cols))
}

// NodeTTY offers node's connection to job id's terminal; it returns once a
// client is attached (then the stream starts with "ROWS COLS\n"), or with
// an APIError 408 when none came: ask again.
func (c *Client) NodeTTY(ctx context.Context, node string, id int64) (io.ReadWriteCloser, error) {
	return c.upgrade(ctx, fmt.Sprintf("/v1/nodes/%s/jobs/%d/tty", url.PathEscape(node), id))
}
