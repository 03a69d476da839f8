package main

import (
	"fmt"
	"html"
	"os"
	"strings"
)

// chart writes an SVG bar chart of the S3 and DynamoDB requests per push
// and per pull of a small image, per target behind the counting proxies:
// one stacked bar (S3 below, DynamoDB above) for each. The SVG is plain
// text, one element a line, with whole-number coordinates: the same
// figures give the same file, and a change of figures reads as a diff.
func chart(r *results, path string) error {
	groups, maxv := chartGroups(r)
	svg, err := chartSVG(groups, maxv)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(svg), 0o644)
}

// chartFromReport writes the chart of the report md (its table of
// requests per small-image push and pull) to path: the chart of figures
// already written, without running the benchmarks again (-suite chart).
func chartFromReport(md, path string) error {
	var groups []chartGroup
	maxv := 1.0
	in := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| target | per push | per pull |") {
			in = true
			continue
		}
		if !in || strings.HasPrefix(line, "| ---") {
			continue
		}
		if !strings.HasPrefix(line, "|") {
			break // the end of the table
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if len(cells) != 3 {
			return fmt.Errorf("chart: a row of %d cells: %q", len(cells), line)
		}
		g := chartGroup{target: cells[0]}
		for i, label := range []string{"push", "pull"} {
			var total, s3, ddb float64
			if _, err := fmt.Sscanf(cells[i+1], "%g (S3 %g, DynamoDB %g)", &total, &s3, &ddb); err != nil {
				return fmt.Errorf("chart: %q: %w", cells[i+1], err)
			}
			g.bars = append(g.bars, chartBar{label, s3, ddb})
			maxv = max(maxv, s3+ddb)
		}
		groups = append(groups, g)
	}
	svg, err := chartSVG(groups, maxv)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(svg), 0o644)
}

// chartBar is one bar of the chart: S3 and DynamoDB requests of a phase.
type chartBar struct {
	label   string
	s3, ddb float64
}

// chartGroup is the bars of one target.
type chartGroup struct {
	target string
	bars   []chartBar
}

// chartGroups gathers the bars of the targets behind the proxies, and the
// tallest bar's height.
func chartGroups(r *results) ([]chartGroup, float64) {
	var groups []chartGroup
	maxv := 1.0
	for _, t := range r.targets {
		if !awsTargets[t] {
			continue
		}
		g := chartGroup{target: t}
		for _, p := range []struct{ label, phase string }{{"push", phaseSmallPush()}, {"pull", phaseSmallPull()}} {
			ss := r.data[p.phase][t]
			if len(ss) == 0 {
				continue
			}
			a, _ := perOp(ss, func(s *sample) map[string]int { return s.s3 })
			d, _ := perOp(ss, func(s *sample) map[string]int { return s.ddb })
			g.bars = append(g.bars, chartBar{p.label, a, d})
			maxv = max(maxv, a+d)
		}
		if len(g.bars) > 0 {
			groups = append(groups, g)
		}
	}
	return groups, maxv
}

// Colours of the chart's two kinds of request.
const (
	colourS3     = "#ec7211"
	colourDynamo = "#3d63c4"
)

// chartSVG is the chart's SVG document.
func chartSVG(groups []chartGroup, maxv float64) (string, error) {
	if len(groups) == 0 {
		return "", fmt.Errorf("no target with request counts")
	}
	const (
		barW, gap, groupGap = 60, 20, 70
		top, plotH, left    = 70, 320, 40
	)
	groupW := 2*barW + gap
	w := max(left*2+len(groups)*groupW+(len(groups)-1)*groupGap+10, 640)
	h := top + plotH + 70
	base := top + plotH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="16" font-weight="bold">S3 + DynamoDB requests per small-image push and pull</text>`+"\n", left)
	fmt.Fprintf(&b, `<rect x="%d" y="36" width="14" height="14" fill="%s"/><text x="%d" y="48">S3</text>`+"\n", left, colourS3, left+20)
	fmt.Fprintf(&b, `<rect x="%d" y="36" width="14" height="14" fill="%s"/><text x="%d" y="48">DynamoDB</text>`+"\n", left+70, colourDynamo, left+90)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#141414" stroke-width="2"/>`+"\n", left-5, base+1, w-left+5, base+1)
	x := left
	for _, g := range groups {
		fmt.Fprintf(&b, "<g>\n")
		for i, bar := range g.bars {
			bx := x + i*(barW+gap)
			hs := int(bar.s3 / maxv * plotH)
			hd := int(bar.ddb / maxv * plotH)
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: S3 %s</title></rect>`+"\n",
				bx, base-hs, barW, hs, colourS3, esc(g.target), bar.label, num(bar.s3))
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s %s: DynamoDB %s</title></rect>`+"\n",
				bx, base-hs-hd, barW, hd, colourDynamo, esc(g.target), bar.label, num(bar.ddb))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", bx+barW/2, base-hs-hd-6, num(bar.s3+bar.ddb))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", bx+barW/2, base+20, bar.label)
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n", x+groupW/2, base+42, esc(g.target))
		fmt.Fprintf(&b, "</g>\n")
		x += groupW + groupGap
	}
	b.WriteString("</svg>\n")
	return b.String(), nil
}

func esc(s string) string { return html.EscapeString(s) }
