package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// The large push (make bench-large): one image of -big-mib MiB in
// -big-layers layers, pushed in the same run, on the same versitygw and
// DynamoDB Local behind the same counting proxies, four ways:
//
//   - raw: a plain S3 multipart upload of the image's blobs, with pier
//     push's part size and parallelism, no registry at all: the floor;
//   - pier push: the real binary, from an OCI layout on disk, to the local
//     Lambda path (auth on) with direct uploads (presigned URLs to S3,
//     through the S3 proxy, so every byte's request is counted);
//   - distribution: CNCF Distribution's S3 driver, blobs PUT whole;
//   - chunked: the image pushed through the local Lambda path as a stock
//     client does, in PATCHes of the function's OCI-Chunk-Max-Length (4 MiB).
//
// Each run pushes fresh bytes (a seed of its own) and empties the buckets
// afterwards.

// Phases of the large suite, in the order of the report.
const (
	largeRaw     = "raw S3 multipart upload"
	largePier    = "pier push (Lambda path, direct uploads)"
	largeDist    = "distribution-s3 push"
	largeChunked = "chunked push through Lambda (4 MiB PATCHes)"
)

// Targets of the issue (#11) the large suite checks.
const (
	targetTimeRatio     = 1.3  // pier push time / raw multipart time
	targetRequestsRatio = 0.25 // pier push requests / Distribution's
	targetChunked       = 600  // S3+DynamoDB requests of the chunked push
)

const (
	largeRawBucket = "large-raw"
	pierPartSize   = 64 << 20 // the part size Pier's direct uploads ask for
	pierPushJobs   = 4        // pier push --jobs default
)

func largeLabel() string {
	return fmt.Sprintf("%d MiB image, %d layers", *flagBigMiB, *flagBigLayers)
}

// runLarge runs the large suite and writes its report to -out.
func runLarge(res *results, pier, work string, s3p, ddbp *countingProxy) error {
	if s3p == nil {
		return fmt.Errorf("the large suite needs the local AWS servers: run it under scripts/with-local-aws.sh")
	}
	if *flagDist == "" {
		return fmt.Errorf("the large suite needs -distribution (scripts/tools.sh distribution)")
	}
	for _, b := range []string{largeRawBucket, distBucket} {
		if err := createBucket(b); err != nil {
			return fmt.Errorf("create bucket %s: %w", b, err)
		}
	}
	// The Lambda path as deployed: auth on (an open registry keeps
	// the state of a chunked upload in its session item; with auth on it
	// travels signed in the upload's Location).
	pass, err := addUser(pier, "pier-lambda-bench", "pierlambda-")
	if err != nil {
		return err
	}
	lambda := pierLambda("pier-lambda", work, s3p, ddbp, "PIER_AUTH=token")
	lp, err := lambda.start("large")
	if err != nil {
		return fmt.Errorf("start the Lambda path: %w", err)
	}
	defer lp.stop()
	dist := distribution("distribution-s3", "inmemory", *flagDist, work, s3p)
	dp, err := dist.start("large")
	if err != nil {
		return fmt.Errorf("start Distribution: %w", err)
	}
	defer dp.stop()
	raw, err := proxiedS3(context.Background(), s3p.URL)
	if err != nil {
		return err
	}
	lc, dc := newClient(lp.base), newClient(dp.base)
	reports := &reportLog{path: lp.reportLog}
	reports.take() // the cold start's invocations are not the push's
	res.targets = []string{largeRaw, largePier, largeDist, largeChunked}
	for run := 1; run <= *flagRuns; run++ {
		seed := uint64(run)<<40 | uint64(time.Now().UnixNano()&0xffffff)
		dir := filepath.Join(work, fmt.Sprintf("large-layout-%d", run))
		im, err := largeImage(seed, dir)
		if err != nil {
			return err
		}
		chunkedImage := makeImage(seed^0xc0ffee, layerSizes()...)
		m := &meter{res: res, workload: "large", run: run, s3p: s3p, ddbp: ddbp}
		steps := []struct {
			target string
			op     func() error
			m      *meter
		}{
			{largeRaw, func() error { return rawMultipart(raw, fmt.Sprintf("run-%d/", run), im) }, m},
			{largePier, func() error {
				return pierPush(pier, work, dir, strings.TrimPrefix(lp.base, "http://"), fmt.Sprintf("bench/large-%d:v1", run), pass, len(im.layers))
			}, &meter{res: res, workload: "large", run: run, s3p: s3p, ddbp: ddbp, reports: reports}},
			{largeDist, func() error { return dc.pushImage(fmt.Sprintf("bench/large-%d", run), "v1", im) }, m},
			{largeChunked, func() error {
				// Fresh bytes: the blobs of the pier push are in this registry already.
				repo := fmt.Sprintf("bench/chunked-%d", run)
				if err := lc.login(largeUser, pass, repo); err != nil {
					return err
				}
				return lc.pushImage(repo, "v1", chunkedImage)
			}, &meter{res: res, workload: "large", run: run, s3p: s3p, ddbp: ddbp, c: lc, reports: reports}},
		}
		for _, st := range steps {
			fmt.Fprintf(os.Stderr, "bench: large run %d: %s\n", run, st.target)
			st.m.target = st.target
			if err := st.m.phase(largeLabel(), 1, 1, func(int) error { return st.op() }); err != nil {
				return fmt.Errorf("run %d: %s: %w", run, st.target, err)
			}
			s := res.data[largeLabel()][st.target]
			fmt.Fprintf(os.Stderr, "bench: large run %d: %s: %s, %d requests\n", run, st.target, dur(s[len(s)-1].wall), requests(s[len(s)-1]))
		}
		os.RemoveAll(dir)
		for _, b := range []string{largeRawBucket, lambda.name + "-bench", distBucket} {
			if err := emptyBucket(b); err != nil {
				return fmt.Errorf("empty %s: %w", b, err)
			}
		}
	}
	return writeReport(largeReport(res))
}

func layerSizes() []int {
	sizes := make([]int, *flagBigLayers)
	for i := range sizes {
		sizes[i] = (*flagBigMiB << 20) / len(sizes)
	}
	return sizes
}

// requests is a sample's S3 and DynamoDB requests.
func requests(s *sample) int {
	n := 0
	for _, v := range s.s3 {
		n += v
	}
	for _, v := range s.ddb {
		n += v
	}
	return n
}

// largeImage makes the image of a run and writes it as an OCI image layout
// in dir, tagged v1.
func largeImage(seed uint64, dir string) (image, error) {
	im := makeImage(seed, layerSizes()...)
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return im, err
	}
	for _, b := range append([][]byte{im.config, im.manifest}, im.layers...) {
		if err := os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(digestOf(b), "sha256:")), b, 0o644); err != nil {
			return im, err
		}
	}
	md := desc(mtManifest, im.manifest)
	md.Annotations = map[string]string{"org.opencontainers.image.ref.name": "v1"}
	index, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mtIndex, "manifests": []descriptor{md}})
	if err := os.WriteFile(filepath.Join(dir, "index.json"), index, 0o644); err != nil {
		return im, err
	}
	return im, os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644)
}

// proxiedS3 is an S3 client of the counting proxy that sends payloads
// unsigned and without checksums, as a presigned PUT does: the cheapest
// way for a client to put bytes in S3.
func proxiedS3(ctx context.Context, endpoint string) (*s3.Client, error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, err
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.UsePathStyle = true
		o.BaseEndpoint = aws.String(endpoint)
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}), nil
}

// rawMultipart uploads the blobs of im to the raw bucket under prefix,
// each by a multipart upload of pierPartSize parts, pierPushJobs parts at
// a time over the whole image, as pier push sends them.
func rawMultipart(cl *s3.Client, prefix string, im image) error {
	ctx := context.Background()
	blobs := append([][]byte{im.config}, im.layers...)
	type part struct {
		blob, n int
	}
	ids := make([]*string, len(blobs))
	var parts []part
	for i, b := range blobs {
		key := prefix + digestOf(b)
		out, err := cl.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(largeRawBucket), Key: &key})
		if err != nil {
			return fmt.Errorf("create multipart upload: %w", err)
		}
		ids[i] = out.UploadId
		for n := 0; n == 0 || n*pierPartSize < len(b); n++ {
			parts = append(parts, part{i, n})
		}
	}
	etags := make([][]types.CompletedPart, len(blobs))
	for i, b := range blobs {
		etags[i] = make([]types.CompletedPart, (len(b)+pierPartSize-1)/pierPartSize)
		if len(etags[i]) == 0 {
			etags[i] = make([]types.CompletedPart, 1)
		}
	}
	if err := parallel(len(parts), pierPushJobs, func(j int) error {
		p := parts[j]
		b := blobs[p.blob]
		body := b[p.n*pierPartSize : min(len(b), (p.n+1)*pierPartSize)]
		out, err := cl.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(largeRawBucket), Key: aws.String(prefix + digestOf(b)),
			UploadId: ids[p.blob], PartNumber: aws.Int32(int32(p.n + 1)), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))})
		if err != nil {
			return fmt.Errorf("upload part: %w", err)
		}
		etags[p.blob][p.n] = types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(p.n + 1))}
		return nil
	}); err != nil {
		return err
	}
	return parallel(len(blobs), pierPushJobs, func(i int) error {
		_, err := cl.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(largeRawBucket),
			Key: aws.String(prefix + digestOf(blobs[i])), UploadId: ids[i], MultipartUpload: &types.CompletedMultipartUpload{Parts: etags[i]}})
		if err != nil {
			return fmt.Errorf("complete multipart upload: %w", err)
		}
		return nil
	})
}

// largeUser is the identity that pushes to the Lambda path.
const largeUser = "bench"

// addUser makes the identity largeUser, who may push anywhere, in the
// metadata of the Lambda path (bucket and table prefix), straight on the
// local servers (not counted), and returns its password.
func addUser(pier, bucket, tablePrefix string) (string, error) {
	pass := fmt.Sprintf("%x", randomBytes(uint64(time.Now().UnixNano()), 16))
	cmd := exec.Command(pier, "user", "add", largeUser, "--password-stdin", "--grant", "*=pull,push,delete")
	cmd.Env = append(os.Environ(), "PIER_BACKEND=aws", "PIER_BUCKET="+bucket, "PIER_TABLE_PREFIX="+tablePrefix, "PIER_CREATE_RESOURCES=true")
	cmd.Stdin = strings.NewReader(pass + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("pier user add: %w\n%s", err, out)
	}
	return pass, nil
}

// pierPush runs `pier push` of the layout in dir to host/ref as largeUser,
// with a home of its own (the credentials in its ~/.docker/config.json,
// no upload state of an earlier push), and checks from its log that each
// of the layers went by a direct upload.
func pierPush(pier, work, dir, host, ref, pass string, layers int) error {
	home := filepath.Join(work, "pier-push-home")
	os.RemoveAll(home)
	docker := filepath.Join(home, ".docker")
	if err := os.MkdirAll(docker, 0o700); err != nil {
		return err
	}
	cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{host: map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte(largeUser + ":" + pass))}}})
	if err := os.WriteFile(filepath.Join(docker, "config.json"), cfg, 0o600); err != nil {
		return err
	}
	cmd := exec.Command(pier, "push", "oci:"+dir+":v1", host+"/"+ref)
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CACHE_HOME="+filepath.Join(home, ".cache"), "DOCKER_CONFIG="+docker)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("pier push: %w\n%s", err, stderr.String())
	}
	if n := strings.Count(stderr.String(), "pushed direct"); n != layers {
		return fmt.Errorf("pier push sent %d blobs by direct upload, want the %d layers:\n%s", n, layers, stderr.String())
	}
	return nil
}

// loadAverage is the machine's 1, 5 and 15 minute load averages, as
// uptime prints them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], ", ")
}

// largeReport is the markdown of the large suite (docs/bench/large.md).
func largeReport(r *results) string {
	var b strings.Builder
	ph := largeLabel()
	fmt.Fprintf(&b, "# Large push: pier push, raw S3, Distribution, chunks\n\n")
	fmt.Fprintf(&b, "Written by `make bench-large` (scripts/bench -suite large) on %s, %d CPUs, %s; runs: %d, each of fresh bytes. "+
		"Load average (1, 5, 15 min) %s at the start, %s at the end: the machine is shared with other work, so wall times vary from run to run.\n\n",
		time.Now().UTC().Format("2006-01-02"), cpus(), goVersion(), *flagRuns, r.loadStart, loadAverage())
	fmt.Fprintf(&b, `One %s (layers of %s), pushed in the same run four ways, on DynamoDB Local and versitygw behind the
counting proxies of the registry benchmarks (every S3 and DynamoDB request counted by API action, presigned ones included):

- **%s**: no registry, the floor: each blob by CreateMultipartUpload, UploadPart (%d MiB parts, pier push's part size),
  CompleteMultipartUpload, %d parts at a time (pier push's --jobs), unsigned payload and no checksum, as a presigned PUT sends it.
- **%s**: `+"`pier push oci:DIR:v1`"+` (the real binary, the layout on disk) to the local Lambda path (`+"`scripts/local-api.sh`"+`,
  HTTP API front, auth on as deployed: pier push logs in with the credentials of a ~/.docker/config.json): each layer by a
  direct upload, its bytes PUT to presigned S3 URLs (through the S3 proxy: counted), in parts or in one PUT as the registry offers.
- **%s**: CNCF Distribution v3.1.2, S3 driver, each blob in one PUT by the bench client, %d at a time.
- **%s**: the same image (fresh bytes) pushed to the Lambda path as stock clients do, in PATCHes of the function's
  OCI-Chunk-Max-Length (4 MiB), %d blobs at a time, after a login at the token endpoint (auth on: the upload's state
  travels signed in its Location, not in a session item).

Wall time is the whole push, median [min–max] over the runs; requests are per push (their mean over the runs).

| path | wall time, median [min–max] | S3 + DynamoDB requests | S3 requests | DynamoDB requests | Lambda invocations |
| --- | --- | --- | --- | --- | --- |
`, largeLabel(), fmt.Sprintf("%.0f MiB", float64(*flagBigMiB)/float64(*flagBigLayers)),
		largeRaw, pierPartSize>>20, pierPushJobs, largePier, largeDist, *flagJobs, largeChunked, *flagJobs)
	total := map[string]float64{}
	median := map[string]time.Duration{}
	for _, t := range r.targets {
		ss := r.data[ph][t]
		if len(ss) == 0 {
			fmt.Fprintf(&b, "| %s | not run | | | | |\n", t)
			continue
		}
		med, lo, hi := walls(ss)
		a, aby := perOp(ss, func(s *sample) map[string]int { return s.s3 })
		d, dby := perOp(ss, func(s *sample) map[string]int { return s.ddb })
		total[t], median[t] = a+d, med
		inv := "–"
		if t == largePier || t == largeChunked {
			var n invocations
			for _, s := range ss {
				n.add(s.lambda)
			}
			inv = num(float64(n.n) / float64(len(ss)))
		}
		fmt.Fprintf(&b, "| %s | %s [%s–%s] | **%s** | %s | %s | %s |\n", t, dur(med), dur(lo), dur(hi), num(a+d),
			countCell(true, a, aby), countCell(true, d, dby), inv)
	}
	b.WriteString("\n## The targets of issue 11\n\n| measure | measured | target | met |\n| --- | --- | --- | --- |\n")
	met := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "**no**"
	}
	if median[largeRaw] > 0 && median[largePier] > 0 {
		ratio := median[largePier].Seconds() / median[largeRaw].Seconds()
		// Each run's own ratio: its two pushes ran a few seconds apart,
		// under about the same load.
		var each []string
		raw, pier := r.data[ph][largeRaw], r.data[ph][largePier]
		for i := range min(len(raw), len(pier)) {
			each = append(each, fmt.Sprintf("%.2fx", pier[i].wall.Seconds()/raw[i].wall.Seconds()))
		}
		fmt.Fprintf(&b, "| pier push time / raw multipart time | %.2fx (medians %s / %s; run by run %s) | ≤ %.1fx | %s |\n", ratio,
			dur(median[largePier]), dur(median[largeRaw]), strings.Join(each, ", "), targetTimeRatio, met(ratio <= targetTimeRatio))
	}
	if total[largeDist] > 0 && total[largePier] > 0 {
		ratio := total[largePier] / total[largeDist]
		fmt.Fprintf(&b, "| pier push requests / Distribution's | %.2f (%s / %s) | ≤ %.2f | %s |\n", ratio,
			num(total[largePier]), num(total[largeDist]), targetRequestsRatio, met(ratio <= targetRequestsRatio))
	}
	if total[largeChunked] > 0 {
		fmt.Fprintf(&b, "| requests of the 4 MiB chunked push | %s | ≤ %d | %s |\n", num(total[largeChunked]), targetChunked,
			met(total[largeChunked] <= targetChunked))
	}
	b.WriteString("\n")
	return b.String()
}
