package bench

import (
	"fmt"
	"image/color"
	"math"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WriteChart draws the latency of every step and of the whole sign-in — p50, p95 and
// p99 side by side — as a PNG (or SVG, PDF: the file name's extension decides). The
// scale is logarithmic: the password step costs a hundred times what the others do,
// and a linear scale would flatten them all to nothing.
func (r *Result) WriteChart(path string) error {
	names := make([]string, 0, len(r.Steps)+1)
	lats := make([]Latency, 0, len(r.Steps)+1)
	for _, s := range r.Steps {
		names = append(names, s.Step)
		lats = append(lats, s.Latency)
	}
	names = append(names, "whole sign-in")
	lats = append(lats, r.Flow)

	p := plot.New()
	p.Title.Text = fmt.Sprintf("Gatehouse sign-in latency per step: %.1f sign-ins/s (%.2f × ceiling)\n%s",
		r.FlowsPerSecond, r.Ratio, r.Title())
	if r.Hash.Mode == "cheap" {
		p.Title.Text = fmt.Sprintf("Gatehouse sign-in latency per step: %.1f sign-ins/s with the cheapest hash\n%s",
			r.FlowsPerSecond, r.Title())
	}
	if cost := r.costLine(); cost != "" {
		p.Title.Text += "\n" + cost
	}
	p.Title.TextStyle.Font.Size = vg.Points(12)
	p.Y.Label.Text = "latency, ms (log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = decades{}
	p.NominalX(names...)
	p.X.Tick.Label.Font.Size = vg.Points(9)
	p.Legend.Top = true
	p.Legend.Left = true

	lo, hi := math.Inf(1), 0.0
	for _, l := range lats {
		for _, v := range []float64{l.P50, l.P95, l.P99} {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 { // nothing measured: draw empty axes rather than fail
		lo, hi = 0.1, 10
	}

	width := vg.Points(16)
	series := []struct {
		name  string
		pick  func(Latency) float64
		color color.Color
	}{
		{"p50", func(l Latency) float64 { return l.P50 }, color.RGBA{R: 0x4c, G: 0x78, B: 0xa8, A: 0xff}},
		{"p95", func(l Latency) float64 { return l.P95 }, color.RGBA{R: 0xf5, G: 0x85, B: 0x18, A: 0xff}},
		{"p99", func(l Latency) float64 { return l.P99 }, color.RGBA{R: 0xe4, G: 0x57, B: 0x56, A: 0xff}},
	}
	for i, s := range series {
		bars := &logBars{width: width, offset: width * vg.Length(i-1), color: s.color}
		for _, l := range lats {
			bars.values = append(bars.values, s.pick(l))
		}
		p.Add(bars)
		p.Legend.Add(s.name, bars)
	}

	// The goal for every step but identify: p99 within 10 ms at 80 % of peak.
	goal, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: 10}, {X: float64(len(names)) - 0.5, Y: 10}})
	if err != nil {
		return err
	}
	goal.LineStyle.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	goal.LineStyle.Color = color.Gray{Y: 0x60}
	p.Add(goal)
	p.Legend.Add("10 ms", goal)
	p.Add(plotter.NewGrid())
	// After Add, which widens the range to the data: whole decades, with room above
	// the tallest bar for its label.
	p.Y.Min = math.Pow(10, math.Floor(math.Log10(lo)))
	p.Y.Max = math.Pow(10, math.Ceil(math.Log10(math.Max(hi, 10)*1.5)))

	return p.Save(28*vg.Centimeter, 14*vg.Centimeter, path)
}

// costLine is what a sign-in cost, for the chart's title: the engine's CPU time
// with and without the hash and the hash's share of it, the bench's own CPU time,
// and the store operations. Empty when none is known.
func (r *Result) costLine() string {
	var parts []string
	if r.CPUMsPerFlow != nil {
		s := fmt.Sprintf("engine CPU %.2f ms per sign-in", *r.CPUMsPerFlow)
		if r.CPUMsPerFlowWithoutHash != nil && r.HashCPURatio != nil {
			s += fmt.Sprintf(", %.2f without the hash (hash ÷ engine CPU %.2f)", *r.CPUMsPerFlowWithoutHash, *r.HashCPURatio)
		}
		parts = append(parts, s)
	}
	if r.Flows > 0 {
		parts = append(parts, fmt.Sprintf("bench CPU %.2f ms", r.ClientCPUMsPerFlow))
	}
	if o := r.StoreOps; o != nil {
		parts = append(parts, fmt.Sprintf("store: %.1f reads, %.1f writes", o.Reads, o.Writes))
	}
	return strings.Join(parts, " · ")
}

// logBars is a bar series that can stand on a logarithmic axis: gonum's BarChart
// grows its bars from zero, which a log scale cannot show. These grow from the
// axis's minimum, and carry their value on top.
type logBars struct {
	values []float64
	width  vg.Length
	offset vg.Length
	color  color.Color
}

func (b *logBars) Plot(c draw.Canvas, plt *plot.Plot) {
	trX, trY := plt.Transforms(&c)
	label := draw.TextStyle{Color: color.Gray{Y: 0x30}, Font: plt.X.Tick.Label.Font, Handler: plt.X.Tick.Label.Handler,
		XAlign: draw.XCenter, YAlign: draw.YBottom}
	label.Font.Size = vg.Points(6)
	for i, v := range b.values {
		if v <= 0 {
			continue
		}
		x := trX(float64(i)) + b.offset
		left, right := x-b.width/2, x+b.width/2
		bottom, top := trY(plt.Y.Min), trY(math.Min(v, plt.Y.Max))
		c.FillPolygon(b.color, c.ClipPolygonY([]vg.Point{{X: left, Y: bottom}, {X: left, Y: top}, {X: right, Y: top}, {X: right, Y: bottom}}))
		c.FillText(label, vg.Point{X: x, Y: top + vg.Points(1)}, barLabel(v))
	}
}

func barLabel(v float64) string {
	switch {
	case v >= 10:
		return fmt.Sprintf("%.0f", v)
	case v >= 1:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

// DataRange spans the categories and the positive values; WriteChart rounds the
// y range out to whole powers of ten.
func (b *logBars) DataRange() (xmin, xmax, ymin, ymax float64) {
	ymin, ymax = math.Inf(1), math.Inf(-1)
	for _, v := range b.values {
		if v > 0 {
			ymin, ymax = math.Min(ymin, v), math.Max(ymax, v)
		}
	}
	return -0.5, float64(len(b.values)) - 0.5, ymin, ymax
}

// Thumbnail draws the legend's swatch.
func (b *logBars) Thumbnail(c *draw.Canvas) {
	pts := []vg.Point{{X: c.Min.X, Y: c.Min.Y}, {X: c.Min.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Max.Y}, {X: c.Max.X, Y: c.Min.Y}}
	c.FillPolygon(b.color, c.ClipPolygonY(pts))
}

// decades ticks a logarithmic axis: a labelled tick at every power of ten, unlabelled
// ones at 2…9 times it. (plot.LogTicks loses the lowest decade to rounding.)
type decades struct{}

func (decades) Ticks(lo, hi float64) []plot.Tick {
	var ticks []plot.Tick
	for e := math.Floor(math.Log10(lo) + 1e-9); e <= math.Ceil(math.Log10(hi)-1e-9); e++ {
		base := math.Pow(10, e)
		ticks = append(ticks, plot.Tick{Value: base, Label: strconv.FormatFloat(base, 'f', -1, 64)})
		for m := 2.0; m < 10 && base*m <= hi; m++ {
			ticks = append(ticks, plot.Tick{Value: base * m})
		}
	}
	return ticks
}
