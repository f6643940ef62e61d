package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"runtime"
	"strings"
)

var policyColor = map[string]string{
	"rcu-refcount": "#1f77b4",
	"mmap-lock":    "#d62728",
	"per-vma-lock": "#2ca02c",
}

// niceStep returns a round tick step (1, 2 or 5 × 10^k) giving about n
// ticks up to max.
func niceStep(max float64, n int) float64 {
	if max <= 0 {
		return 1
	}
	raw := max / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

// writeChart writes an SVG line chart of faults per second against
// threads: one line per policy, dashed with churn on.
func writeChart(path string, o *options, cells []cell) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := chart(f, o, cells); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func chart(w io.Writer, o *options, cells []cell) error {
	const (
		width, height           = 800, 440
		left, right, top, under = 80, 220, 50, 60
	)
	plotW, plotH := float64(width-left-right), float64(height-top-under)
	maxRate := 0.0
	for _, c := range cells {
		maxRate = max(maxRate, c.rate())
	}
	step := niceStep(maxRate, 5)
	yMax := step * math.Ceil(maxRate/step)
	if yMax == 0 {
		yMax = 1
	}
	x := func(i int) float64 {
		if len(o.threads) == 1 {
			return left + plotW/2
		}
		return left + plotW*float64(i)/float64(len(o.threads)-1)
	}
	y := func(r float64) float64 { return top + plotH*(1-r/yMax) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">vmsim fault-scaling: minor faults per second (median of %d × %v, %d CPUs)</text>`+"\n",
		left, o.repeat, o.duration, runtime.GOMAXPROCS(0))
	// Axes, grid and ticks.
	for v := 0.0; v <= yMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", left, left+plotW, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" dominant-baseline="middle">%s</text>`+"\n", left-8, y(v), human(v))
	}
	for i, n := range o.threads {
		fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%.1f" stroke="#eee"/>`+"\n", x(i), x(i), top, top+plotH)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`+"\n", x(i), top+plotH+18, n)
	}
	fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%d" y2="%.1f" stroke="black"/>`+"\n", left, left, top, top+plotH)
	fmt.Fprintf(&b, `<line x1="%d" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, left+plotW, top+plotH, top+plotH)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">faulting threads</text>`+"\n", left+plotW/2, height-16)
	fmt.Fprintf(&b, `<text transform="translate(18 %.1f) rotate(-90)" text-anchor="middle">faults per second</text>`+"\n", top+plotH/2)

	// One line per policy and churn setting, with a legend entry.
	legend := 0
	for _, p := range o.policies {
		for _, ch := range o.churn {
			color := policyColor[p.String()]
			dash := ""
			if ch {
				dash = ` stroke-dasharray="6 4"`
			}
			var pts []string
			var dots strings.Builder
			for i, n := range o.threads {
				c, ok := find(cells, p.String(), ch, n)
				if !ok {
					continue
				}
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(c.rate())))
				fmt.Fprintf(&dots, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s</title></circle>`+"\n", x(i), y(c.rate()), color,
					html.EscapeString(fmt.Sprintf("%s, churn %s, %d threads: %s faults/s", p, onOff(ch), n, human(c.rate()))))
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`+"\n", color, dash, strings.Join(pts, " "))
			b.WriteString(dots.String())
			ly := float64(top + 10 + 22*legend)
			lx := float64(width - right + 20)
			fmt.Fprintf(&b, `<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/>`+"\n", lx, lx+28, ly, ly, color, dash)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" dominant-baseline="middle">%s, churn %s</text>`+"\n", lx+34, ly, p, onOff(ch))
			legend++
		}
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
