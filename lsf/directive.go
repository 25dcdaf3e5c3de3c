package lsf

import (
	"fmt"
	"strings"
	"time"
)

// Directive is one #BSUB or #SBATCH line of a script, split into words.
type Directive struct {
	Line   int    // 1-based
	Prefix string // "#BSUB" or "#SBATCH"
	Args   []string
}

// DirectiveError is a bad directive line.
type DirectiveError struct {
	Line int
	Text string
	Msg  string
}

func (e *DirectiveError) Error() string {
	return fmt.Sprintf("line %d %q: %s", e.Line, e.Text, e.Msg)
}

// maxScript bounds the scripts read for directives.
const maxScript = 4 << 20

// ScanDirectives returns the #BSUB and #SBATCH lines of a job script.
// Like bsub and sbatch, it reads them from the top of the script and
// stops at the first line that is neither blank nor a comment.
func ScanDirectives(script string) ([]Directive, error) {
	if len(script) > maxScript {
		return nil, fmt.Errorf("script larger than %d bytes", maxScript)
	}
	var out []Directive
	for n, line := range strings.Split(script, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if !strings.HasPrefix(t, "#") {
			break
		}
		for _, prefix := range []string{"#BSUB", "#SBATCH"} {
			rest, ok := strings.CutPrefix(t, prefix)
			if !ok || rest != "" && !isSpace(rest[0]) {
				continue
			}
			words, err := SplitWords(rest)
			if err != nil {
				return nil, &DirectiveError{Line: n + 1, Text: t, Msg: err.Error()}
			}
			if len(words) > 0 {
				out = append(out, Directive{Line: n + 1, Prefix: prefix, Args: words})
			}
		}
	}
	return out, nil
}

// SplitWords splits a directive's text into words as a shell would:
// single quotes, double quotes with backslash escapes, backslashes. An
// unquoted # after a blank starts a comment.
func SplitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case isSpace(c):
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words, nil
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte(`"\$`+"`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, fmt.Errorf("unterminated double quote")
			}
			inWord = true
		case c == '\\':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// ScriptOptions reads a script's directives into bsub options: #SBATCH
// lines translated first, then #BSUB lines over them (each option given
// later replaces an earlier one; -R accumulates). The command line goes
// over the result (Options.Override). Warnings name the sbatch options
// that were accepted but have no effect.
func ScriptOptions(script string, now time.Time) (Options, []string, error) {
	dirs, err := ScanDirectives(script)
	if err != nil {
		return nil, nil, err
	}
	var sbatch, bsub []string
	var bsubLine []int
	for _, d := range dirs {
		if d.Prefix == "#BSUB" {
			for range d.Args {
				bsubLine = append(bsubLine, d.Line)
			}
		}
		if d.Prefix == "#SBATCH" {
			sbatch = append(sbatch, d.Args...)
		} else {
			bsub = append(bsub, d.Args...)
		}
	}
	opts := Options{}
	var warnings []string
	if len(sbatch) > 0 {
		o, w, err := TranslateSbatch(sbatch, now)
		if err != nil {
			return nil, nil, fmt.Errorf("#SBATCH: %w", err)
		}
		opts, warnings = o, w
	}
	if len(bsub) > 0 {
		o, rest, err := ParseBsubArgs(bsub)
		if err != nil {
			return nil, nil, fmt.Errorf("#BSUB: %w", err)
		}
		if len(rest) > 0 {
			line := bsubLine[len(bsub)-len(rest)]
			return nil, nil, &DirectiveError{Line: line, Text: "#BSUB " + strings.Join(rest, " "), Msg: fmt.Sprintf("%q is not a bsub option", rest[0])}
		}
		for k, v := range o {
			if bsubOptions[k].repeat {
				opts[k] = append(opts[k], v...)
			} else {
				opts[k] = v
			}
		}
	}
	return opts, warnings, nil
}
