package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// A report's table of requests per small-image push and pull, as
// report() writes it.
const chartTable = `# Registry benchmarks

## Requests per small-image push and pull (S3 + DynamoDB)

| target | per push | per pull |
| --- | --- | --- |
| pier-aws | 14 (S3 3, DynamoDB 11) | 3 (S3 2, DynamoDB 1) |
| distribution-s3 | 48 (S3 48, DynamoDB 0) | 4 (S3 4, DynamoDB 0) |

## Cost
`

// TestChartFromReport: the chart redrawn from a report has a bar for each
// push and pull of each target, as tall as its requests (the tallest, 48,
// is the plot's 320 pixels), labelled with the total, and the same report
// gives the same SVG.
func TestChartFromReport(t *testing.T) {
	dir := t.TempDir()
	svg := func() string {
		path := dir + "/chart.svg"
		if err := chartFromReport(chartTable, path); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	got := svg()
	if again := svg(); again != got {
		t.Errorf("the same report drew two different charts")
	}
	for _, want := range []string{
		`<title>pier-aws push: S3 3</title>`,
		`<title>pier-aws push: DynamoDB 11</title>`,
		`<title>distribution-s3 pull: S3 4</title>`,
		`>48</text>`, `>14</text>`, `>pier-aws</text>`, `>distribution-s3</text>`,
		`height="320" fill="#ec7211"><title>distribution-s3 push: S3 48</title>`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("the chart has no %s:\n%s", want, got)
		}
	}
	if n := len(regexp.MustCompile(`<title>`).FindAllString(got, -1)); n != 8 {
		t.Errorf("%d bar segments, want 8 (2 targets, push and pull, S3 and DynamoDB)", n)
	}
}

// TestChartFromReportErrors: a report without the table, or with a cell
// the chart cannot read, is an error, not an empty or wrong chart.
func TestChartFromReportErrors(t *testing.T) {
	for _, tc := range []struct{ name, md string }{
		{"no table", "# Registry benchmarks\n\nnothing here\n"},
		{"bad cell", "| target | per push | per pull |\n| --- | --- | --- |\n| pier-aws | 14 | 3 |\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := chartFromReport(tc.md, t.TempDir()+"/chart.svg"); err == nil {
				t.Errorf("no error")
			}
		})
	}
}
