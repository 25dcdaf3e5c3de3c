package sim

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// ReportBins is the number of time bins of the report's time series.
const ReportBins = 240

// series is one replay's time series over the report's common bins.
type series struct {
	util  []float64 // busy processors / M, time-averaged per bin
	queue []float64 // waiting jobs, time-averaged per bin
}

// spread adds weight over [from, to) to bins of width w starting at t0,
// pro rata of the overlap with each bin (prefix-summed later: O(1) per
// interval).
func spread(acc []float64, t0 int64, w float64, from, to int64, weight float64) {
	if to <= from {
		return
	}
	a := float64(from-t0) / w
	b := float64(to-t0) / w
	ia, ib := int(a), int(b)
	n := len(acc) - 1 // acc has one extra slot for the difference array
	if ia >= n {
		ia = n - 1
	}
	if ib >= n {
		ib = n - 1
		b = float64(n)
	}
	if ia == ib {
		acc[ia] += weight * (b - a)
		acc[ia+1] -= weight * (b - a)
		return
	}
	// partial first bin, partial last bin, full bins between
	acc[ia] += weight * (float64(ia+1) - a)
	acc[ia+1] -= weight * (float64(ia+1) - a)
	acc[ia+1] += weight
	acc[ib] -= weight
	acc[ib] += weight * (b - float64(ib))
	acc[ib+1] -= weight * (b - float64(ib))
}

func buildSeries(res *Result, t0, t1 int64) series {
	w := float64(t1-t0) / ReportBins
	if w <= 0 {
		w = 1
	}
	u := make([]float64, ReportBins+1)
	q := make([]float64, ReportBins+1)
	for _, j := range res.Jobs {
		spread(u, t0, w, j.Start, j.End, float64(j.Procs)/float64(res.Procs))
		spread(q, t0, w, j.Submit, j.Start, 1)
	}
	for i := 1; i <= ReportBins; i++ {
		u[i] += u[i-1]
		q[i] += q[i-1]
	}
	return series{util: u[:ReportBins], queue: q[:ReportBins]}
}

// waitBuckets are the upper bounds (seconds, exclusive) of the wait-time
// histogram; the last bucket is open.
var waitBuckets = []struct {
	label string
	upTo  int64
}{
	{"0", 1}, {"< 1 min", 60}, {"< 10 min", 600}, {"< 1 h", 3600}, {"< 4 h", 4 * 3600},
	{"< 12 h", 12 * 3600}, {"< 1 d", 86400}, {">= 1 d", math.MaxInt64},
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// WriteReport writes a self-contained HTML page (inline SVG, no scripts)
// comparing the replays side by side: their summaries, utilization and
// queue length over time, and the distribution of wait times.
func WriteReport(w io.Writer, title string, runs []*Result) error {
	if len(runs) == 0 {
		return fmt.Errorf("report: no replays")
	}
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	for _, r := range runs {
		for _, j := range r.Jobs {
			t0, t1 = min(t0, j.Submit), max(t1, j.End)
		}
	}
	if t0 > t1 {
		t0, t1 = 0, 1
	}
	var names []string
	var util, queue [][]float64
	var hist [][]float64
	var sums []Summary
	for _, r := range runs {
		names = append(names, r.Config.Policy.String()+" / "+r.Config.Estimates.String())
		s := buildSeries(r, t0, t1)
		util = append(util, s.util)
		queue = append(queue, s.queue)
		h := make([]float64, len(waitBuckets))
		for _, j := range r.Jobs {
			for b, wb := range waitBuckets {
				if j.Wait() < wb.upTo {
					h[b]++
					break
				}
			}
		}
		for b := range h {
			h[b] /= float64(max(len(r.Jobs), 1))
		}
		hist = append(hist, h)
		sums = append(sums, r.Summarize())
	}
	days := float64(t1-t0) / 86400
	data := struct {
		Title     string
		Names     []string
		Colors    []string
		Summaries []Summary
		Util      template.HTML
		Queue     template.HTML
		Waits     template.HTML
	}{
		Title:     title,
		Names:     names,
		Colors:    palette,
		Summaries: sums,
		Util:      lineChart(names, util, days, 1, "fraction of processors busy", "%.0f%%", 100),
		Queue:     lineChart(names, queue, days, 0, "jobs waiting (time-averaged per bin)", "%.0f", 1),
		Waits:     barChart(names, hist),
	}
	return reportTemplate.Execute(w, data)
}

const (
	chartW, chartH = 900, 260
	padL, padR     = 60, 20
	padT, padB     = 15, 40
)

// lineChart draws one line per run over days on the x axis; yMax 0 means
// the data's maximum.
func lineChart(names []string, ys [][]float64, days, yMax float64, yLabel, tickFmt string, tickScale float64) template.HTML {
	if yMax == 0 {
		for _, y := range ys {
			for _, v := range y {
				yMax = max(yMax, v)
			}
		}
		yMax = niceCeil(yMax)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, chartW, chartH, chartW, chartH)
	axes(&b, days, yMax, yLabel, tickFmt, tickScale)
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	for k, y := range ys {
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.3" stroke-opacity="0.85" points="`, palette[k%len(palette)])
		for i, v := range y {
			x := padL + pw*(float64(i)+0.5)/float64(len(y))
			fmt.Fprintf(&b, "%.1f,%.1f ", x, padT+ph*(1-v/yMax))
		}
		b.WriteString(`"><title>` + template.HTMLEscapeString(names[k]) + `</title></polyline>`)
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func axes(b *strings.Builder, days, yMax float64, yLabel, tickFmt string, tickScale float64) {
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	fmt.Fprintf(b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="#fafafa" stroke="#999"/>`, padL, padT, pw, ph)
	for i := 0; i <= 4; i++ {
		v := yMax * float64(i) / 4
		y := padT + ph*(1-float64(i)/4)
		fmt.Fprintf(b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, padL+pw, y, y)
		fmt.Fprintf(b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11">`+tickFmt+`</text>`, padL-5, y+4, v*tickScale)
	}
	step := niceCeil(days / 8)
	if step <= 0 {
		step = 1
	}
	for d := 0.0; d <= days+1e-9; d += step {
		x := padL + pw*d/math.Max(days, 1e-9)
		fmt.Fprintf(b, `<line x1="%.1f" x2="%.1f" y1="%.0f" y2="%.0f" stroke="#999"/>`, x, x, padT+ph, padT+ph+4)
		fmt.Fprintf(b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="11">%g</text>`, x, padT+ph+16, d)
	}
	fmt.Fprintf(b, `<text x="%.0f" y="%d" text-anchor="middle" font-size="12">days from the first submission</text>`, padL+pw/2, chartH-6)
	fmt.Fprintf(b, `<text x="14" y="%.0f" text-anchor="middle" font-size="12" transform="rotate(-90 14 %.0f)">%s</text>`,
		padT+ph/2, padT+ph/2, template.HTMLEscapeString(yLabel))
}

// barChart draws the wait-time histogram, one bar per run in each bucket.
func barChart(names []string, hist [][]float64) template.HTML {
	yMax := 0.0
	for _, h := range hist {
		for _, v := range h {
			yMax = max(yMax, v)
		}
	}
	yMax = niceCeil(yMax)
	pw, ph := float64(chartW-padL-padR), float64(chartH-padT-padB)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.0f" height="%.0f" fill="#fafafa" stroke="#999"/>`, padL, padT, pw, ph)
	for i := 0; i <= 4; i++ {
		y := padT + ph*(1-float64(i)/4)
		fmt.Fprintf(&b, `<line x1="%d" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, padL, padL+pw, y, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" font-size="11">%.0f%%</text>`, padL-5, y+4, 100*yMax*float64(i)/4)
	}
	group := pw / float64(len(waitBuckets))
	bar := group * 0.8 / float64(max(len(hist), 1))
	for bi, wb := range waitBuckets {
		gx := padL + group*float64(bi) + group*0.1
		for k, h := range hist {
			hgt := ph * h[bi] / yMax
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s: %.1f%%</title></rect>`,
				gx+bar*float64(k), padT+ph-hgt, bar, hgt, palette[k%len(palette)], template.HTMLEscapeString(names[k]), 100*h[bi])
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" text-anchor="middle" font-size="11">%s</text>`, padL+group*(float64(bi)+0.5), padT+ph+16, wb.label)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%d" text-anchor="middle" font-size="12">wait time</text>`, padL+pw/2, chartH-6)
	fmt.Fprintf(&b, `<text x="14" y="%.0f" text-anchor="middle" font-size="12" transform="rotate(-90 14 %.0f)">share of jobs</text>`, padT+ph/2, padT+ph/2)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"color":  func(i int) string { return palette[i%len(palette)] },
	"pct":    func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"hours":  func(s float64) string { return fmt.Sprintf("%.2f h", s/3600) },
	"ihours": func(s int64) string { return fmt.Sprintf("%.1f h", float64(s)/3600) },
	"days":   func(s int64) string { return fmt.Sprintf("%.1f d", float64(s)/86400) },
	"f2":     func(f float64) string { return fmt.Sprintf("%.2f", f) },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:960px}
table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f0f0f0} td:first-child{text-align:left}
.key{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:middle}
h2{margin-top:1.6em;font-size:1.15em}
</style></head><body>
<h1>{{.Title}}</h1>
<p>Trace replay through Gantry's scheduling engine (<code>gantry sim</code>).</p>
<table>
<tr><th>policy / estimates</th><th>jobs</th><th>skipped</th><th>makespan</th><th>utilization</th><th>mean wait</th><th>max wait</th><th>mean bounded slowdown</th></tr>
{{range $i, $s := .Summaries}}<tr><td><span class="key" style="background:{{color $i}}"></span>{{$s.Policy}} / {{$s.Estimates}}</td><td>{{$s.Jobs}}</td><td>{{$s.Skipped.Total}}</td><td>{{days $s.MakespanSeconds}}</td><td>{{pct $s.Utilization}}</td><td>{{hours $s.MeanWaitSeconds}}</td><td>{{ihours $s.MaxWaitSeconds}}</td><td>{{f2 $s.MeanBoundedSlowdown}}</td></tr>
{{end}}</table>
<h2>Utilization over time</h2>
{{.Util}}
<h2>Queue length over time</h2>
{{.Queue}}
<h2>Wait-time distribution</h2>
{{.Waits}}
<p>{{range $i, $n := .Names}}<span class="key" style="background:{{color $i}}"></span>{{$n}} &nbsp; {{end}}</p>
</body></html>
`))
