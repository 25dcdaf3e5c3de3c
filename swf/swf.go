package swf

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// NumFields is the number of fields of a job record.
const NumFields = 18

// Job is one record. Missing values are -1, as in the file.
type Job struct {
	Number         int64   // field 1: job number
	Submit         int64   // field 2: submit time, seconds from the log's start
	Wait           int64   // field 3: wait time, seconds
	RunTime        int64   // field 4: run time, seconds
	AllocProcs     int64   // field 5: allocated processors
	AvgCPU         float64 // field 6: average CPU time used, seconds
	UsedMemory     float64 // field 7: used memory, KB per processor
	ReqProcs       int64   // field 8: requested processors
	ReqTime        int64   // field 9: requested time, seconds
	ReqMemory      float64 // field 10: requested memory, KB per processor
	Status         int64   // field 11: 1 completed, 0 failed, 5 cancelled, ...
	User           int64   // field 12
	Group          int64   // field 13
	App            int64   // field 14: executable number
	Queue          int64   // field 15
	Partition      int64   // field 16
	PrecedingJob   int64   // field 17
	ThinkTime      int64   // field 18
	Line           int     // line number in the file, from 1
	ExtraFieldsLen int     // fields beyond the 18th, ignored
}

// Header holds what the replayer needs from the header comments, and the
// comments themselves.
type Header struct {
	MaxProcs int64 // "; MaxProcs: N", 0 if absent
	MaxNodes int64 // "; MaxNodes: N", 0 if absent
	Comments []string
}

// Log is a whole file.
type Log struct {
	Header Header
	Jobs   []Job
}

// ParseError is a malformed line.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("swf line %d: %s", e.Line, e.Msg) }

// Open reads the log in path (gzipped or not), keeping at most limit
// records (0: all).
func Open(path string, limit int) (*Log, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open swf: %w", err)
	}
	defer f.Close()
	l, err := Read(f, limit)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return l, nil
}

// Read parses a log from r, gunzipping it if it starts with gzip's magic
// number, and keeps at most limit records (0: all). Comment lines after
// the first record still count for the header.
func Read(r io.Reader, limit int) (*Log, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		br = bufio.NewReaderSize(zr, 1<<16)
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	log := &Log{}
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		if text[0] == ';' {
			log.Header.parseComment(string(text[1:]))
			continue
		}
		if limit > 0 && len(log.Jobs) >= limit {
			break
		}
		j, err := parseJob(text, line)
		if err != nil {
			return nil, err
		}
		log.Jobs = append(log.Jobs, j)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	return log, nil
}

func (h *Header) parseComment(c string) {
	c = strings.TrimSpace(c)
	h.Comments = append(h.Comments, c)
	key, val, ok := strings.Cut(c, ":")
	if !ok {
		return
	}
	n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
	if err != nil || n < 0 {
		return
	}
	switch strings.TrimSpace(key) {
	case "MaxProcs":
		h.MaxProcs = n
	case "MaxNodes":
		h.MaxNodes = n
	}
}

// parseJob parses one record's fields. Integer fields written as decimals
// (some logs do) are truncated.
func parseJob(text []byte, line int) (Job, error) {
	var f [NumFields]float64
	n := 0
	extra := 0
	for len(text) > 0 {
		i := bytes.IndexAny(text, " \t\r\v\f")
		tok := text
		if i >= 0 {
			tok, text = text[:i], bytes.TrimLeft(text[i:], " \t\r\v\f")
		} else {
			text = nil
		}
		if n == NumFields {
			extra++
			continue
		}
		v, err := number(tok)
		if err != nil {
			return Job{}, &ParseError{Line: line, Msg: fmt.Sprintf("field %d %q: %v", n+1, tok, err)}
		}
		f[n] = v
		n++
	}
	if n < NumFields {
		return Job{}, &ParseError{Line: line, Msg: fmt.Sprintf("%d fields, want %d", n, NumFields)}
	}
	i := func(k int) int64 { return int64(f[k-1]) }
	return Job{
		Number: i(1), Submit: i(2), Wait: i(3), RunTime: i(4), AllocProcs: i(5),
		AvgCPU: f[5], UsedMemory: f[6], ReqProcs: i(8), ReqTime: i(9), ReqMemory: f[9],
		Status: i(11), User: i(12), Group: i(13), App: i(14), Queue: i(15), Partition: i(16),
		PrecedingJob: i(17), ThinkTime: i(18), Line: line, ExtraFieldsLen: extra,
	}, nil
}

// maxValue bounds every field, so that sums of times stay far from
// overflow (2^52 s is over a hundred million years).
const maxValue = 1 << 52

func number(tok []byte) (float64, error) {
	if v, err := strconv.ParseInt(string(tok), 10, 64); err == nil {
		if v > maxValue || v < -maxValue {
			return 0, fmt.Errorf("out of range")
		}
		return float64(v), nil
	}
	v, err := strconv.ParseFloat(string(tok), 64)
	if err != nil {
		return 0, fmt.Errorf("not a number")
	}
	if math.IsNaN(v) || v > maxValue || v < -maxValue {
		return 0, fmt.Errorf("out of range")
	}
	return v, nil
}
