package api

import "time"

// JobTable answers GET /v1/jobs?view=table: what a listing of many jobs
// shows of each (gantry jobs), as columns. Every column has one element
// per job, in id order; string columns hold indexes into Strings, which
// holds each distinct string once. A hundred thousand jobs take a few
// megabytes, decoded in a fraction of the time their full JobList takes.
type JobTable struct {
	Strings    []string `json:"strings"`
	ID         []int64  `json:"id"`
	ArrayID    []int64  `json:"array_id"`
	ArrayIndex []int64  `json:"array_index"`
	// Array is the element range of an array job (JobSpec.Array).
	Array []int `json:"array"`
	User  []int `json:"user"`
	State []int `json:"state"`
	Queue []int `json:"queue"`
	Node  []int `json:"node"`
	Cores []int `json:"cores"`
	Name  []int `json:"name"`
	// SubmitMS is the submission time in milliseconds since the Unix
	// epoch.
	SubmitMS []int64 `json:"submit_ms"`
	Reason   []int   `json:"reason"`
}

// Len is the number of jobs in t.
func (t *JobTable) Len() int { return len(t.ID) }

// Job returns job i of t as a Job with the fields the table has.
func (t *JobTable) Job(i int) Job {
	return Job{
		ID:         t.ID[i],
		ArrayID:    t.ArrayID[i],
		ArrayIndex: t.ArrayIndex[i],
		User:       t.Strings[t.User[i]],
		State:      JobState(t.Strings[t.State[i]]),
		Node:       t.Strings[t.Node[i]],
		Reason:     t.Strings[t.Reason[i]],
		SubmitTime: time.UnixMilli(t.SubmitMS[i]).UTC(),
		Spec: JobSpec{Queue: t.Strings[t.Queue[i]], Cores: t.Cores[i], Name: t.Strings[t.Name[i]],
			Array: t.Strings[t.Array[i]]},
	}
}

// TableBuilder appends jobs to a JobTable.
type TableBuilder struct {
	t       JobTable
	strings map[string]int
}

// Add appends job j (only the fields a JobTable has).
func (b *TableBuilder) Add(j *Job) {
	t := &b.t
	t.ID = append(t.ID, j.ID)
	t.ArrayID = append(t.ArrayID, j.ArrayID)
	t.ArrayIndex = append(t.ArrayIndex, j.ArrayIndex)
	t.Array = append(t.Array, b.str(j.Spec.Array))
	t.User = append(t.User, b.str(j.User))
	t.State = append(t.State, b.str(string(j.State)))
	t.Queue = append(t.Queue, b.str(j.Spec.Queue))
	t.Node = append(t.Node, b.str(j.Node))
	t.Cores = append(t.Cores, j.Spec.Cores)
	t.Name = append(t.Name, b.str(j.Spec.Name))
	t.SubmitMS = append(t.SubmitMS, j.SubmitTime.UnixMilli())
	t.Reason = append(t.Reason, b.str(j.Reason))
}

func (b *TableBuilder) str(s string) int {
	if i, ok := b.strings[s]; ok {
		return i
	}
	if b.strings == nil {
		b.strings = map[string]int{}
	}
	i := len(b.t.Strings)
	b.t.Strings = append(b.t.Strings, s)
	b.strings[s] = i
	return i
}

// Table returns the table built (every column non-nil, so that it is
// encoded as [] rather than null).
func (b *TableBuilder) Table() JobTable {
	t := b.t
	for _, col := range []*[]int{&t.Array, &t.User, &t.State, &t.Queue, &t.Node, &t.Cores, &t.Name, &t.Reason} {
		if *col == nil {
			*col = []int{}
		}
	}
	for _, col := range []*[]int64{&t.ID, &t.ArrayID, &t.ArrayIndex, &t.SubmitMS} {
		if *col == nil {
			*col = []int64{}
		}
	}
	if t.Strings == nil {
		t.Strings = []string{}
	}
	return t
}
