package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/gantry-hpc/gantry/api"
)

// decodeSpec is decodeJSON for a submitted job spec, with a quicker path
// for its bulk: the environment, tens of strings that make most of a
// submission's bytes, which encoding/json scans twice and decodes one
// reflected element at a time. The quick path (quickSpec) takes only
// what it fully understands: an object whose "env", given once, is an
// array of strings, and whose keys are plain ASCII; it decodes the other
// members with encoding/json (rejecting unknown fields) from a copy of
// the object without "env". Anything else, and any error, goes the whole
// way through decodeJSON, so what is accepted, and the error that names
// what is wrong, are exactly decodeJSON's.
func decodeSpec(r *http.Request, spec *api.JobSpec) error {
	buf := bodyBufs.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledBody {
			buf.Reset()
			bodyBufs.Put(buf)
		}
	}()
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, api.MaxSpecBytes)); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return fmt.Errorf("request body larger than %d bytes", mbe.Limit)
		}
		return fmt.Errorf("request body: %w", err)
	}
	if quickSpec(buf.Bytes(), spec) {
		return nil
	}
	return decodeJSONFrom(bytes.NewReader(buf.Bytes()), spec)
}

// bodyBufs holds request-body buffers for decodeSpec; those grown past
// maxPooledBody are dropped.
var bodyBufs = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooledBody = 64 << 10

// quickSpec decodes body into spec if it can (see decodeSpec) and
// reports whether it did; spec is untouched when it did not.
func quickSpec(body []byte, spec *api.JobSpec) bool {
	p := jsonScan{b: body}
	p.space()
	if !p.eat('{') {
		return false
	}
	rest := make([]byte, 0, 512)
	rest = append(rest, '{')
	var env []string
	seenEnv := false
	members := p.list('}', func() bool {
		start := p.i
		key, ok := p.plainString()
		if !ok {
			return false
		}
		end := p.i
		if !p.colon() {
			return false
		}
		switch {
		case key == "env" && !seenEnv:
			seenEnv = true
			env, ok = p.stringArray()
			return ok
		case strings.EqualFold(key, "env"): // again, or another spelling
			return false
		}
		v := p.i
		if !p.skipValue(0) {
			return false
		}
		if len(rest) > 1 {
			rest = append(rest, ',')
		}
		rest = append(rest, body[start:end]...)
		rest = append(rest, ':')
		rest = append(rest, body[v:p.i]...)
		return true
	})
	p.space()
	if !members || p.i != len(body) {
		return false
	}
	rest = append(rest, '}')
	var s api.JobSpec
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if dec.Decode(&s) != nil {
		return false
	}
	s.Env = env
	*spec = s
	return true
}

// jsonScan walks JSON text for quickSpec. Its methods advance i past
// what they read and report false on anything they do not take.
type jsonScan struct {
	b []byte
	i int
}

func (p *jsonScan) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *jsonScan) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// list reads the rest of an array or object whose opening bracket has
// been read: items, each read by item, separated by commas, then closer.
func (p *jsonScan) list(closer byte, item func() bool) bool {
	p.space()
	if p.eat(closer) {
		return true
	}
	for {
		p.space()
		if !item() {
			return false
		}
		p.space()
		if !p.eat(',') {
			return p.eat(closer)
		}
	}
}

// colon reads the colon after an object's key, and the spaces around it.
func (p *jsonScan) colon() bool {
	p.space()
	ok := p.eat(':')
	p.space()
	return ok
}

// plainString reads a string of printable ASCII without escapes.
func (p *jsonScan) plainString() (string, bool) {
	if !p.eat('"') {
		return "", false
	}
	start := p.i
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			p.i++
			return string(p.b[start : p.i-1]), true
		case c < 0x20 || c >= 0x7f || c == '\\':
			return "", false
		}
	}
	return "", false
}

// stringArray reads an array of strings. The plain ones (printable ASCII
// without escapes) share one copy of the array's text; the others are
// decoded one by one by encoding/json.
func (p *jsonScan) stringArray() ([]string, bool) {
	if !p.eat('[') {
		return nil, false
	}
	type span struct {
		start, end int
		plain      bool
	}
	spans := make([]span, 0, 64)
	base := p.i
	ok := p.list(']', func() bool {
		start := p.i
		plain, ok := p.skipString()
		spans = append(spans, span{start, p.i, plain})
		return ok
	})
	if !ok {
		return nil, false
	}
	text := string(p.b[base:p.i])
	out := make([]string, len(spans))
	for k, s := range spans {
		if s.plain {
			out[k] = text[s.start-base+1 : s.end-base-1] // without its quotes
		} else if json.Unmarshal(p.b[s.start:s.end], &out[k]) != nil {
			return nil, false
		}
	}
	return out, true
}

// skipString moves past a string and reports whether it is plain
// (printable ASCII without escapes). Its escapes are checked later, by
// whoever decodes it.
func (p *jsonScan) skipString() (plain, ok bool) {
	if !p.eat('"') {
		return false, false
	}
	plain = true
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return plain, true
		case c == '\\':
			plain = false
			p.i++ // the escaped character: never the closing quote
		case c < 0x20:
			return false, false
		case c >= 0x7f:
			plain = false
		}
	}
	return false, false
}

// maxDepth bounds the nesting skipValue follows.
const maxDepth = 64

// skipValue moves past one value. It checks the structure only as far as
// finding its end needs: what it skips is decoded, and so checked, by
// encoding/json.
func (p *jsonScan) skipValue(depth int) bool {
	if p.i >= len(p.b) || depth > maxDepth {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		_, ok := p.skipString()
		return ok
	case c == '{' || c == '[':
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		p.i++
		return p.list(closer, func() bool {
			if c == '{' {
				if _, ok := p.skipString(); !ok || !p.colon() {
					return false
				}
			}
			return p.skipValue(depth + 1)
		})
	case c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z':
		// A number or a literal (true, false, null): its characters.
		start := p.i
		for p.i < len(p.b) {
			c := p.b[p.i]
			if c == '-' || c == '+' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c == 'E' {
				p.i++
				continue
			}
			break
		}
		return p.i > start
	}
	return false
}
