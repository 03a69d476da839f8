package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"
)

// runRegistry runs the workloads (-workloads) on the targets (-targets),
// each target a fresh process per workload, and writes the report and its
// chart.
func runRegistry(res *results, pier, work string, s3p, ddbp *countingProxy) error {
	var targets []*target
	for _, name := range strings.Split(*flagTargets, ",") {
		switch name = strings.TrimSpace(name); name {
		case "pier-local":
			targets = append(targets, pierLocal(pier, work))
		case "pier-aws":
			if s3p == nil {
				res.notes = append(res.notes, "pier-aws skipped: no AWS_ENDPOINT_URL_S3/DYNAMODB (run under scripts/with-local-aws.sh)")
				continue
			}
			targets = append(targets, pierAWS(pier, work, s3p, ddbp))
		case "pier-lambda", "pier-lambda-url":
			if s3p == nil {
				res.notes = append(res.notes, name+" skipped: no AWS_ENDPOINT_URL_S3/DYNAMODB (run under scripts/with-local-aws.sh)")
				continue
			}
			targets = append(targets, pierLambda(name, work, s3p, ddbp))
		case "distribution-s3", "distribution-s3-nocache":
			if *flagDist == "" {
				res.notes = append(res.notes, "distribution-s3 skipped: no -distribution binary (scripts/tools.sh distribution failed or was not given)")
				continue
			}
			if s3p == nil {
				res.notes = append(res.notes, "distribution-s3 skipped: no local S3 (run under scripts/with-local-aws.sh)")
				continue
			}
			if err := createBucket(distBucket); err != nil {
				return fmt.Errorf("create the bucket of Distribution: %w", err)
			}
			cache := "inmemory"
			if name == "distribution-s3-nocache" {
				cache = "none"
			}
			targets = append(targets, distribution(name, cache, *flagDist, work, s3p))
		case "":
		default:
			return fmt.Errorf("unknown target %q", name)
		}
	}
	for _, t := range targets {
		res.targets = append(res.targets, t.name)
		for _, w := range workloads() {
			if !slices.Contains(strings.Split(*flagWorkloads, ","), w.name) {
				continue
			}
			fmt.Fprintf(os.Stderr, "bench: %s: %s\n", t.name, w.name)
			if err := runWorkload(res, t, w, s3p, ddbp); err != nil {
				return fmt.Errorf("%s: %s: %w", t.name, w.name, err)
			}
		}
	}

	if err := writeReport(report(res)); err != nil {
		return err
	}
	svg := strings.TrimSuffix(*flagOut, ".md") + ".svg"
	if err := chart(res, svg); err != nil {
		fmt.Fprintln(os.Stderr, "bench: chart:", err)
	} else {
		fmt.Fprintln(os.Stderr, "bench: wrote", svg)
	}
	return nil
}

// runWorkload starts a fresh registry process for the workload, runs it
// -runs times (each on a repository and blobs of its own), and records each
// phase's samples and the process's peak RSS.
func runWorkload(res *results, t *target, w workload, s3p, ddbp *countingProxy) error {
	p, err := t.start(w.name)
	if err != nil {
		return err
	}
	p.rssOf = t.rssOf
	defer func() {
		p.stop()
		if t.clean != nil {
			if err := t.clean(w.name); err != nil {
				fmt.Fprintf(os.Stderr, "bench: %s: clean up after %s: %v\n", t.name, w.name, err)
			}
		}
	}()
	c := newClient(p.base)
	var reports *reportLog
	if p.reportLog != "" {
		reports = &reportLog{path: p.reportLog}
	}
	for run := 1; run <= *flagRuns; run++ {
		repo := fmt.Sprintf("bench/%s-%d", w.name, run)
		seed := uint64(run)<<32 | uint64(len(w.name))<<16 | uint64(time.Now().UnixNano()&0xffff)
		m := &meter{res: res, target: t.name, workload: w.name, run: run, c: c, s3p: s3p, ddbp: ddbp, reports: reports}
		if err := w.run(c, repo, seed, m); err != nil {
			return fmt.Errorf("run %d: %w", run, err)
		}
	}
	rss := p.peakRSS()
	if res.rss[w.name] == nil {
		res.rss[w.name] = map[string]int64{}
	}
	res.rss[w.name][t.name] = rss
	if err := p.alive(); err != nil {
		return err
	}
	return nil
}
