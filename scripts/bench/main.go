// Command bench runs registry workloads against Pier and CNCF Distribution
// side by side and writes the figures as markdown (docs/bench/results.md):
// wall time (median, min and max over several runs), the S3 and DynamoDB
// requests per operation by API action, and the registry's peak RSS.
//
// The S3 and DynamoDB requests are counted by reverse proxies in front of
// versitygw and DynamoDB Local (proxy.go), so that every registry is counted
// the same way, whatever its SDK. It runs under scripts/with-local-aws.sh,
// whose environment names the local servers:
//
//	scripts/with-local-aws.sh go run ./scripts/bench -pier build/bench/pier \
//	    -distribution "$(scripts/tools.sh distribution)"
//
// make bench-registry does that. Other suites (-suite):
//
//   - large (large.go, make bench-large): a 1 GiB image by a raw S3
//     multipart upload, by pier push through the local Lambda path, by
//     Distribution and in 4 MiB chunks, in one run (docs/bench/large.md);
//   - gc (gcbench.go, make bench-gc): pier gc over a registry of 11,000
//     blobs (docs/bench/gc.md);
//   - chart (chart.go): the SVG chart of results.md redrawn, nothing run.
//
// Files by concern: targets.go (the registries under test), meter.go
// (samples and phases), proxy.go (the counting proxies), client.go (the
// registry client), workloads.go and sites.go (the workloads),
// registry.go (the registry suite), report.go, cost.go and chart.go (the
// report), lambda.go (the Lambda path's REPORT lines), buckets.go.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

var (
	flagPier      = flag.String("pier", "build/bench/pier", "path of the pier binary")
	flagDist      = flag.String("distribution", "", "path of CNCF Distribution's registry binary (empty: that target is skipped)")
	flagTargets   = flag.String("targets", "pier-local,pier-aws,pier-lambda,pier-lambda-url,distribution-s3,distribution-s3-nocache", "targets to run, comma separated (pier-lambda: scripts/local-api.sh behind its HTTP API front, pier-lambda-url: behind its function URL front) (distribution-s3 has the in-memory blob descriptor cache of its stock config, distribution-s3-nocache none)")
	flagWorkloads = flag.String("workloads", "small-images,big-image,chunked-blob,referrers,tags,sites", "workloads to run, comma separated")
	flagRuns      = flag.Int("runs", 3, "runs of each workload on each target")
	flagJobs      = flag.Int("jobs", 3, "requests a client makes at once: blobs of an image pushed or pulled together, tags and referrers pushed together (3: docker's default)")
	flagImages    = flag.Int("images", 100, "small images pushed and pulled")
	flagBigMiB    = flag.Int("big-mib", 1024, "size of the big image, in MiB")
	flagBigLayers = flag.Int("big-layers", 16, "layers of the big image")
	flagChunkMiB  = flag.Int("chunked-mib", 200, "size of the blob pushed in chunks, in MiB")
	flagChunk     = flag.Int("chunk-mib", 4, "size of each PATCH of the chunked push, in MiB")
	flagReferrers = flag.Int("referrers", 100, "referrers pushed on one subject")
	flagTags      = flag.Int("tags", 10000, "tags pushed and listed")
	flagSuite     = flag.String("suite", "registry", "what to run: registry (the targets and workloads), large (the large push: raw S3, pier push, Distribution, chunks) or gc (pier gc over a large registry), or chart (the chart of the figures in -out, redrawn: no run)")
	flagOut       = flag.String("out", "", "markdown file of the results (default docs/bench/results.md, large.md or gc.md by -suite)")
	flagWork      = flag.String("workdir", "build/bench/work", "directory of the registries' data and logs")
)

func main() {
	flag.Parse()
	start := time.Now()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bench: done in %s\n", time.Since(start).Round(time.Second))
}

func run() error {
	res := &results{data: map[string]map[string][]*sample{}, rss: map[string]map[string]int64{}, phaseWL: map[string]string{}, loadStart: loadAverage()}
	if *flagOut == "" {
		*flagOut = map[string]string{"registry": "docs/bench/results.md", "chart": "docs/bench/results.md", "large": "docs/bench/large.md", "gc": "docs/bench/gc.md"}[*flagSuite]
		if *flagOut == "" {
			return fmt.Errorf("unknown -suite %q: want registry, large or gc", *flagSuite)
		}
	}
	if *flagSuite == "chart" {
		md, err := os.ReadFile(*flagOut)
		if err != nil {
			return err
		}
		return chartFromReport(string(md), strings.TrimSuffix(*flagOut, ".md")+".svg")
	}
	work, err := filepath.Abs(*flagWork)
	if err != nil {
		return err
	}
	os.RemoveAll(work)
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	pier, err := filepath.Abs(*flagPier)
	if err != nil {
		return err
	}

	s3URL, ddbURL := os.Getenv("AWS_ENDPOINT_URL_S3"), os.Getenv("AWS_ENDPOINT_URL_DYNAMODB")
	var s3p, ddbp *countingProxy
	if s3URL != "" && ddbURL != "" {
		if s3p, err = startProxy(s3URL, s3Action, false); err != nil {
			return err
		}
		defer s3p.Close()
		if ddbp, err = startProxy(ddbURL, dynamoAction, true); err != nil {
			return err
		}
		defer ddbp.Close()
	}
	switch *flagSuite {
	case "large":
		return runLarge(res, pier, work, s3p, ddbp)
	case "gc":
		return runGCSuite(res, pier, s3p, ddbp)
	}
	return runRegistry(res, pier, work, s3p, ddbp)
}

// writeReport writes the markdown md to -out and prints it.
func writeReport(md string) error {
	if err := os.MkdirAll(filepath.Dir(*flagOut), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*flagOut, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	fmt.Fprintln(os.Stderr, "bench: wrote", *flagOut)
	return nil
}

func cpus() int         { return runtime.NumCPU() }
func goVersion() string { return runtime.Version() }
