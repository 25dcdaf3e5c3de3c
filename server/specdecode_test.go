package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gantry-hpc/gantry/api"
)

// sameAsDecodeJSON fails unless decodeSpec decodes body as decodeJSON
// does: the same spec, or the same error.
func sameAsDecodeJSON(t *testing.T, body string) {
	t.Helper()
	var want, got api.JobSpec
	wantErr := decodeJSON(httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(body)), &want)
	gotErr := decodeSpec(httptest.NewRequest("POST", "/v1/jobs", strings.NewReader(body)), &got)
	if (gotErr == nil) != (wantErr == nil) || gotErr != nil && gotErr.Error() != wantErr.Error() {
		t.Fatalf("body %q: decodeSpec error %v, decodeJSON error %v", body, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("body %q:\ndecodeSpec %#v\ndecodeJSON %#v", body, got, want)
	}
}

func TestDecodeSpec(t *testing.T) {
	env, _ := json.Marshal(os.Environ())
	for _, tt := range []struct{ name, body string }{
		{"plain", `{"command":["true"],"cwd":"/tmp","env":["A=1","B=2"]}`},
		{"this environment", `{"command":["true"],"cwd":"/tmp","env":` + string(env) + `}`},
		{"env first", `{"env":["A=1"],"command":["true"],"cwd":"/tmp"}`},
		{"spaces", " {\n\t\"env\" : [ \"A=1\" , \"B\" ] ,\r\n \"cwd\":\"/\" } \n"},
		{"no env", `{"command":["true"],"cwd":"/tmp","cores":2}`},
		{"empty env", `{"command":["true"],"env":[]}`},
		{"empty object", `{}`},
		{"env null", `{"command":["true"],"env":null}`},
		{"escaped env", `{"env":["Q=\"x\"","U=\u00e9\u2028","H=\u003ca\u003e","S=a\/b","T=\t"]}`},
		{"unicode env", `{"env":["NAME=Jürgen 東京","DEL=` + "\x7f" + `"]}`},
		{"invalid UTF-8", "{\"env\":[\"BAD=\xff\xfe\"]}"},
		{"control character", "{\"env\":[\"NL=a\nb\"]}"},
		{"bad escape", `{"env":["X=\q"]}`},
		{"not a string", `{"env":["A=1",2]}`},
		{"env twice", `{"env":["A=1"],"env":["B=2"]}`},
		{"Env", `{"env":["A=1"],"Env":["B=2"]}`},
		{"ENV alone", `{"ENV":["B=2"],"cwd":"/"}`},
		{"escaped key", `{"\u0065nv":["B=2"],"cwd":"/"}`},
		{"unknown field", `{"env":["A=1"],"bogus":1}`},
		{"unknown field after", `{"cwd":"/","bogus":{"a":[1,{"b":null}]}}`},
		{"wrong type", `{"env":["A=1"],"cores":"two"}`},
		{"number forms", `{"cores":1e1,"memory_bytes":-0,"walltime_seconds":12}`},
		{"nested values", `{"retry":{"attempts":3},"begin_time":"2030-01-01T00:00:00Z","labels":["a","b"],"hold":true,"exclusive":false}`},
		{"duplicate field", `{"cwd":"/a","env":["A"],"cwd":"/b"}`},
		{"trailing data", `{"env":["A=1"]} {}`},
		{"trailing comma", `{"env":["A=1"],}`},
		{"trailing comma in env", `{"env":["A=1",]}`},
		{"missing colon", `{"env" ["A=1"]}`},
		{"unterminated", `{"env":["A=1"`},
		{"unterminated string", `{"env":["A=1`},
		{"null", `null`},
		{"array", `[]`},
		{"empty", ``},
		{"deep", `{"retry":` + strings.Repeat(`[`, 100) + strings.Repeat(`]`, 100) + `}`},
		{"literal junk", `{"hold":tru}`},
		{"too large", `{"env":["` + strings.Repeat("x", api.MaxSpecBytes) + `"]}`},
	} {
		t.Run(tt.name, func(t *testing.T) { sameAsDecodeJSON(t, tt.body) })
	}
}

// TestQuickSpecTaken: the quick path takes a submission as gantry sub
// sends it (an environment, escapes and all).
func TestQuickSpecTaken(t *testing.T) {
	spec := api.JobSpec{Command: []string{"sh", "-c", "echo <$HOME>"}, Cwd: "/tmp", Env: append(os.Environ(), "Q=\"x\"", "U=é", "E="),
		Cores: 2, SubmitToken: "abc", Labels: []string{"gpu"}}
	body, _ := json.Marshal(spec)
	var got api.JobSpec
	if !quickSpec(body, &got) {
		t.Fatalf("quickSpec refused %s", body)
	}
	if !reflect.DeepEqual(got, spec) {
		t.Fatalf("quickSpec = %#v\nwant %#v", got, spec)
	}
}

// FuzzDecodeSpec: for any body, decodeSpec and decodeJSON agree.
func FuzzDecodeSpec(f *testing.F) {
	for _, seed := range []string{
		`{"command":["true"],"cwd":"/tmp","env":["A=1","B=2"]}`, `{"env":["Q=\"x\"","U=\u00e9"],"cores":2}`,
		`{"Env":[],"env":null}`, `{"retry":{"attempts":3},"hold":true}`, `{"env":["a"],"env":["b"]}`, `null`, ` {} `,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) { sameAsDecodeJSON(t, body) })
}

func BenchmarkDecodeSpec(b *testing.B) {
	body, _ := json.Marshal(api.JobSpec{Command: []string{"true"}, Cwd: "/tmp", Env: os.Environ(), Stdout: "/dev/null", SubmitToken: "0123456789abcdef0123456789abcdef"})
	for name, decode := range map[string]func(*http.Request, *api.JobSpec) error{
		"decodeJSON": func(r *http.Request, s *api.JobSpec) error { return decodeJSON(r, s) },
		"decodeSpec": decodeSpec,
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var spec api.JobSpec
				decode(httptest.NewRequest("POST", "/v1/jobs", bytes.NewReader(body)), &spec)
			}
		})
	}
}
