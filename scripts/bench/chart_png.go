package main

import (
	"fmt"
	gimage "image"
	"image/color"
	"image/png"
	"os"
	"strings"
)

// chart writes a PNG bar chart of the S3 and DynamoDB requests per push
// and per pull of a small image, per target behind the counting proxies:
// one stacked bar (S3 below, DynamoDB above) for each. Text is drawn with
// the tiny bitmap font below: the standard library has no fonts.
func chart(r *results, path string) error {
	type bar struct {
		label   string
		s3, ddb float64
	}
	type group struct {
		target string
		bars   []bar
	}
	var groups []group
	maxv := 1.0
	for _, t := range r.targets {
		if !awsTargets[t] {
			continue
		}
		g := group{target: t}
		for _, p := range []struct{ label, phase string }{{"push", phaseSmallPush()}, {"pull", phaseSmallPull()}} {
			ss := r.data[p.phase][t]
			if len(ss) == 0 {
				continue
			}
			a, _ := perOp(ss, func(s *sample) map[string]int { return s.s3 })
			d, _ := perOp(ss, func(s *sample) map[string]int { return s.ddb })
			g.bars = append(g.bars, bar{p.label, a, d})
			maxv = max(maxv, a+d)
		}
		if len(g.bars) > 0 {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return fmt.Errorf("no target with request counts")
	}
	const (
		scale  = 2
		barW   = 60
		gap    = 20
		groupG = 70
		top    = 70
		plotH  = 320
		left   = 40
	)
	groupW := 2*barW + gap
	w := left*2 + len(groups)*groupW + (len(groups)-1)*groupG + 10
	w = max(w, 640)
	h := top + plotH + 80
	img := gimage.NewRGBA(gimage.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	black := color.RGBA{20, 20, 20, 255}
	s3c := color.RGBA{236, 114, 17, 255}
	ddbc := color.RGBA{61, 99, 196, 255}
	text(img, left, 12, "S3 + DYNAMODB REQUESTS PER SMALL-IMAGE PUSH AND PULL", scale, black)
	fill(img, gimage.Rect(left, 34, left+14, 48), s3c)
	text(img, left+20, 37, "S3", scale, black)
	fill(img, gimage.Rect(left+70, 34, left+84, 48), ddbc)
	text(img, left+90, 37, "DYNAMODB", scale, black)
	base := top + plotH
	fill(img, gimage.Rect(left-5, base, w-left+5, base+2), black)
	x := left
	for _, g := range groups {
		for i, b := range g.bars {
			bx := x + i*(barW+gap)
			hs := int(b.s3 / maxv * plotH)
			hd := int(b.ddb / maxv * plotH)
			fill(img, gimage.Rect(bx, base-hs, bx+barW, base), s3c)
			fill(img, gimage.Rect(bx, base-hs-hd, bx+barW, base-hs), ddbc)
			v := num(b.s3 + b.ddb)
			text(img, bx+(barW-len(v)*4*scale)/2, base-hs-hd-14, v, scale, black)
			text(img, bx+(barW-len(b.label)*4*scale)/2, base+8, b.label, scale, black)
		}
		text(img, x+(groupW-len(g.target)*4*scale)/2, base+30, g.target, scale, black)
		x += groupW + groupG
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func fill(img *gimage.RGBA, r gimage.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// text draws s (upper-cased) at x, y with the 3×5 font, each dot scale² pixels.
func text(img *gimage.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for _, ch := range strings.ToUpper(s) {
		g, ok := glyphs[ch]
		if !ok {
			g = glyphs['?']
		}
		for row, bits := range strings.Split(g, ",") {
			for col, b := range bits {
				if b == '1' {
					fill(img, gimage.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 4 * scale
	}
}

var glyphs = map[rune]string{
	'0': "111,101,101,101,111", '1': "010,110,010,010,111", '2': "111,001,111,100,111",
	'3': "111,001,111,001,111", '4': "101,101,111,001,001", '5': "111,100,111,001,111",
	'6': "111,100,111,101,111", '7': "111,001,001,001,001", '8': "111,101,111,101,111",
	'9': "111,101,111,001,111", 'A': "010,101,111,101,101", 'B': "110,101,110,101,110",
	'C': "011,100,100,100,011", 'D': "110,101,101,101,110", 'E': "111,100,110,100,111",
	'F': "111,100,110,100,100", 'G': "011,100,101,101,011", 'H': "101,101,111,101,101",
	'I': "111,010,010,010,111", 'J': "001,001,001,101,010", 'K': "101,101,110,101,101",
	'L': "100,100,100,100,111", 'M': "101,111,111,101,101", 'N': "110,101,101,101,101",
	'O': "010,101,101,101,010", 'P': "110,101,110,100,100", 'Q': "010,101,101,110,011",
	'R': "110,101,110,101,101", 'S': "011,100,010,001,110", 'T': "111,010,010,010,010",
	'U': "101,101,101,101,111", 'V': "101,101,101,101,010", 'W': "101,101,111,111,101",
	'X': "101,101,010,101,101", 'Y': "101,101,010,010,010", 'Z': "111,001,010,100,111",
	'-': "000,000,111,000,000", '.': "000,000,000,000,010", '/': "001,001,010,100,100",
	':': "000,010,000,010,000", '(': "010,100,100,100,010", ')': "010,001,001,001,010",
	'+': "000,010,111,010,000", ' ': "000,000,000,000,000", '?': "111,001,010,000,010",
}
