package bench

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"unicode"
)

// A small plotter of the bench's own (standard library only): bar charts of
// pps per method and line charts of pps against flow count.

var (
	white   = color.RGBA{255, 255, 255, 255}
	black   = color.RGBA{0, 0, 0, 255}
	grey    = color.RGBA{200, 200, 200, 255}
	palette = []color.RGBA{
		{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
		{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
		{188, 189, 34, 255}, {23, 190, 207, 255}, {0, 0, 128, 255}, {255, 187, 120, 255},
		{152, 223, 138, 255}, {255, 152, 150, 255}, {197, 176, 213, 255}, {128, 64, 0, 255},
	}
	fastlvsColor = color.RGBA{31, 119, 180, 255}
	peerColor    = color.RGBA{160, 160, 160, 255}
)

const (
	chartWidth  = 900
	chartHeight = 500
	marginLeft  = 80
	marginRight = 30
	marginTop   = 50
	marginBot   = 80
	// A bar chart's labels take up to maxLabelRows rows below the axis.
	maxLabelRows   = 4
	labelRowHeight = 14
	legendPerRow   = 4 // a line chart's legend entries per row
)

// canvas is an RGBA image with the few primitives the charts need.
type canvas struct{ *image.RGBA }

func newCanvas(w, h int) canvas {
	c := canvas{image.NewRGBA(image.Rect(0, 0, w, h))}
	c.fill(0, 0, w, h, white)
	return c
}

func (c canvas) fill(x0, y0, x1, y1 int, col color.RGBA) {
	for y := max(0, y0); y < min(y1, c.Bounds().Dy()); y++ {
		for x := max(0, x0); x < min(x1, c.Bounds().Dx()); x++ {
			c.SetRGBA(x, y, col)
		}
	}
}

// line draws a segment of the given thickness (Bresenham, square pen).
func (c canvas) line(x0, y0, x1, y1, thick int, col color.RGBA) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	err := dx + dy
	for {
		c.fill(x0-thick/2, y0-thick/2, x0-thick/2+thick, y0-thick/2+thick, col)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * err; e2 >= dy {
			err += dy
			x0 += sx
		} else {
			err += dx
			y0 += sy
		}
	}
}

// text draws s with its top-left corner at (x, y).
func (c canvas) text(x, y int, s string, scale int, col color.RGBA) {
	for _, r := range s {
		g := glyphs[unicode.ToUpper(r)]
		for row := 0; row < glyphHeight; row++ {
			for bit := 0; bit < glyphWidth; bit++ {
				if g[row]&(1<<(glyphWidth-1-bit)) != 0 {
					c.fill(x+bit*scale, y+row*scale, x+(bit+1)*scale, y+(row+1)*scale, col)
				}
			}
		}
		x += glyphAdvance * scale
	}
}

func (c canvas) textCentered(cx, y int, s string, scale int, col color.RGBA) {
	c.text(cx-textWidth(s, scale)/2, y, s, scale, col)
}

func (c canvas) save(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	if err := png.Encode(f, c.RGBA); err != nil {
		f.Close()
		return fmt.Errorf("encode %s: %w", path, err)
	}
	return f.Close()
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten.
func niceMax(v float64) float64 {
	if v <= 0 || math.IsNaN(v) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// frame draws the title, the y axis with five ticks up to yMax and returns
// the plot area and a function mapping a value to its y pixel.
func (c canvas) frame(title, yLabel string, yMax float64) (image.Rectangle, func(float64) int) {
	area := image.Rect(marginLeft, marginTop, chartWidth-marginRight, chartHeight-marginBot)
	c.textCentered(chartWidth/2, 15, title, 2, black)
	c.text(8, marginTop-20, yLabel, 1, black)
	yOf := func(v float64) int {
		return area.Max.Y - int(math.Round(v/yMax*float64(area.Dy())))
	}
	for i := 0; i <= 5; i++ {
		v := yMax * float64(i) / 5
		y := yOf(v)
		c.line(area.Min.X, y, area.Max.X, y, 1, grey)
		label := trimFloat(v)
		c.text(area.Min.X-8-textWidth(label, 1), y-3, label, 1, black)
	}
	c.line(area.Min.X, area.Min.Y, area.Min.X, area.Max.Y, 2, black)
	c.line(area.Min.X, area.Max.Y, area.Max.X, area.Max.Y, 2, black)
	return area, yOf
}

func trimFloat(v float64) string {
	s := fmt.Sprintf("%.2f", v)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

// bar is one bar of a bar chart.
type bar struct {
	Label     string
	Value     float64 // NaN: not measured
	Highlight bool
}

// barChart draws one bar per entry, labelled below and valued above.
func barChart(title, yLabel string, bars []bar) canvas {
	c := newCanvas(chartWidth, chartHeight)
	top := 0.0
	for _, b := range bars {
		if !math.IsNaN(b.Value) {
			top = max(top, b.Value)
		}
	}
	area, yOf := c.frame(title, yLabel, niceMax(top*1.1))
	if len(bars) == 0 {
		return c
	}
	slot := area.Dx() / len(bars)
	// Labels wider than their slot take turns between up to four rows, so
	// each has the width of as many slots.
	widest := 0
	for _, b := range bars {
		widest = max(widest, textWidth(b.Label, 1))
	}
	rows := 1
	for rows < maxLabelRows && widest > rows*slot-4 {
		rows++
	}
	for i, b := range bars {
		cx := area.Min.X + slot*i + slot/2
		labelY := area.Max.Y + 10 + (i%rows)*labelRowHeight
		c.textCentered(cx, labelY, b.Label, 1, black)
		if math.IsNaN(b.Value) {
			c.textCentered(cx, area.Max.Y-20, "N/A", 1, black)
			continue
		}
		col := peerColor
		if b.Highlight {
			col = fastlvsColor
		}
		w := slot * 6 / 10
		y := yOf(b.Value)
		c.fill(cx-w/2, y, cx+w/2, area.Max.Y, col)
		c.textCentered(cx, y-12, trimFloat(b.Value), 1, black)
	}
	return c
}

// series is one line of a line chart; NaN values are gaps.
type series struct {
	Name   string
	Values []float64
}

// lineChart draws each series over evenly spaced categories xs.
func lineChart(title, yLabel, xLabel string, xs []string, lines []series) canvas {
	// The legend's rows past the third grow the canvas below the chart.
	legendRows := (len(lines) + legendPerRow - 1) / legendPerRow
	c := newCanvas(chartWidth, chartHeight+max(0, legendRows-3)*labelRowHeight)
	top := 0.0
	for _, s := range lines {
		for _, v := range s.Values {
			if !math.IsNaN(v) {
				top = max(top, v)
			}
		}
	}
	area, yOf := c.frame(title, yLabel, niceMax(top*1.1))
	if len(xs) == 0 {
		return c
	}
	xOf := func(i int) int {
		if len(xs) == 1 {
			return area.Min.X + area.Dx()/2
		}
		return area.Min.X + 40 + i*(area.Dx()-80)/(len(xs)-1)
	}
	for i, x := range xs {
		c.textCentered(xOf(i), area.Max.Y+10, x, 1, black)
	}
	c.textCentered(area.Min.X+area.Dx()/2, area.Max.Y+26, xLabel, 1, black)
	for si, s := range lines {
		col := palette[si%len(palette)]
		prevX, prevY, havePrev := 0, 0, false
		for i, v := range s.Values {
			if math.IsNaN(v) {
				havePrev = false
				continue
			}
			x, y := xOf(i), yOf(v)
			if havePrev {
				c.line(prevX, prevY, x, y, 2, col)
			}
			c.fill(x-3, y-3, x+4, y+4, col)
			prevX, prevY, havePrev = x, y, true
		}
		// Legend below the axis label, four entries a row.
		lx := area.Min.X + (si%legendPerRow)*(area.Dx()/legendPerRow)
		ly := area.Max.Y + 44 + (si/legendPerRow)*labelRowHeight
		c.fill(lx, ly, lx+14, ly+7, col)
		c.text(lx+20, ly, s.Name, 1, black)
	}
	return c
}
