package depend

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Kind is a dependency condition.
type Kind string

const (
	// Done: the job succeeded.
	Done Kind = "done"
	// Ended: the job ended, whatever the outcome.
	Ended Kind = "ended"
	// Exit: the job ended unsuccessfully (or with an exit code matching
	// the comparison, when one is given).
	Exit Kind = "exit"
	// Started: the job has started (is running, or ran).
	Started Kind = "started"
)

// Expr is a parsed dependency expression.
type Expr interface {
	// String renders the expression in canonical form.
	String() string
}

// Cond is one condition on one job or a set of jobs named by a pattern.
type Cond struct {
	Kind Kind
	// ID is the job id, or 0 when the condition names jobs by Name.
	ID int64
	// Name is a job name, possibly with * wildcards.
	Name string
	// Op and Code compare the exit code in exit(); Op is "" for none.
	Op   string
	Code int
}

// Not, And and Or combine expressions.
type (
	Not struct{ X Expr }
	And struct{ L, R Expr }
	Or  struct{ L, R Expr }
)

func (c Cond) String() string {
	target := strconv.FormatInt(c.ID, 10)
	if c.ID == 0 {
		target = `"` + c.Name + `"` // names hold no quotes (see target)
	}
	if c.Op != "" {
		return fmt.Sprintf("%s(%s, %s %d)", c.Kind, target, c.Op, c.Code)
	}
	return fmt.Sprintf("%s(%s)", c.Kind, target)
}
func (n Not) String() string { return "!" + wrap(n.X) }
func (a And) String() string { return wrap(a.L) + " && " + wrap(a.R) }
func (o Or) String() string  { return wrap(o.L) + " || " + wrap(o.R) }

func wrap(e Expr) string {
	switch e.(type) {
	case And, Or:
		return "(" + e.String() + ")"
	}
	return e.String()
}

// maxExprLen and maxConds bound what Parse accepts.
const (
	maxExprLen = 4096
	maxConds   = 256
	maxDepth   = 64
)

// Parse parses a dependency expression. Errors name the offending text
// and its position.
func Parse(s string) (Expr, error) {
	if len(s) > maxExprLen {
		return nil, fmt.Errorf("dependency: longer than %d characters", maxExprLen)
	}
	p := &parser{src: s}
	p.next()
	e, err := p.or(0)
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		return nil, p.errorf("unexpected %q", p.tok.text)
	}
	return e, nil
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokWord
	tokString
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
	tokComma
	tokCmp
	tokBad
)

type token struct {
	kind tokKind
	text string
	pos  int
}

type parser struct {
	src   string
	pos   int
	tok   token
	conds int
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("dependency %q at offset %d: %s", p.src, p.tok.pos, fmt.Sprintf(format, args...))
}

// next scans the next token into p.tok.
func (p *parser) next() {
	for p.pos < len(p.src) && (p.src[p.pos] == ' ' || p.src[p.pos] == '\t') {
		p.pos++
	}
	start := p.pos
	if p.pos >= len(p.src) {
		p.tok = token{tokEOF, "", start}
		return
	}
	two := ""
	if p.pos+1 < len(p.src) {
		two = p.src[p.pos : p.pos+2]
	}
	switch {
	case two == "&&":
		p.pos += 2
		p.tok = token{tokAnd, two, start}
	case two == "||":
		p.pos += 2
		p.tok = token{tokOr, two, start}
	case two == "==" || two == "!=" || two == "<=" || two == ">=":
		p.pos += 2
		p.tok = token{tokCmp, two, start}
	case p.src[p.pos] == '<' || p.src[p.pos] == '>':
		p.pos++
		p.tok = token{tokCmp, p.src[start:p.pos], start}
	case p.src[p.pos] == '!':
		p.pos++
		p.tok = token{tokNot, "!", start}
	case p.src[p.pos] == '(':
		p.pos++
		p.tok = token{tokLParen, "(", start}
	case p.src[p.pos] == ')':
		p.pos++
		p.tok = token{tokRParen, ")", start}
	case p.src[p.pos] == ',':
		p.pos++
		p.tok = token{tokComma, ",", start}
	case p.src[p.pos] == '"' || p.src[p.pos] == '\'':
		q := p.src[p.pos]
		end := strings.IndexByte(p.src[p.pos+1:], q)
		if end < 0 {
			p.pos = len(p.src)
			p.tok = token{tokBad, p.src[start:], start}
			return
		}
		p.pos += end + 2
		p.tok = token{tokString, p.src[start+1 : p.pos-1], start}
	case isWordByte(p.src[p.pos]):
		for p.pos < len(p.src) && isWordByte(p.src[p.pos]) {
			p.pos++
		}
		p.tok = token{tokWord, p.src[start:p.pos], start}
	default:
		p.pos++
		p.tok = token{tokBad, p.src[start:p.pos], start}
	}
}

func isWordByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' ||
		b == '_' || b == '-' || b == '.' || b == '*' || b == '[' || b == ']' || b == ':' || b == '@' || b == '/' || b == '+'
}

func (p *parser) or(depth int) (Expr, error) {
	l, err := p.and(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokOr {
		p.next()
		r, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		l = Or{l, r}
	}
	return l, nil
}

func (p *parser) and(depth int) (Expr, error) {
	l, err := p.unary(depth)
	if err != nil {
		return nil, err
	}
	for p.tok.kind == tokAnd {
		p.next()
		r, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		l = And{l, r}
	}
	return l, nil
}

func (p *parser) unary(depth int) (Expr, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested deeper than %d", maxDepth)
	}
	switch p.tok.kind {
	case tokNot:
		p.next()
		x, err := p.unary(depth + 1)
		if err != nil {
			return nil, err
		}
		return Not{x}, nil
	case tokLParen:
		p.next()
		x, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		if p.tok.kind != tokRParen {
			return nil, p.errorf("missing )")
		}
		p.next()
		return x, nil
	case tokWord, tokString:
		return p.cond()
	case tokEOF:
		return nil, p.errorf("expression ends early: want a condition such as done(42)")
	}
	return nil, p.errorf("unexpected %q", p.tok.text)
}

// cond parses kind(target[, op code]) or a bare target (meaning done).
func (p *parser) cond() (Expr, error) {
	p.conds++
	if p.conds > maxConds {
		return nil, p.errorf("more than %d conditions", maxConds)
	}
	word := p.tok
	p.next()
	if word.kind == tokString || p.tok.kind != tokLParen {
		return target(Done, word, p)
	}
	kind := Kind(strings.ToLower(word.text))
	switch kind {
	case Done, Ended, Exit, Started:
	default:
		return nil, fmt.Errorf("dependency %q at offset %d: unknown condition %q (want done, ended, exit or started)", p.src, word.pos, word.text)
	}
	p.next() // (
	if p.tok.kind != tokWord && p.tok.kind != tokString {
		return nil, p.errorf("%s() wants a job id or name", kind)
	}
	t := p.tok
	p.next()
	c, err := target(kind, t, p)
	if err != nil {
		return nil, err
	}
	if p.tok.kind == tokComma {
		if kind != Exit {
			return nil, p.errorf("only exit() takes an exit code")
		}
		p.next()
		op := "=="
		if p.tok.kind == tokCmp {
			op = p.tok.text
			p.next()
		}
		if p.tok.kind != tokWord {
			return nil, p.errorf("exit() wants an exit code")
		}
		code, err := strconv.Atoi(p.tok.text)
		if err != nil || code < 0 || code > 255 {
			return nil, p.errorf("exit code %q: want 0 to 255", p.tok.text)
		}
		p.next()
		c.Op, c.Code = op, code
	}
	if p.tok.kind != tokRParen {
		return nil, p.errorf("missing ) after %s(%s", kind, t.text)
	}
	p.next()
	return c, nil
}

// target makes a condition on a job named by id or name.
func target(kind Kind, t token, p *parser) (Cond, error) {
	if t.kind == tokWord {
		if id, err := strconv.ParseInt(t.text, 10, 64); err == nil {
			if id <= 0 {
				return Cond{}, fmt.Errorf("dependency %q at offset %d: job id %d: want a positive integer", p.src, t.pos, id)
			}
			return Cond{Kind: kind, ID: id}, nil
		}
		if strings.ContainsAny(t.text, "[]") {
			return Cond{}, fmt.Errorf("dependency %q at offset %d: job %q: array elements are not supported yet", p.src, t.pos, t.text)
		}
	}
	if t.text == "" || len(t.text) > 256 || strings.ContainsAny(t.text, "\"'") || strings.IndexFunc(t.text, func(r rune) bool { return r < ' ' || r == 0x7f || r == utf8.RuneError }) >= 0 {
		return Cond{}, fmt.Errorf("dependency %q at offset %d: job name %q: want 1 to 256 printable characters without quotes", p.src, t.pos, t.text)
	}
	return Cond{Kind: kind, Name: t.text}, nil
}
