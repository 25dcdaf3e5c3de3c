package api

import (
	"fmt"
	"time"
)

// JobTable answers GET /v1/jobs?view=table: what a listing of many jobs
// shows of each (gantry jobs), as columns, compactly. Every column holds
// one value per job, in id order, run-length encoded: pairs of a value
// and the number of consecutive jobs that have it ([v1, n1, v2, n2, ...]).
// ID and SubmitMS hold each job's difference from the job before (the
// first's from 0), so that consecutive ids make one run. String columns
// hold indexes into Strings, which has each distinct string once. A
// hundred thousand similar jobs take a few kilobytes; Decode expands a
// table.
type JobTable struct {
	// Count is the number of jobs.
	Count   int      `json:"count"`
	Strings []string `json:"strings"`
	ID      []int64  `json:"id"`
	ArrayID []int64  `json:"array_id"`
	// ArrayIndex is the index of an array element.
	ArrayIndex []int64 `json:"array_index"`
	// Array is the element range of an array job (JobSpec.Array).
	Array []int64 `json:"array"`
	User  []int64 `json:"user"`
	State []int64 `json:"state"`
	Queue []int64 `json:"queue"`
	Node  []int64 `json:"node"`
	Cores []int64 `json:"cores"`
	Name  []int64 `json:"name"`
	// SubmitMS is the submission time in milliseconds since the Unix
	// epoch.
	SubmitMS []int64 `json:"submit_ms"`
	Reason   []int64 `json:"reason"`
}

// JobColumns is a decoded JobTable.
type JobColumns struct {
	strings []string
	cols    [tableColumns][]int64
}

// The columns of a table, in JobTable's order.
const (
	colID = iota
	colArrayID
	colArrayIndex
	colArray
	colUser
	colState
	colQueue
	colNode
	colCores
	colName
	colSubmit
	colReason
	tableColumns
)

func (t *JobTable) columns() [tableColumns]*[]int64 {
	return [...]*[]int64{&t.ID, &t.ArrayID, &t.ArrayIndex, &t.Array, &t.User, &t.State, &t.Queue, &t.Node, &t.Cores, &t.Name, &t.SubmitMS, &t.Reason}
}

// strColumn tells the columns of string indexes; deltaColumn those of
// differences.
func strColumn(c int) bool {
	switch c {
	case colArray, colUser, colState, colQueue, colNode, colName, colReason:
		return true
	}
	return false
}

func deltaColumn(c int) bool { return c == colID || c == colSubmit }

// Decode expands t, checking that every column has Count values and that
// string indexes are within Strings.
func (t *JobTable) Decode() (*JobColumns, error) {
	if t.Count < 0 {
		return nil, fmt.Errorf("job table: count %d", t.Count)
	}
	out := &JobColumns{strings: t.Strings}
	for c, col := range t.columns() {
		rle := *col
		if len(rle)%2 != 0 {
			return nil, fmt.Errorf("job table: column %d: odd length %d", c, len(rle))
		}
		vals := make([]int64, 0, min(t.Count, 1<<20))
		var prev int64
		for i := 0; i < len(rle); i += 2 {
			v, n := rle[i], rle[i+1]
			if n < 0 || int64(len(vals))+n > int64(t.Count) {
				return nil, fmt.Errorf("job table: column %d: more than %d values", c, t.Count)
			}
			if strColumn(c) && (v < 0 || v >= int64(len(t.Strings))) {
				return nil, fmt.Errorf("job table: column %d: string %d of %d", c, v, len(t.Strings))
			}
			for range n {
				if deltaColumn(c) {
					prev += v
					vals = append(vals, prev)
				} else {
					vals = append(vals, v)
				}
			}
		}
		if len(vals) != t.Count {
			return nil, fmt.Errorf("job table: column %d: %d values, want %d", c, len(vals), t.Count)
		}
		out.cols[c] = vals
	}
	return out, nil
}

// Len is the number of jobs.
func (c *JobColumns) Len() int { return len(c.cols[colID]) }

// Job returns job i as a Job with the fields a table has.
func (c *JobColumns) Job(i int) Job {
	str := func(col int) string { return c.strings[c.cols[col][i]] }
	return Job{
		ID:         c.cols[colID][i],
		ArrayID:    c.cols[colArrayID][i],
		ArrayIndex: c.cols[colArrayIndex][i],
		User:       str(colUser),
		State:      JobState(str(colState)),
		Node:       str(colNode),
		Reason:     str(colReason),
		SubmitTime: time.UnixMilli(c.cols[colSubmit][i]).UTC(),
		Spec:       JobSpec{Queue: str(colQueue), Cores: int(c.cols[colCores][i]), Name: str(colName), Array: str(colArray)},
	}
}

// TableBuilder makes a JobTable of jobs added in id order.
type TableBuilder struct {
	t       JobTable
	last    [tableColumns]int64 // last value added to each column
	strings map[string]int64
}

// Add appends job j (the fields a JobTable has).
func (b *TableBuilder) Add(j *Job) {
	b.put(colID, j.ID)
	b.put(colArrayID, j.ArrayID)
	b.put(colArrayIndex, j.ArrayIndex)
	b.put(colArray, b.str(j.Spec.Array))
	b.put(colUser, b.str(j.User))
	b.put(colState, b.str(string(j.State)))
	b.put(colQueue, b.str(j.Spec.Queue))
	b.put(colNode, b.str(j.Node))
	b.put(colCores, int64(j.Spec.Cores))
	b.put(colName, b.str(j.Spec.Name))
	b.put(colSubmit, j.SubmitTime.UnixMilli())
	b.put(colReason, b.str(j.Reason))
	b.t.Count++
}

func (b *TableBuilder) put(c int, v int64) {
	col := b.t.columns()[c]
	if deltaColumn(c) {
		v, b.last[c] = v-b.last[c], v
	}
	if n := len(*col); n > 0 && (*col)[n-2] == v {
		(*col)[n-1]++
		return
	}
	*col = append(*col, v, 1)
}

func (b *TableBuilder) str(s string) int64 {
	if i, ok := b.strings[s]; ok {
		return i
	}
	if b.strings == nil {
		b.strings = map[string]int64{}
	}
	i := int64(len(b.t.Strings))
	b.t.Strings = append(b.t.Strings, s)
	b.strings[s] = i
	return i
}

// Table returns the table built (empty columns as [], not null).
func (b *TableBuilder) Table() JobTable {
	t := b.t
	for _, col := range t.columns() {
		if *col == nil {
			*col = []int64{}
		}
	}
	if t.Strings == nil {
		t.Strings = []string{}
	}
	return t
}
