package lsf

import (
	"fmt"
	"strconv"
	"strings"
)

// Expr is a node of a selection expression (select[] of -R): comparisons
// of resources and load indices with values, combined with && || ! and
// arithmetic, as in "type==X86_64 && mem>4GB || defined(gpu)".
type Expr interface {
	String() string
	prec() int
}

// Binary is L Op R; Op is one of || && == != > >= < <= + - * /.
type Binary struct {
	Op   string
	L, R Expr
}

// Not is !X.
type Not struct{ X Expr }

// Neg is -X.
type Neg struct{ X Expr }

// Ident is a resource name or a bare string value (type, LINUX86).
type Ident struct{ Name string }

// Number is a number, optionally with a memory unit ("4GB").
type Number struct{ Text string }

// Quoted is a quoted string value.
type Quoted struct{ Val string }

// Call is a function call such as defined(gpu).
type Call struct {
	Fn  string
	Arg string
}

var precOf = map[string]int{"||": 1, "&&": 2, "==": 4, "!=": 4, ">": 4, ">=": 4, "<": 4, "<=": 4, "+": 5, "-": 5, "*": 6, "/": 6}

func (b *Binary) prec() int { return precOf[b.Op] }
func (*Not) prec() int      { return 3 }
func (*Neg) prec() int      { return 7 }
func (*Ident) prec() int    { return 9 }
func (*Number) prec() int   { return 9 }
func (*Quoted) prec() int   { return 9 }
func (*Call) prec() int     { return 9 }

func paren(e Expr, min int) string {
	if e.prec() < min {
		return "(" + e.String() + ")"
	}
	return e.String()
}

func (b *Binary) String() string {
	p := b.prec()
	// Left-associative: the right side needs parentheses at equal
	// precedence; comparisons do not chain.
	lmin, rmin := p, p+1
	if p == 4 {
		lmin = p + 1
	}
	return paren(b.L, lmin) + " " + b.Op + " " + paren(b.R, rmin)
}
func (n *Not) String() string    { return "!" + paren(n.X, 3) }
func (n *Neg) String() string    { return "-" + paren(n.X, 7) }
func (i *Ident) String() string  { return i.Name }
func (n *Number) String() string { return n.Text }
func (q *Quoted) String() string { return `"` + q.Val + `"` }
func (c *Call) String() string   { return c.Fn + "(" + c.Arg + ")" }

type token struct {
	kind string // "op", "ident", "num", "str", "(", ")", "eof"
	text string
	pos  int
}

type selParser struct {
	in    string
	toks  []token
	i     int
	depth int
}

// parseSelect parses in[from:to] as a selection expression; errors carry
// offsets into in.
func parseSelect(in string, from, to int) (Expr, error) {
	p := &selParser{in: in}
	if err := p.lex(from, to); err != nil {
		return nil, err
	}
	if p.toks[0].kind == "eof" {
		return nil, &ResReqError{Input: in, Pos: from, Msg: "empty selection string"}
	}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != "eof" {
		return nil, p.errAt(t, fmt.Sprintf("unexpected %q", t.text))
	}
	return e, nil
}

func (p *selParser) errAt(t token, msg string) error {
	return &ResReqError{Input: p.in, Pos: t.pos, Msg: msg}
}

var twoCharOps = []string{"&&", "||", "==", "!=", ">=", "<="}

func (p *selParser) lex(from, to int) error {
	s := p.in
	i := from
	for i < to {
		c := s[i]
		switch {
		case isSpace(c):
			i++
		case c == '(' || c == ')':
			p.toks = append(p.toks, token{string(c), string(c), i})
			i++
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:to], c)
			if j < 0 {
				return &ResReqError{Input: s, Pos: i, Msg: "unterminated quoted string"}
			}
			p.toks = append(p.toks, token{"str", s[i+1 : i+1+j], i})
			i += j + 2
		case c >= '0' && c <= '9' || c == '.':
			j := i
			for j < to && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
				j++
			}
			k := j
			for k < to && isWordStart(s[k]) {
				k++
			}
			num, unit := s[i:j], strings.ToUpper(s[j:k])
			if _, err := strconv.ParseFloat(num, 64); err != nil {
				return &ResReqError{Input: s, Pos: i, Msg: fmt.Sprintf("bad number %q", s[i:k])}
			}
			if !rusageUnits[unit] {
				return &ResReqError{Input: s, Pos: i, Msg: fmt.Sprintf("bad number %q: unknown unit %q (want KB, MB, GB or TB)", s[i:k], s[j:k])}
			}
			p.toks = append(p.toks, token{"num", num + unit, i})
			i = k
		case isWordStart(c):
			j := i
			for j < to && (isWordChar(s[j]) || s[j] == '.' || (s[j] == '-' && j+1 < to && isWordChar(s[j+1]))) {
				j++
			}
			w := s[i:j]
			switch strings.ToLower(w) {
			case "and":
				p.toks = append(p.toks, token{"op", "&&", i})
			case "or":
				p.toks = append(p.toks, token{"op", "||", i})
			case "not":
				p.toks = append(p.toks, token{"op", "!", i})
			default:
				p.toks = append(p.toks, token{"ident", w, i})
			}
			i = j
		default:
			op := ""
			for _, o := range twoCharOps {
				if strings.HasPrefix(s[i:to], o) {
					op = o
					break
				}
			}
			if op == "" && strings.ContainsRune("=<>!+-*/", rune(c)) {
				op = string(c)
			}
			if op == "" {
				return &ResReqError{Input: s, Pos: i, Msg: fmt.Sprintf("unexpected character %q", c)}
			}
			adv := len(op)
			if op == "=" {
				op = "==" // LSF accepts = for ==
			}
			p.toks = append(p.toks, token{"op", op, i})
			i += adv
		}
	}
	p.toks = append(p.toks, token{"eof", "end of string", to})
	return nil
}

func (p *selParser) peek() token { return p.toks[p.i] }
func (p *selParser) next() token { t := p.toks[p.i]; p.i++; return t }

func (p *selParser) isOp(ops ...string) (string, bool) {
	t := p.peek()
	if t.kind != "op" {
		return "", false
	}
	for _, o := range ops {
		if t.text == o {
			return o, true
		}
	}
	return "", false
}

func (p *selParser) enter() error {
	p.depth++
	if p.depth > maxDepth {
		return p.errAt(p.peek(), "expression nested too deeply")
	}
	return nil
}

func (p *selParser) binary(sub func() (Expr, error), ops ...string) (Expr, error) {
	l, err := sub()
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.isOp(ops...)
		if !ok {
			return l, nil
		}
		p.next()
		r, err := sub()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: op, L: l, R: r}
	}
}

func (p *selParser) or() (Expr, error)  { return p.binary(p.and, "||") }
func (p *selParser) and() (Expr, error) { return p.binary(p.not, "&&") }

func (p *selParser) not() (Expr, error) {
	if _, ok := p.isOp("!"); ok {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return &Not{X: x}, nil
	}
	return p.cmp()
}

func (p *selParser) cmp() (Expr, error) {
	l, err := p.sum()
	if err != nil {
		return nil, err
	}
	if op, ok := p.isOp("==", "!=", ">", ">=", "<", "<="); ok {
		p.next()
		r, err := p.sum()
		if err != nil {
			return nil, err
		}
		l = &Binary{Op: op, L: l, R: r}
		if t := p.peek(); t.kind == "op" && precOf[t.text] == 4 {
			return nil, p.errAt(t, fmt.Sprintf("comparisons do not chain: %q after a comparison", t.text))
		}
	}
	return l, nil
}

func (p *selParser) sum() (Expr, error)  { return p.binary(p.term, "+", "-") }
func (p *selParser) term() (Expr, error) { return p.binary(p.unary, "*", "/") }

func (p *selParser) unary() (Expr, error) {
	if _, ok := p.isOp("-"); ok {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &Neg{X: x}, nil
	}
	return p.primary()
}

func (p *selParser) primary() (Expr, error) {
	t := p.next()
	switch t.kind {
	case "num":
		return &Number{Text: t.text}, nil
	case "str":
		for _, c := range []byte(t.text) {
			if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' {
				return nil, p.errAt(t, fmt.Sprintf("quoted string %q: only printable ASCII without quotes or backslashes", t.text))
			}
		}
		return &Quoted{Val: t.text}, nil
	case "ident":
		if p.peek().kind == "(" {
			p.next()
			arg := p.next()
			if arg.kind != "ident" {
				return nil, p.errAt(arg, fmt.Sprintf("%s(): want a resource name, got %q", t.text, arg.text))
			}
			if c := p.next(); c.kind != ")" {
				return nil, p.errAt(c, fmt.Sprintf("%s(%s: missing ')'", t.text, arg.text))
			}
			if t.text != "defined" {
				return nil, p.errAt(t, fmt.Sprintf("unknown function %s() (want defined())", t.text))
			}
			return &Call{Fn: t.text, Arg: arg.text}, nil
		}
		return &Ident{Name: t.text}, nil
	case "(":
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != ")" {
			return nil, p.errAt(c, "missing ')'")
		}
		return e, nil
	case "eof":
		return nil, p.errAt(t, "expression ends too early")
	}
	return nil, p.errAt(t, fmt.Sprintf("unexpected %q", t.text))
}

// builtinResources are LSF's own resource and load index names: a select[]
// term on them is recorded, not enforced (Gantry nodes have no such
// labels, and enforcing "type==X86_64" would keep every job off every
// node).
var builtinResources = map[string]bool{
	"type": true, "model": true, "hname": true, "status": true, "server": true, "rexpri": true, "cpuf": true,
	"mem": true, "swp": true, "tmp": true, "maxmem": true, "maxswp": true, "maxtmp": true, "ncpus": true,
	"ndisks": true, "nprocs": true, "ncores": true, "nthreads": true, "slots": true, "maxslots": true,
	"r15s": true, "r1m": true, "r15m": true, "ut": true, "pg": true, "io": true, "ls": true, "it": true,
	"ngpus": true, "ngpus_physical": true, "gpu": true, "any": true, "local": true,
}

// Labels returns the node labels the selection requires, as Gantry
// enforces them: the terms of its top-level conjunction that are
// "defined(KEY)" or a bare KEY (a label KEY with any value) or
// "KEY==VALUE" (the label KEY=VALUE), KEY not one of LSF's built-in
// resources. Other terms (comparisons of load indices, alternatives
// with ||, negations) are recorded only.
func Labels(e Expr) []string {
	var out []string
	var walk func(Expr)
	walk = func(e Expr) {
		switch x := e.(type) {
		case *Binary:
			switch x.Op {
			case "&&":
				walk(x.L)
				walk(x.R)
			case "==":
				k, ok := x.L.(*Ident)
				if !ok || builtinResources[k.Name] {
					return
				}
				switch v := x.R.(type) {
				case *Ident:
					out = append(out, k.Name+"="+v.Name)
				case *Quoted:
					out = append(out, k.Name+"="+v.Val)
				case *Number:
					out = append(out, k.Name+"="+v.Text)
				}
			}
		case *Call:
			if x.Fn == "defined" && !builtinResources[x.Arg] {
				out = append(out, x.Arg)
			}
		case *Ident:
			if !builtinResources[x.Name] {
				out = append(out, x.Name)
			}
		}
	}
	if e != nil {
		walk(e)
	}
	return out
}
