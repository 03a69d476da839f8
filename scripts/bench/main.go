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
// make bench-registry does that.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
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
	flagOut       = flag.String("out", "docs/bench/results.md", "markdown file of the results")
	flagWork      = flag.String("workdir", "build/bench/work", "directory of the registries' data and logs")
)

// sample is one run of one phase.
type sample struct {
	wall     time.Duration
	s3, ddb  map[string]int
	rru, wru float64 // DynamoDB request units consumed
	api      int     // requests to the registry
	metered  int     // the same, as API Gateway meters them (per 512 KiB)
	ops      int
	lat      []time.Duration // of each operation
	lambda   invocations     // of the function, on the Lambda path
}

// results[phase][target] holds the samples.
type results struct {
	phases  []string // in order of first appearance
	targets []string
	notes   []string
	data    map[string]map[string][]*sample
	rss     map[string]map[string]int64 // workload → target → max VmHWM (KiB)
	phaseWL map[string]string           // phase → workload
}

func (r *results) add(phase, target string, s *sample) {
	if r.data[phase] == nil {
		r.data[phase] = map[string][]*sample{}
		r.phases = append(r.phases, phase)
	}
	r.data[phase][target] = append(r.data[phase][target], s)
}

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
	res := &results{data: map[string]map[string][]*sample{}, rss: map[string]map[string]int64{}, phaseWL: map[string]string{}}
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

	md := report(res)
	if err := os.MkdirAll(filepath.Dir(*flagOut), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(*flagOut, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Print(md)
	if png := strings.TrimSuffix(*flagOut, ".md") + ".png"; true {
		if err := chart(res, png); err != nil {
			fmt.Fprintln(os.Stderr, "bench: chart:", err)
		} else {
			fmt.Fprintln(os.Stderr, "bench: wrote", *flagOut, "and", png)
		}
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

// meter times one phase and takes the proxies' counts around it.
type meter struct {
	res              *results
	target, workload string
	run              int // 1, 2, …
	c                *client
	s3p, ddbp        *countingProxy
	reports          *reportLog // the Lambda path's REPORT lines, or nil
}

// untimed runs setup whose requests are not counted.
func (m *meter) untimed(fn func() error) error {
	err := fn()
	m.take()
	return err
}

// take returns what the proxies and the function's log recorded since the
// last take.
func (m *meter) take() *sample {
	s := &sample{s3: map[string]int{}, ddb: map[string]int{}}
	if m.s3p != nil {
		s.s3, _, _ = m.s3p.count.take()
	}
	if m.ddbp != nil {
		s.ddb, s.rru, s.wru = m.ddbp.count.take()
	}
	if m.c != nil {
		s.api, s.metered = m.c.take()
	}
	if m.reports != nil {
		time.Sleep(100 * time.Millisecond) // the runtime reports just after it answers
		s.lambda = m.reports.take()
	}
	return s
}

// phase runs op(0) … op(ops-1), jobs at a time, and records the phase's
// wall time, the latency of each operation and what the proxies counted.
func (m *meter) phase(name string, ops, jobs int, op func(i int) error) error {
	m.take()
	lat := make([]time.Duration, ops)
	t0 := time.Now()
	err := parallel(ops, jobs, func(i int) error {
		t := time.Now()
		err := op(i)
		lat[i] = time.Since(t)
		return err
	})
	wall := time.Since(t0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	s := m.take()
	s.wall, s.ops, s.lat = wall, ops, lat
	m.res.add(name, m.target, s)
	m.res.phaseWL[name] = m.workload
	return nil
}

// target is one registry under test.
type target struct {
	name  string
	aws   bool // whether its storage is behind the counting proxies
	start func(workload string) (*proc, error)
	rssOf string // a descendant process whose peak RSS counts, by name; "": the process itself
	// clean removes what a workload stored, once its process has stopped,
	// so that the big workloads do not fill the disk: many GiB in all.
	clean func(workload string) error
}

type proc struct {
	rssOf     string
	reportLog string // the log of the Lambda runtime's REPORT lines, or ""
	cmd       *exec.Cmd
	base      string
	done      chan error
}

func (p *proc) peakRSS() int64 {
	pid := p.cmd.Process.Pid
	if p.rssOf != "" {
		if pid = descendant(pid, p.rssOf); pid == 0 {
			return 0
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// descendant finds a process under root whose name (comm) is name.
func descendant(root int, name string) int {
	ents, _ := os.ReadDir("/proc")
	parent, comm := map[int]int{}, map[int]string{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		f := strings.Fields(s[j+1:])
		if len(f) < 2 {
			continue
		}
		comm[pid] = s[i+1 : j]
		parent[pid], _ = strconv.Atoi(f[1])
	}
	for pid, c := range comm {
		if c != name {
			continue
		}
		for q := parent[pid]; q > 1; q = parent[q] {
			if q == root {
				return pid
			}
		}
	}
	return 0
}

func (p *proc) alive() error {
	select {
	case err := <-p.done:
		return fmt.Errorf("the registry exited: %v", err)
	default:
		return nil
	}
}

func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// launch starts a registry (args[0]) with extra environment, its output in
// logFile, and waits until GET /v2/ answers 200.
func launch(addr, logFile string, env []string, args ...string) (*proc, error) {
	log, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	p := &proc{cmd: cmd, base: "http://" + addr, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); log.Close() }()
	deadline := time.Now().Add(180 * time.Second)
	for {
		if err := p.alive(); err != nil {
			return nil, fmt.Errorf("%s (log: %s)", err, logFile)
		}
		resp, err := http.Get(p.base + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("no answer from %s within 180 s (log: %s)", addr, logFile)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func pierLocal(pier, work string) *target {
	dir := func(wl string) string { return filepath.Join(work, "pier-local-"+wl) }
	return &target{name: "pier-local", start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		return launch(addr, dir(wl)+".log", []string{"PIER_LOG_LEVEL=warn"},
			pier, "serve", "--auth", "none", "--addr", addr, "--data", dir(wl))
	}, clean: func(wl string) error { return os.RemoveAll(dir(wl)) }}
}

func pierAWS(pier, work string, s3p, ddbp *countingProxy) *target {
	return &target{name: "pier-aws", aws: true, start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		return launch(addr, filepath.Join(work, "pier-aws-"+wl+".log"),
			[]string{"PIER_LOG_LEVEL=warn", "AWS_ENDPOINT_URL_S3=" + s3p.URL, "AWS_ENDPOINT_URL_DYNAMODB=" + ddbp.URL},
			pier, "serve", "--auth", "none", "--addr", addr, "--backend", "aws",
			"--bucket", "pier-bench", "--table-prefix", "pierbench-", "--create-resources")
	}, clean: func(string) error { return emptyBucket("pier-bench") }}
}

// pierLambda runs the local Lambda path (scripts/local-api.sh: the
// bootstrap under the Runtime Interface Emulator behind the local front of
// the target's front door, lambdaTargets[name]), auth off, on the counting
// proxies. Its peak RSS is the function process's (bootstrap).
func pierLambda(name, work string, s3p, ddbp *countingProxy) *target {
	bucket := name + "-bench"
	return &target{name: name, aws: true, rssOf: "bootstrap", start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(work, name+"-"+wl)
		p, err := launch(addr, dir+".log",
			[]string{"AWS_ENDPOINT_URL_S3=" + s3p.URL, "AWS_ENDPOINT_URL_DYNAMODB=" + ddbp.URL,
				"PIER_LOCAL_API_KIND=" + lambdaTargets[name].kind, "PIER_LOCAL_API_ADDR=" + addr, "PIER_LOCAL_API_DIR=" + dir,
				"PIER_BUCKET=" + bucket, "PIER_TABLE_PREFIX=" + strings.ReplaceAll(name, "-", "") + "-", "PIER_AUTH=none"},
			"scripts/local-api.sh")
		if p != nil {
			p.reportLog = filepath.Join(dir, "rie.log")
		}
		return p, err
	}, clean: func(string) error { return emptyBucket(bucket) }}
}

const distBucket = "dist-bench"

func distribution(name, blobCache, bin, work string, s3p *countingProxy) *target {
	return &target{name: name, aws: true, start: func(wl string) (*proc, error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, err
		}
		cache := ""
		if blobCache != "none" {
			cache = "  cache:\n    blobdescriptor: " + blobCache + "\n"
		}
		cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  s3:
    accesskey: %s
    secretkey: %s
    region: us-east-1
    regionendpoint: %s
    forcepathstyle: true
    bucket: %s
    secure: false
    rootdirectory: /
%s  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: %s
`, os.Getenv("AWS_ACCESS_KEY_ID"), os.Getenv("AWS_SECRET_ACCESS_KEY"), s3p.URL, distBucket, cache, addr)
		file := filepath.Join(work, name+"-"+wl+".yml")
		if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
			return nil, err
		}
		return launch(addr, filepath.Join(work, name+"-"+wl+".log"),
			[]string{"OTEL_TRACES_EXPORTER=none"}, bin, "serve", file)
	}, clean: func(string) error { return emptyBucket(distBucket) }}
}

// s3Direct is a client of the local S3 server itself, not through the
// proxy: setup and clean-up are not counted.
func s3Direct(ctx context.Context) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }), nil
}

// emptyBucket deletes every object and multipart upload of a bucket.
func emptyBucket(bucket string) error {
	ctx := context.Background()
	cl, err := s3Direct(ctx)
	if err != nil {
		return err
	}
	ups, err := cl.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: &bucket})
	if err != nil {
		return err
	}
	for _, u := range ups.Uploads {
		cl.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &bucket, Key: u.Key, UploadId: u.UploadId})
	}
	pages := s3.NewListObjectsV2Paginator(cl, &s3.ListObjectsV2Input{Bucket: &bucket})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return err
		}
		if len(page.Contents) == 0 {
			continue
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if _, err := cl.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
			return err
		}
	}
	return nil
}

// createBucket makes Distribution's bucket on the local S3 server (not
// through the proxy: setup is not counted).
func createBucket(name string) error {
	ctx := context.Background()
	cl, err := s3Direct(ctx)
	if err != nil {
		return err
	}
	_, err = cl.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") && !strings.Contains(err.Error(), "BucketAlreadyExists") {
		return err
	}
	return nil
}
