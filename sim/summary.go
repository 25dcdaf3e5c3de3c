package sim

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
)

// Summary is a replay's figures, as gantry sim --summary writes them.
type Summary struct {
	Trace               string  `json:"trace,omitempty"`
	Policy              string  `json:"policy"`
	Estimates           string  `json:"estimates"`
	Procs               int     `json:"procs"`
	Records             int     `json:"records"`
	Jobs                int     `json:"jobs"`
	Skipped             Skipped `json:"skipped"`
	MakespanSeconds     int64   `json:"makespan_s"`
	Utilization         float64 `json:"utilization"`
	MeanWaitSeconds     float64 `json:"mean_wait_s"`
	MaxWaitSeconds      int64   `json:"max_wait_s"`
	MeanBoundedSlowdown float64 `json:"mean_bounded_slowdown"`
}

// BoundedSlowdownThreshold is the run time below which slowdown is taken
// relative to this many seconds instead.
const BoundedSlowdownThreshold = 10

// Summarize computes res's figures.
func (res *Result) Summarize() Summary {
	s := Summary{
		Policy:    res.Config.Policy.String(),
		Estimates: res.Config.Estimates.String(),
		Procs:     res.Procs,
		Records:   res.Records,
		Jobs:      len(res.Jobs),
		Skipped:   res.Skipped,
	}
	if len(res.Jobs) == 0 {
		return s
	}
	first, last := res.Jobs[0].Submit, res.Jobs[0].End
	var work, wait, bsld float64
	for _, j := range res.Jobs {
		first, last = min(first, j.Submit), max(last, j.End)
		work += float64(j.Procs) * float64(j.Run)
		w := j.Wait()
		wait += float64(w)
		s.MaxWaitSeconds = max(s.MaxWaitSeconds, w)
		bsld += max(1, float64(w+j.Run)/float64(max(j.Run, BoundedSlowdownThreshold)))
	}
	n := float64(len(res.Jobs))
	s.MakespanSeconds = last - first
	if s.MakespanSeconds > 0 {
		s.Utilization = work / (float64(res.Procs) * float64(s.MakespanSeconds))
	}
	s.MeanWaitSeconds = wait / n
	s.MeanBoundedSlowdown = bsld / n
	return s
}

// WriteSummary writes s as indented JSON.
func WriteSummary(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}

// WriteCSV writes one line per job: job_id,submit,start,end,procs.
func WriteCSV(w io.Writer, jobs []Job) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("job_id,submit,start,end,procs\n")
	var buf []byte
	for _, j := range jobs {
		buf = strconv.AppendInt(buf[:0], j.ID, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, j.Submit, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, j.Start, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, j.End, 10)
		buf = append(buf, ',')
		buf = strconv.AppendInt(buf, int64(j.Procs), 10)
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return bw.Flush()
}
