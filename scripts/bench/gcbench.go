package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/server"
)

// The gc suite (make bench-gc): a registry of -gc-blobs blobs on the aws
// backend (DynamoDB Local and versitygw), built in-process through the
// registry's own code (server.New: the same writes a push makes, without
// HTTP), of which half are then left unreferenced (their manifests
// deleted, their links removed); then `pier gc` (the real binary) runs
// four times on the counting proxies: a dry run, a run that marks, a run
// after the settle time that deletes, and a run that finds nothing to do.

var (
	flagGCBlobs    = flag.Int("gc-blobs", 10000, "layer and config blobs in the registry of the gc suite (10 per image, and the manifest's body)")
	flagGCSettle   = flag.Duration("gc-settle", 5*time.Second, "the gc suite's --gc-settle (the wait between the marking run and the deleting one)")
	flagGCParallel = flag.Int("gc-parallel", 32, "writes at once while the gc suite builds its registry")
)

const (
	gcBucket      = "pier-gc-bench"
	gcTablePrefix = "piergcbench-"
	gcRepos       = 100 // repositories the images are spread over
	gcBlobSize    = 512 // bytes of each layer and config
)

// gcRun is one `pier gc` run of the suite.
type gcRun struct {
	name string
	args []string
}

// runGCSuite builds the registry, runs gc on it and writes the report.
func runGCSuite(res *results, pier string, s3p, ddbp *countingProxy) error {
	if s3p == nil {
		return fmt.Errorf("the gc suite needs the local AWS servers: run it under scripts/with-local-aws.sh")
	}
	t0 := time.Now()
	images, garbage, err := buildGCRegistry()
	if err != nil {
		return fmt.Errorf("build the registry: %w", err)
	}
	res.gcBuild = fmt.Sprintf("%d images, %d blobs under blobs/ (a config, 9 layers and the manifest's body each), %d of them then unreferenced, built in %s",
		images, images*11, garbage, dur(time.Since(t0)))
	fmt.Fprintln(os.Stderr, "bench: gc:", res.gcBuild)
	time.Sleep(2 * time.Second) // past the 1 s grace
	settle := "--gc-settle=" + flagGCSettle.String()
	runs := []gcRun{
		{"dry run (`--dry-run`)", []string{"--dry-run"}},
		{"run 1: marks", nil},
		{"run 2, after the settle: deletes", nil},
		{"run 3: nothing to do", nil},
	}
	m := &meter{res: res, workload: "gc", run: 1, s3p: s3p, ddbp: ddbp}
	for i, r := range runs {
		if i == 2 {
			time.Sleep(*flagGCSettle)
		}
		args := append([]string{"gc", "--json", "--backend", "aws", "--bucket", gcBucket, "--table-prefix", gcTablePrefix,
			"--gc-grace=1s", "--gc-leftover-grace=1s", settle}, r.args...)
		var rep struct {
			Blobs, Links, Manifests int
			Deleted, Marked         []json.RawMessage
			Freed                   int64
		}
		m.target = r.name
		fmt.Fprintf(os.Stderr, "bench: gc: %s\n", r.name)
		if err := m.phase("gc", 1, 1, func(int) error {
			cmd := exec.Command(pier, args...)
			cmd.Env = append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3p.URL, "AWS_ENDPOINT_URL_DYNAMODB="+ddbp.URL, "PIER_LOG_LEVEL=warn")
			var out, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("pier gc: %w\n%s", err, stderr.String())
			}
			return json.Unmarshal(out.Bytes(), &rep)
		}); err != nil {
			return err
		}
		res.targets = append(res.targets, r.name)
		res.gcReports = append(res.gcReports, fmt.Sprintf("%d blobs, %d links, %d manifests scanned; %d marked; %d deleted (%d bytes)",
			rep.Blobs, rep.Links, rep.Manifests, len(rep.Marked), len(rep.Deleted), rep.Freed))
	}
	return writeReport(gcReport(res))
}

// buildGCRegistry pushes -gc-blobs/10 images of a config and 9 layers
// each, spread over gcRepos repositories, each under a tag, through the
// registry in-process; then deletes every other image (its manifest, and
// its repository's links to its blobs). It returns the images pushed and
// the blobs left unreferenced (a manifest's body is a blob too).
func buildGCRegistry() (images, garbage int, err error) {
	ctx := context.Background()
	fs := flag.NewFlagSet("gc-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg, err := config.Parse(fs, []string{"--backend", "aws", "--bucket", gcBucket, "--table-prefix", gcTablePrefix,
		"--create-resources", "--auth", "none"}, os.Getenv)
	if err != nil {
		return 0, 0, err
	}
	srv, err := server.New(ctx, cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)), registry.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer srv.Close()
	reg := srv.Registry
	images = *flagGCBlobs / 10
	seed := uint64(time.Now().UnixNano())
	var done atomic.Int64
	err = parallel(images, *flagGCParallel, func(i int) error {
		repo, tag := fmt.Sprintf("gc/repo-%03d", i%gcRepos), fmt.Sprintf("v%d", i/gcRepos)
		sizes := make([]int, 9)
		for j := range sizes {
			sizes[j] = gcBlobSize
		}
		im := makeImage(seed+uint64(i), sizes...)
		for _, b := range append([][]byte{im.config}, im.layers...) {
			if err := reg.PutBlob(ctx, repo, digest.FromBytes(b), bytes.NewReader(b)); err != nil {
				return err
			}
		}
		if _, err := reg.PutManifest(ctx, repo, oci.Reference{Tag: tag}, mtManifest, im.manifest, nil); err != nil {
			return fmt.Errorf("put manifest: %w", err)
		}
		if i%2 == 1 {
			if err := reg.DeleteManifest(ctx, repo, oci.Reference{Digest: digest.FromBytes(im.manifest)}); err != nil {
				return fmt.Errorf("delete manifest: %w", err)
			}
			for _, b := range append([][]byte{im.config}, im.layers...) {
				if err := reg.DeleteBlob(ctx, repo, digest.FromBytes(b)); err != nil {
					return fmt.Errorf("unlink blob: %w", err)
				}
			}
		}
		if n := done.Add(1); n%1000 == 0 {
			fmt.Fprintf(os.Stderr, "bench: gc: %d images pushed\n", n)
		}
		return nil
	})
	return images, (images / 2) * 11, err
}

// gcReport is the markdown of the gc suite (docs/bench/gc.md).
func gcReport(r *results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Garbage collection over %d blobs\n\n", *flagGCBlobs/10*11)
	fmt.Fprintf(&b, "Written by `make bench-gc` (scripts/bench -suite gc) on %s, %d CPUs, %s. "+
		"Load average (1, 5, 15 min) %s at the start, %s at the end: the machine is shared with other work.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpus(), goVersion(), r.loadStart, loadAverage())
	fmt.Fprintf(&b, `The registry: %s, on the aws backend (DynamoDB Local and versitygw), through the registry's own code
in-process (the writes a push makes, without HTTP): %d repositories, each image a config and 9 layers of %d bytes under a tag
of its own; every other image then deleted (its manifest, and its repository's links to its blobs).
Then `+"`pier gc --backend aws --gc-grace=1s --gc-settle=%s`"+` (the real binary) runs four times, on the counting proxies
of the registry benchmarks (every S3 and DynamoDB request counted by API action). Run 2 starts after the settle time.
Wall time is the whole process, start to exit.

| run | wall time | what it found and did | S3 requests | DynamoDB requests | DynamoDB units |
| --- | --- | --- | --- | --- | --- |
`, r.gcBuild, gcRepos, gcBlobSize, flagGCSettle.String())
	for i, t := range r.targets {
		ss := r.data["gc"][t]
		if len(ss) == 0 {
			continue
		}
		a, aby := perOp(ss, func(s *sample) map[string]int { return s.s3 })
		d, dby := perOp(ss, func(s *sample) map[string]int { return s.ddb })
		rru, wru := perOpUnits(ss)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s RRU, %s WRU |\n", t, dur(ss[0].wall), r.gcReports[i],
			countCell(true, a, aby), countCell(true, d, dby), num(rru), num(wru))
	}
	b.WriteString("\n")
	return b.String()
}
