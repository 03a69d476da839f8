package main

import (
	"cmp"
	"fmt"
	"maps"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func (r *results) note(s string) {
	if !slices.Contains(r.notes, s) {
		r.notes = append(r.notes, s)
	}
}

// perOp sums the counts of the samples and divides by their operations.
func perOp(ss []*sample, pick func(*sample) map[string]int) (total float64, by map[string]float64) {
	by = map[string]float64{}
	ops := 0
	for _, s := range ss {
		ops += s.ops
		for k, v := range pick(s) {
			by[k] += float64(v)
		}
	}
	if ops == 0 {
		return 0, by
	}
	for k := range by {
		by[k] /= float64(ops)
		total += by[k]
	}
	return total, by
}

// perOpUnits returns the DynamoDB read and write request units per
// operation of the samples.
func perOpUnits(ss []*sample) (rru, wru float64) {
	ops := 0
	for _, s := range ss {
		ops += s.ops
		rru += s.rru
		wru += s.wru
	}
	if ops == 0 {
		return 0, 0
	}
	return rru / float64(ops), wru / float64(ops)
}

// num formats a count: whole, or rounded to two decimals.
func num(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprint(int64(f))
	}
	if f >= 0.01 {
		return strings.TrimSuffix(strings.TrimRight(fmt.Sprintf("%.2f", f), "0"), ".")
	}
	return fmt.Sprintf("%.2g", f)
}

func countCell(aws bool, total float64, by map[string]float64) string {
	if !aws {
		return "–"
	}
	if total == 0 {
		return "0"
	}
	keys := slices.SortedFunc(maps.Keys(by), func(a, b string) int {
		return cmp.Or(cmp.Compare(by[b], by[a]), cmp.Compare(a, b))
	})
	var parts []string
	for _, k := range keys {
		parts = append(parts, k+" "+num(by[k]))
	}
	return "**" + num(total) + "**: " + strings.Join(parts, ", ")
}

func dur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return d.Round(100 * time.Millisecond).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond).String()
	}
	return d.Round(time.Microsecond).String()
}

// latencies returns the median and the 99th percentile of the latencies of
// the operations of all the samples.
func latencies(ss []*sample) (p50, p99 time.Duration) {
	var ds []time.Duration
	for _, s := range ss {
		ds = append(ds, s.lat...)
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)]
}

func walls(ss []*sample) (med, lo, hi time.Duration) {
	var ds []time.Duration
	for _, s := range ss {
		ds = append(ds, s.wall)
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[0], ds[len(ds)-1]
}

var awsTargets = map[string]bool{"pier-aws": true, "pier-lambda": true, "pier-lambda-url": true, "distribution-s3": true, "distribution-s3-nocache": true}

func report(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Registry benchmarks\n\n")
	fmt.Fprintf(&b, "Written by `make bench-registry` (scripts/bench) on %s, %d CPUs, %s; %d runs per workload, each target a fresh process per workload.\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.NumCPU(), runtime.Version(), *flagRuns)
	b.WriteString(`Targets: **pier-local** is ` + "`pier serve --auth none`" + ` on its embedded backend (files and bbolt: no AWS request);
**pier-aws** is ` + "`pier serve --backend aws`" + ` on DynamoDB Local and versitygw; **pier-lambda** is the local Lambda
path (` + "`scripts/local-api.sh`" + `: the bootstrap binary under the Runtime Interface Emulator behind the local HTTP API front,
auth off; its body limit makes clients push blobs over 4 MiB in chunks, as OCI-Chunk-Max-Length asks; its RSS is the function's);
**pier-lambda-url** is the same function behind the local Lambda function URL front (` + "`PIER_LOCAL_API_KIND=url`" + `); **distribution-s3** is CNCF Distribution
v3.1.2 with its S3 driver on the same versitygw (redirects on, as by default; upload purging off) with
` + "`storage.cache.blobdescriptor: inmemory`" + ` as in its stock config, and **distribution-s3-nocache** the same without that
cache (as a fresh or scaled-out instance sees it: the in-memory cache is per process, warm here because the same process pushed). Both AWS targets reach S3 and DynamoDB through the same counting reverse proxies,
which count every request by API action (S3: method, bucket or key, sub-resource query, copy source; DynamoDB: X-Amz-Target).
Presigned blob GETs that clients follow to S3 are counted too (` + "`GetObject (presigned)`" + `): they are billed.

Wall time is of the whole phase (all its operations), median [min–max] over the runs, on loopback with local stand-ins for
AWS: it compares the registries' work, not AWS latency. Latency per op is the median and 99th percentile over the operations
of all runs. The client sends up to ` + fmt.Sprint(*flagJobs) + ` requests at once (-jobs, as docker does): the blobs of an image, tag and referrer
pushes; images are pushed and pulled one after the other. Requests are per operation (the phase's count over its
operations, all runs); registry requests are the client's requests to the registry (redirected blob GETs count once).
DynamoDB units are the read and write request units DynamoDB Local reported consumed (on-demand billing charges them).
Peak RSS is the registry process's VmHWM after all runs of the workload.

`)
	// The headline: requests per push and per pull of a small image.
	b.WriteString("## Requests per small-image push and pull (S3 + DynamoDB)\n\n")
	fmt.Fprintf(&b, "![S3 and DynamoDB requests per push and per pull](%s)\n\n", strings.TrimSuffix(filepath.Base(*flagOut), ".md")+".svg")
	b.WriteString("| target | per push | per pull |\n| --- | --- | --- |\n")
	for _, t := range r.targets {
		if !awsTargets[t] {
			continue
		}
		cell := func(phase string) string {
			ss := r.data[phase][t]
			if len(ss) == 0 {
				return "–"
			}
			a, _ := perOp(ss, func(s *sample) map[string]int { return s.s3 })
			d, _ := perOp(ss, func(s *sample) map[string]int { return s.ddb })
			return fmt.Sprintf("%s (S3 %s, DynamoDB %s)", num(a+d), num(a), num(d))
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", t, cell(phaseSmallPush()), cell(phaseSmallPull()))
	}
	b.WriteString("\n")
	costReport(&b, r)
	for _, ph := range r.phases {
		fmt.Fprintf(&b, "## %s\n\n", ph)
		b.WriteString("| target | wall time, median [min–max] | latency per op, p50 / p99 | registry requests per op | S3 requests per op | DynamoDB requests per op | DynamoDB units per op | peak RSS |\n| --- | --- | --- | --- | --- | --- | --- | --- |\n")
		for _, t := range r.targets {
			ss := r.data[ph][t]
			if len(ss) == 0 {
				fmt.Fprintf(&b, "| %s | not run | | | | | | |\n", t)
				continue
			}
			med, lo, hi := walls(ss)
			a, abby := perOp(ss, func(s *sample) map[string]int { return s.s3 })
			d, dby := perOp(ss, func(s *sample) map[string]int { return s.ddb })
			api, _ := perOp(ss, func(s *sample) map[string]int { return map[string]int{"": s.api} })
			units := "–"
			if awsTargets[t] {
				rru, wru := perOpUnits(ss)
				units = "0"
				if rru+wru > 0 {
					units = fmt.Sprintf("%s RRU, %s WRU", num(rru), num(wru))
				}
			}
			rss := r.rss[r.phaseWL[ph]][t]
			p50, p99 := latencies(ss)
			fmt.Fprintf(&b, "| %s | %s [%s–%s] | %s / %s | %s | %s | %s | %s | %.1f MiB |\n", t, dur(med), dur(lo), dur(hi), dur(p50), dur(p99), num(api),
				countCell(awsTargets[t], a, abby), countCell(awsTargets[t], d, dby), units, float64(rss)/1024)
		}
		b.WriteString("\n")
	}
	if len(r.notes) > 0 {
		b.WriteString("## Notes\n\n")
		for _, n := range r.notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
		b.WriteString("\n")
	}
	return b.String()
}
