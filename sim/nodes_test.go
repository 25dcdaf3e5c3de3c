package sim

import (
	"reflect"
	"testing"
)

func TestParseNodes(t *testing.T) {
	got, err := ParseNodes("gpu:16x(64c,512G,8xH100/nvswitch),cpu:200x(128c,256G)")
	if err != nil {
		t.Fatal(err)
	}
	want := []NodeType{
		{Name: "gpu", Count: 16, Cores: 64, MemoryBytes: 512 << 30, GPUs: 8, GPUModel: "H100", Link: "nvswitch", Weight: 81, NUMA: 2},
		{Name: "cpu", Count: 200, Cores: 128, MemoryBytes: 256 << 30, Link: "nvswitch", Weight: 1, NUMA: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	nodes := Build(got)
	if len(nodes) != 216 || nodes[0].Name != "gpu-00" || len(nodes[0].GPUs) != 8 || len(nodes[0].GPUs[3].Links) != 7 ||
		nodes[16].Name != "cpu-000" || len(nodes[16].CPUs) != 128 {
		t.Errorf("Build: %d nodes, first %+v", len(nodes), nodes[0].Name)
	}
	for _, bad := range []string{"", "gpu", "gpu:0x(1c)", "gpu:2x(8G)", "gpu:2x(4c,8xH100/ib)", "a:1x(1c),", "a:1x(1c) b:1x(1c)", "a:1x(1c,7Q)"} {
		if _, err := ParseNodes(bad); err == nil {
			t.Errorf("ParseNodes(%q) succeeded", bad)
		}
	}
}

// FuzzParseNodes: any input either fails or gives types that print back
// to a spec that parses to the same types.
func FuzzParseNodes(f *testing.F) {
	for _, s := range []string{"gpu:16x(64c,512G,8xH100/nvswitch),cpu:200x(128c,256G)", "a:1x(1c,w=3,numa=4,sw=2)", "x:2x(4c,2xA100/nvlink,1T)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		types, err := ParseNodes(s)
		if err != nil {
			return
		}
		var spec string
		for k, ty := range types {
			if ty.Count <= 0 || ty.Cores <= 0 || ty.NUMA < 1 || ty.Weight < 0 {
				t.Fatalf("%q: bad type %+v", s, ty)
			}
			if k > 0 {
				spec += ","
			}
			spec += ty.String()
		}
		again, err := ParseNodes(spec)
		if err != nil || !reflect.DeepEqual(again, types) {
			t.Fatalf("%q → %q → %+v, %v (want %+v)", s, spec, again, err, types)
		}
	})
}

// TestHeteroReplay replays random workloads on a small heterogeneous
// cluster with every policy: every job that fits starts once, after its
// submission (no gang deadlocks), the same way twice.
func TestHeteroReplay(t *testing.T) {
	types, err := ParseNodes("gpu:2x(16c,64G,4xH100/nvlink,sw=1),cpu:4x(16c,64G,sw=2)")
	if err != nil {
		t.Fatal(err)
	}
	for seed := range uint64(10) {
		l := randomLog(seed, 300, 96)
		for _, p := range policies {
			cfg := Config{Policy: p, Nodes: types, GPUPercent: 40}
			res, err := Run(l, cfg)
			if err != nil {
				t.Fatal(err)
			}
			gangs, gpus := 0, 0
			for _, j := range res.Jobs {
				if j.Start < j.Submit || j.End != j.Start+j.Run {
					t.Fatalf("%v: job %d submit %d start %d end %d", p, j.ID, j.Submit, j.Start, j.End)
				}
				if j.Nodes > 1 {
					gangs++
				}
				if j.GPUs > 0 {
					gpus++
				}
			}
			if gangs == 0 || gpus == 0 {
				t.Fatalf("%v: %d gangs, %d GPU jobs: the test has no teeth", p, gangs, gpus)
			}
			again, _ := Run(l, cfg)
			if !reflect.DeepEqual(res.Jobs, again.Jobs) {
				t.Fatalf("%v: replay is not deterministic", p)
			}
		}
	}
}
