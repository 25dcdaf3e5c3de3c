package sim

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"
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
	// With a node specification (Config.Nodes): the cluster, its GPUs,
	// and the figures of GPU jobs and gangs.
	Nodes            string  `json:"nodes,omitempty"`
	GPUs             int     `json:"gpus,omitempty"`
	GPUJobs          int     `json:"gpu_jobs,omitempty"`
	GangJobs         int     `json:"gang_jobs,omitempty"`
	GPUUtilization   float64 `json:"gpu_utilization,omitempty"`
	MeanWaitGPUJobs  float64 `json:"mean_wait_gpu_jobs_s,omitempty"`
	MeanWaitCPUJobs  float64 `json:"mean_wait_cpu_jobs_s,omitempty"`
	MeanWaitGangJobs float64 `json:"mean_wait_gang_jobs_s,omitempty"`
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
	if len(res.Config.Nodes) > 0 {
		var specs []string
		for _, t := range res.Config.Nodes {
			specs = append(specs, t.String())
		}
		s.Nodes = strings.Join(specs, ",")
		s.GPUs = res.GPUs
		var gpuWork, gw, cw, kw float64
		for _, j := range res.Jobs {
			switch {
			case j.GPUs > 0:
				s.GPUJobs++
				gpuWork += float64(j.GPUs) * float64(j.Run)
				gw += float64(j.Wait())
			default:
				cw += float64(j.Wait())
			}
			if j.Nodes > 1 {
				s.GangJobs++
				kw += float64(j.Wait())
			}
		}
		if s.GPUJobs > 0 {
			s.MeanWaitGPUJobs = gw / float64(s.GPUJobs)
		}
		if cpu := len(res.Jobs) - s.GPUJobs; cpu > 0 {
			s.MeanWaitCPUJobs = cw / float64(cpu)
		}
		if s.GangJobs > 0 {
			s.MeanWaitGangJobs = kw / float64(s.GangJobs)
		}
		s.GPUUtilization = gpuWork // divided by GPUs × makespan below
	}
	s.MakespanSeconds = last - first
	if s.GPUs > 0 && s.MakespanSeconds > 0 {
		s.GPUUtilization /= float64(s.GPUs) * float64(s.MakespanSeconds)
	}
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
