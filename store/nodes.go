package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gantry-hpc/gantry/api"
)

// RegisterNode records a node (new or returning) as UP with its resources.
func (s *Store) RegisterNode(ctx context.Context, r api.RegisterRequest, now time.Time) error {
	labels := r.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO nodes (name, hostname, cpus_json, mem_bytes, state, heartbeat_ns, version, labels_json, topology_json, address)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(name) DO UPDATE SET hostname = excluded.hostname, cpus_json = excluded.cpus_json,
			mem_bytes = excluded.mem_bytes, state = excluded.state, heartbeat_ns = excluded.heartbeat_ns,
			version = excluded.version, labels_json = excluded.labels_json, topology_json = excluded.topology_json, address = excluded.address`,
		r.Name, r.Hostname, mustJSON(r.CPUs), r.MemoryBytes, api.NodeUp, now.UnixNano(), r.Version, mustJSON(labels), string(r.Topology), r.Address)
	if err != nil {
		return fmt.Errorf("register node %s: %w", r.Name, err)
	}
	return nil
}

// NodeReportResult says what a node's status report changed.
type NodeReportResult struct {
	WasDown        bool    // the node was not UP before this report
	Started        []int64 // STARTING jobs the report moved to RUNNING
	SuspendChanged bool    // some running job was frozen or thawed
}

// ReportNode records a node's periodic report in one transaction: the
// node was heard from at now (and is UP), the jobs in running have
// started (see MarkRunning), and exactly the running jobs in frozen are
// suspended. It returns ErrNotFound for a node that never registered.
func (s *Store) ReportNode(ctx context.Context, node string, running []api.RunningJob, frozen []int64, now time.Time) (NodeReportResult, error) {
	var res NodeReportResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res = NodeReportResult{}
		var err error
		if res.WasDown, err = heartbeat(ctx, tx, node, now); err != nil {
			return err
		}
		for _, rj := range running {
			ok, err := markRunning(ctx, tx, node, rj.JobID, rj.Attempt, rj.StartedAt)
			if err != nil {
				return fmt.Errorf("mark job %d running: %w", rj.JobID, err)
			}
			if ok {
				res.Started = append(res.Started, rj.JobID)
			}
		}
		res.SuspendChanged, err = recordSuspended(ctx, tx, node, frozen, now)
		return err
	})
	return res, err
}

// heartbeat records that node was heard from at now and marks it UP.
func heartbeat(ctx context.Context, tx *sql.Tx, node string, now time.Time) (wasDown bool, err error) {
	var state api.NodeState
	if err := tx.QueryRowContext(ctx, `SELECT state FROM nodes WHERE name = ?`, node).Scan(&state); err != nil {
		if err == sql.ErrNoRows {
			return false, fmt.Errorf("node %s: %w", node, ErrNotFound)
		}
		return false, err
	}
	_, err = tx.ExecContext(ctx, `UPDATE nodes SET heartbeat_ns = ?, state = ? WHERE name = ?`, now.UnixNano(), api.NodeUp, node)
	return state != api.NodeUp, err
}

// MarkSilentNodesDown marks DOWN every UP node last heard from before
// cutoff, and ends the tries of the jobs placed there: NODE_FAIL, or back
// to the queue when their retry strategy says so. It returns the nodes and
// the jobs affected. Should a lost node come back with those jobs still
// running, its next poll no longer lists them and it kills them.
func (s *Store) MarkSilentNodesDown(ctx context.Context, cutoff, now time.Time) (down []string, jobs []int64, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		down, jobs = nil, nil
		rows, err := tx.QueryContext(ctx, `SELECT name FROM nodes WHERE state = ? AND heartbeat_ns < ?`, api.NodeUp, cutoff.UnixNano())
		if err != nil {
			return err
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			down = append(down, n)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, n := range down {
			if _, err := tx.ExecContext(ctx, `UPDATE nodes SET state = ? WHERE name = ?`, api.NodeDown, n); err != nil {
				return err
			}
			failed, err := failNodeJobs(ctx, tx, n, now.Sub(cutoff), now)
			if err != nil {
				return err
			}
			jobs = append(jobs, failed...)
		}
		return nil
	})
	return down, jobs, err
}

// failNodeJobs ends the tries of the jobs placed on a lost node.
func failNodeJobs(ctx context.Context, tx *sql.Tx, node string, silence time.Duration, now time.Time) ([]int64, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, spec, attempt, array_id FROM jobs WHERE id IN (`+jobsOnNode+`)`, jobsOnNodeArgs(node)...)
	if err != nil {
		return nil, err
	}
	type placed struct {
		id, arrayID int64
		attempt     int
		spec        api.JobSpec
	}
	var victims []placed
	for rows.Next() {
		var p placed
		var raw string
		if err := rows.Scan(&p.id, &raw, &p.attempt, &p.arrayID); err != nil {
			rows.Close()
			return nil, err
		}
		if err := json.Unmarshal([]byte(raw), &p.spec); err != nil {
			rows.Close()
			return nil, fmt.Errorf("job %d spec: %w", p.id, err)
		}
		victims = append(victims, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	why := fmt.Sprintf("node %s lost: no heartbeat for %s", node, silence.Round(time.Second))
	var ids []int64
	for _, v := range victims {
		ids = append(ids, v.id)
		if v.spec.Retry.Retries(api.StateNodeFail, api.JobResult{}) && v.attempt < v.spec.Retry.Attempts {
			if err := retry(ctx, tx, v.id, v.attempt, v.spec.Retry.Attempts, why, node, now); err != nil {
				return nil, err
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE jobs SET state = ?, reason = ?, end_ns = ? WHERE id = ?`,
			api.StateNodeFail, why, now.UnixNano(), v.id); err != nil {
			return nil, err
		}
		if err := recordEvent(ctx, tx, now, v.id, api.StateNodeFail, why, node, "scheduler"); err != nil {
			return nil, err
		}
		if v.arrayID != 0 {
			if err := settleArray(ctx, tx, v.arrayID, now); err != nil {
				return nil, err
			}
		}
	}
	return ids, nil
}

// TouchAllNodes sets every node's last heartbeat to now. The server calls
// it at start so that nodes get a full timeout to reconnect after a server
// restart instead of being declared down at once.
func (s *Store) TouchAllNodes(ctx context.Context, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `UPDATE nodes SET heartbeat_ns = ? WHERE state = ?`, now.UnixNano(), api.NodeUp)
	return err
}

// Nodes lists all nodes by name, with what their placed jobs hold, without
// their topology.
func (s *Store) Nodes(ctx context.Context) ([]api.Node, error) {
	return s.nodes(ctx, "", false)
}

// Node returns one node with its topology, or ErrNotFound.
func (s *Store) Node(ctx context.Context, name string) (api.Node, error) {
	nodes, err := s.nodes(ctx, name, true)
	if err != nil {
		return api.Node{}, err
	}
	if len(nodes) == 0 {
		return api.Node{}, fmt.Errorf("node %s: %w", name, ErrNotFound)
	}
	return nodes[0], nil
}

func (s *Store) nodes(ctx context.Context, name string, topology bool) ([]api.Node, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT n.name, n.hostname, n.cpus_json, n.mem_bytes, n.state, n.heartbeat_ns, n.version,
		n.labels_json, CASE WHEN ? THEN n.topology_json ELSE '' END, n.drain_json, n.address,
		COALESCE(SUM(json_array_length(j.cpus_json)), 0), COALESCE(SUM(j.mem_bytes), 0), COUNT(j.id)
		FROM nodes n LEFT JOIN (SELECT id, node, cpus_json, mem_bytes FROM jobs WHERE state IN (?, ?)
			UNION ALL SELECT p.job_id, p.node, p.cpus_json, p.mem_bytes FROM job_parts p
			JOIN jobs g ON g.id = p.job_id AND g.attempt = p.attempt WHERE p.rank > 0 AND g.state IN (?, ?)) j ON j.node = n.name
		WHERE ? = '' OR n.name = ?
		GROUP BY n.name ORDER BY n.name`, topology, api.StateStarting, api.StateRunning, api.StateStarting, api.StateRunning, name, name)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var out []api.Node
	for rows.Next() {
		var n api.Node
		var cpus, labels, topo, drain string
		var hb int64
		if err := rows.Scan(&n.Name, &n.Hostname, &cpus, &n.MemoryBytes, &n.State, &hb, &n.Version,
			&labels, &topo, &drain, &n.Address, &n.AllocCores, &n.AllocMemoryBytes, &n.Jobs); err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		if err := json.Unmarshal([]byte(cpus), &n.CPUs); err != nil {
			return nil, fmt.Errorf("node %s cpus: %w", n.Name, err)
		}
		if err := json.Unmarshal([]byte(labels), &n.Labels); err != nil {
			return nil, fmt.Errorf("node %s labels: %w", n.Name, err)
		}
		if topo != "" {
			n.Topology = json.RawMessage(topo)
		}
		if drain != "" {
			n.Drain = new(api.NodeDrain)
			if err := json.Unmarshal([]byte(drain), n.Drain); err != nil {
				return nil, fmt.Errorf("node %s drain: %w", n.Name, err)
			}
			// A live node's state shows its drain; a down one stays DOWN.
			if n.State == api.NodeUp {
				n.State = api.NodeDrained
				if n.Jobs > 0 {
					n.State = api.NodeDraining
				}
			}
		}
		n.LastHeartbeat = time.Unix(0, hb).UTC()
		out = append(out, n)
	}
	return out, rows.Err()
}

// SetDrain drains a node (d non-nil) or resumes it (d nil). It returns
// ErrNotFound for an unknown node.
func (s *Store) SetDrain(ctx context.Context, name string, d *api.NodeDrain) error {
	raw := ""
	if d != nil {
		raw = mustJSON(d)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE nodes SET drain_json = ? WHERE name = ?`, raw, name)
	if err != nil {
		return fmt.Errorf("drain node %s: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("node %s: %w", name, ErrNotFound)
	}
	return nil
}

// KillPastDrainDeadline marks for killing the jobs running on drained nodes
// whose drain deadline has passed, and returns their ids.
func (s *Store) KillPastDrainDeadline(ctx context.Context, now time.Time) ([]int64, error) {
	var killed []int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Jobs, and gangs with a part, on nodes with a drain deadline;
		// a gang goes once, by its first such node.
		rows, err := tx.QueryContext(ctx, `SELECT j.id, MIN(n.name) FROM jobs j
			JOIN (SELECT id AS job_id, node FROM jobs UNION ALL SELECT job_id, node FROM job_parts WHERE rank > 0) on_node ON on_node.job_id = j.id
			JOIN nodes n ON on_node.node = n.name
			WHERE n.drain_json != '' AND json_extract(n.drain_json, '$.deadline') IS NOT NULL
			AND j.state IN (?, ?) AND j.kill_requested = 0 GROUP BY j.id`, api.StateStarting, api.StateRunning)
		if err != nil {
			return err
		}
		type victim struct {
			id   int64
			node string
		}
		var victims []victim
		for rows.Next() {
			var v victim
			if err := rows.Scan(&v.id, &v.node); err != nil {
				rows.Close()
				return err
			}
			victims = append(victims, v)
		}
		rows.Close()
		for _, v := range victims {
			n, err := s.nodeDrain(ctx, tx, v.node)
			if err != nil || n == nil || n.Deadline == nil || now.Before(*n.Deadline) {
				continue
			}
			why := fmt.Sprintf("drain deadline of node %s passed (%s)", v.node, n.Reason)
			if n.Requeue {
				// Back to the queue as the next try; the node kills
				// the stale run when its assignments no longer list it.
				var attempt int
				if err := tx.QueryRowContext(ctx, `SELECT attempt FROM jobs WHERE id = ?`, v.id).Scan(&attempt); err != nil {
					return err
				}
				if err := retry(ctx, tx, v.id, attempt, attempt+1, why+": requeued", v.node, now); err != nil {
					return err
				}
				killed = append(killed, v.id)
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE jobs SET kill_requested = 1 WHERE id = ?`, v.id); err != nil {
				return err
			}
			if err := recordEvent(ctx, tx, now, v.id, api.StateRunning, "kill requested: "+why, v.node, "scheduler"); err != nil {
				return err
			}
			killed = append(killed, v.id)
		}
		return rows.Err()
	})
	return killed, err
}

func (s *Store) nodeDrain(ctx context.Context, tx *sql.Tx, name string) (*api.NodeDrain, error) {
	var raw string
	if err := tx.QueryRowContext(ctx, `SELECT drain_json FROM nodes WHERE name = ?`, name).Scan(&raw); err != nil || raw == "" {
		return nil, err
	}
	var d api.NodeDrain
	return &d, json.Unmarshal([]byte(raw), &d)
}

// NodeTopologies returns every node's reported topology (JSON, as
// package discover writes it), by node name; nodes that reported none
// are left out.
func (s *Store) NodeTopologies(ctx context.Context) (map[string]string, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, topology_json FROM nodes WHERE topology_json != ''`)
	if err != nil {
		return nil, fmt.Errorf("node topologies: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, topo string
		if err := rows.Scan(&name, &topo); err != nil {
			return nil, err
		}
		out[name] = topo
	}
	return out, rows.Err()
}

// SetNodeHealth records what node's daemon says of its health: a node
// reported unhealthy (reason set) is drained with that reason, unless it
// is drained already; one reported healthy again is resumed if its drain
// was the health check's own (an admin's drain stays). It returns
// "drained", "resumed" or "".
func (s *Store) SetNodeHealth(ctx context.Context, node, reason string, now time.Time) (string, error) {
	var did string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		did = ""
		d, err := s.nodeDrain(ctx, tx, node)
		if err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("node %s: %w", node, ErrNotFound)
			}
			return err
		}
		var raw string
		switch {
		case reason != "" && d == nil:
			raw, did = mustJSON(api.NodeDrain{Reason: "unhealthy: " + reason, By: api.HealthDrainer, Since: now.UTC()}), "drained"
		case reason == "" && d != nil && d.By == api.HealthDrainer:
			did = "resumed"
		default:
			return nil
		}
		_, err = tx.ExecContext(ctx, `UPDATE nodes SET drain_json = ? WHERE name = ?`, raw, node)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("node %s health: %w", node, err)
	}
	return did, nil
}
