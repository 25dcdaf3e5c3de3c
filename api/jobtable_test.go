package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

func TestJobTableRoundTrip(t *testing.T) {
	at := time.UnixMilli(1700000000123).UTC()
	jobs := []Job{
		{ID: 3, User: "alice", State: StateRunnable, Reason: "waiting", SubmitTime: at, Spec: JobSpec{Queue: "normal", Cores: 1, Name: "a"}},
		{ID: 4, User: "alice", State: StateRunnable, Reason: "waiting", SubmitTime: at, Spec: JobSpec{Queue: "normal", Cores: 1, Name: "a"}},
		{ID: 9, User: "bob", State: StateRunning, Node: "n1", SubmitTime: at.Add(time.Second), Spec: JobSpec{Queue: "gpu", Cores: 8, Name: "b", Array: "1-10"}},
		{ID: 12, ArrayID: 9, ArrayIndex: 1, User: "bob", State: StateSucceeded, SubmitTime: at.Add(-time.Hour), Spec: JobSpec{Queue: "gpu", Cores: 8, Name: "b"}},
	}
	var b TableBuilder
	for i := range jobs {
		b.Add(&jobs[i])
	}
	raw, err := json.Marshal(b.Table())
	if err != nil {
		t.Fatal(err)
	}
	var table JobTable
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatal(err)
	}
	if got := table.User; !reflect.DeepEqual(got, []int64{1, 2, 7, 2}) { // alice twice, bob twice
		t.Errorf("user column %v, want two runs", got)
	}
	cols, err := table.Decode()
	if err != nil {
		t.Fatal(err)
	}
	if cols.Len() != len(jobs) {
		t.Fatalf("%d jobs decoded, want %d", cols.Len(), len(jobs))
	}
	for i, want := range jobs {
		if got := cols.Job(i); !reflect.DeepEqual(got, want) {
			t.Errorf("job %d:\n got %+v\nwant %+v", i, got, want)
		}
	}

	var empty TableBuilder
	raw, _ = json.Marshal(empty.Table())
	if string(raw) != `{"count":0,"strings":[],"id":[],"array_id":[],"array_index":[],"array":[],"user":[],"state":[],"queue":[],"node":[],"cores":[],"name":[],"submit_ms":[],"reason":[]}` {
		t.Errorf("empty table %s", raw)
	}
}

func TestJobTableDecodeRejectsBadTables(t *testing.T) {
	for name, raw := range map[string]string{
		"short column":   `{"count":2,"strings":[""],"id":[1,1],"array_id":[0,2],"array_index":[0,2],"array":[0,2],"user":[0,2],"state":[0,2],"queue":[0,2],"node":[0,2],"cores":[1,2],"name":[0,2],"submit_ms":[0,2],"reason":[0,2]}`,
		"string index":   `{"count":1,"strings":[""],"id":[1,1],"array_id":[0,1],"array_index":[0,1],"array":[5,1],"user":[0,1],"state":[0,1],"queue":[0,1],"node":[0,1],"cores":[1,1],"name":[0,1],"submit_ms":[0,1],"reason":[0,1]}`,
		"odd column":     `{"count":1,"strings":[""],"id":[1],"array_id":[0,1],"array_index":[0,1],"array":[0,1],"user":[0,1],"state":[0,1],"queue":[0,1],"node":[0,1],"cores":[1,1],"name":[0,1],"submit_ms":[0,1],"reason":[0,1]}`,
		"negative count": `{"count":-1}`,
		"run past count": `{"count":1,"strings":[""],"id":[1,1000000000000],"array_id":[0,1],"array_index":[0,1],"array":[0,1],"user":[0,1],"state":[0,1],"queue":[0,1],"node":[0,1],"cores":[1,1],"name":[0,1],"submit_ms":[0,1],"reason":[0,1]}`,
		"negative run":   `{"count":1,"strings":[""],"id":[1,-1,1,2],"array_id":[0,1],"array_index":[0,1],"array":[0,1],"user":[0,1],"state":[0,1],"queue":[0,1],"node":[0,1],"cores":[1,1],"name":[0,1],"submit_ms":[0,1],"reason":[0,1]}`,
	} {
		var table JobTable
		if err := json.Unmarshal([]byte(raw), &table); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := table.Decode(); err == nil {
			t.Errorf("%s: decoded", name)
		}
	}
}
