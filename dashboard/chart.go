package dashboard

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// The weekly decisions chart is an SVG stacked bar chart drawn on the
// server: one bar per week, approvals at the bottom, declines stacked above
// by reason. Geometry is computed here; the template only prints numbers.

const (
	chartH                           = 260.0
	padLeft, padRight, padTop, padBo = 40.0, 8.0, 10.0, 30.0
	maxReasons                       = 7 // more decline reasons are drawn as "other"
	// The page draws the chart twice: all weeks for wide screens, the last
	// compactWeeks for phones (CSS shows one), so labels stay legible
	// without a script.
	wideW, compactW = 960.0, 420.0
	compactWeeks    = 6
)

var (
	colorApproved = "#2e7d32"
	declineColors = []string{"#c62828", "#ef6c00", "#6a1b9a", "#ad1457", "#00838f", "#9e9d24", "#5d4037"}
	colorOther    = "#78909c"
)

type series struct {
	Name  string
	Color string
	Total int
}

type segment struct {
	X, Y, W, H float64
	Color      string
	Title      string
}

type tick struct {
	Y     float64
	Label string
}

type xLabel struct {
	X     float64
	Label string
}

type chart struct {
	Class    string
	FontSize int
	W, H     float64
	PlotX    float64
	PlotW    float64
	BaseY    float64
	Segments []segment
	Ticks    []tick
	XLabels  []xLabel
	Legend   []series
	Empty    bool
	Summary  string // a text alternative for screen readers
}

// niceMax rounds a count up to 1, 2 or 5 × 10ⁿ (at least 1).
func niceMax(v int) int {
	if v <= 1 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(float64(v))))
	for _, m := range []float64{1, 2, 5, 10} {
		if float64(v) <= m*p {
			return int(m * p)
		}
	}
	return int(10 * p)
}

func weeksChart(weeks []Week, class string, width float64, fontSize int) chart {
	c := chart{Class: class, FontSize: fontSize, W: width, H: chartH, PlotX: padLeft, PlotW: width - padLeft - padRight, BaseY: chartH - padBo}
	// Decline reasons by total, largest first; past maxReasons → other.
	totals := map[string]int{}
	maxTotal, all := 0, 0
	approved := 0
	for _, w := range weeks {
		for k, v := range w.Declined {
			totals[k] += v
		}
		approved += w.Approved
		maxTotal = max(maxTotal, w.Total())
		all += w.Total()
	}
	reasons := make([]string, 0, len(totals))
	for k := range totals {
		reasons = append(reasons, k)
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if totals[a] != totals[b] {
			return totals[b] - totals[a]
		}
		return strings.Compare(a, b)
	})
	color := map[string]string{}
	c.Legend = append(c.Legend, series{"approved", colorApproved, approved})
	other := 0
	for i, r := range reasons {
		if i < maxReasons {
			color[r] = declineColors[i]
			c.Legend = append(c.Legend, series{"declined: " + r, declineColors[i], totals[r]})
		} else {
			color[r] = colorOther
			other += totals[r]
		}
	}
	if other > 0 {
		c.Legend = append(c.Legend, series{"declined: other reasons", colorOther, other})
	}
	c.Empty = all == 0
	top := niceMax(maxTotal)
	plotH := c.BaseY - padTop
	step := top
	switch {
	case top%5 == 0:
		step = top / 5
	case top%2 == 0:
		step = top / 2
	}
	for v := 0; v <= top; v += step {
		c.Ticks = append(c.Ticks, tick{Y: c.BaseY - plotH*float64(v)/float64(top), Label: strconv.Itoa(v)})
	}
	n := max(len(weeks), 1)
	slot := c.PlotW / float64(n)
	bw := slot * 0.7
	for i, w := range weeks {
		x := c.PlotX + slot*float64(i) + (slot-bw)/2
		y := c.BaseY
		day := w.Start.Format("2 Jan")
		stack := func(name, col string, v int) {
			if v <= 0 {
				return
			}
			h := plotH * float64(v) / float64(top)
			y -= h
			c.Segments = append(c.Segments, segment{X: x, Y: y, W: bw, H: h, Color: col,
				Title: fmt.Sprintf("week of %s — %s: %d", day, name, v)})
		}
		stack("approved", colorApproved, w.Approved)
		otherW := 0
		for _, r := range reasons {
			if color[r] == colorOther {
				otherW += w.Declined[r]
				continue
			}
			stack("declined "+r, color[r], w.Declined[r])
		}
		stack("declined, other reasons", colorOther, otherW)
		if len(weeks) <= 13 || i%2 == (len(weeks)-1)%2 {
			c.XLabels = append(c.XLabels, xLabel{X: x + bw/2, Label: day})
		}
	}
	c.Summary = fmt.Sprintf("%d approvals and %d declines over %d weeks", approved, all-approved, len(weeks))
	return c
}

// ring is a small SVG gauge for a rate.
type ring struct {
	Valid  bool
	Text   string
	Dash   string // stroke-dasharray: filled, rest
	Color  string
	Detail string
}

const ringCircumference = 2 * math.Pi * 36 // r = 36

func rateRing(valid bool, v float64, detail string) ring {
	if !valid || math.IsNaN(v) {
		return ring{Text: "n/a", Dash: "0 " + fmtF(ringCircumference), Color: "#9aa5b1", Detail: detail}
	}
	v = min(max(v, 0), 1)
	filled := ringCircumference * v
	col := "#2e7d32"
	switch {
	case v < 0.25:
		col = "#c62828"
	case v < 0.5:
		col = "#ef6c00"
	}
	return ring{Valid: true, Text: strconv.FormatFloat(v*100, 'f', 0, 64) + "%", Dash: fmtF(filled) + " " + fmtF(ringCircumference-filled), Color: col, Detail: detail}
}

func fmtF(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
