package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/faultproxy"
	"github.com/pier-registry/pier/internal/randid"
)

// faultRate is the share of S3 and DynamoDB requests that meet a fault in
// TestFaultInjection.
const faultRate = 0.03

// TestFaultInjection runs pushes (monolithic and chunked blobs, manifests
// with a tag) and pulls against `pier serve --backend aws` whose S3 and
// DynamoDB requests go through proxies that inject server errors,
// throttling, connections dropped before and after the service applied
// the request, and slow answers (internal/faultproxy). Then, without
// faults: every push the client was told succeeded pulls back whole,
// every object under blobs/ hashes to its name, and the registry serves.
// make test runs it on its own (make faults) and prints its report line.
func TestFaultInjection(t *testing.T) {
	awstest.Require(t)
	s3p := startFaultProxy(t, faultproxy.S3, "AWS_ENDPOINT_URL_S3", 1)
	ddbp := startFaultProxy(t, faultproxy.DynamoDB, "AWS_ENDPOINT_URL_DYNAMODB", 2)
	flags := awsBackendFlags(t)
	bucket := flags[3]
	env := append(os.Environ(), "AWS_ENDPOINT_URL_S3="+s3p.URL, "AWS_ENDPOINT_URL_DYNAMODB="+ddbp.URL)
	s := startServerEnv(t, env, t.TempDir(), flags...) // no faults while it creates its bucket and table
	s3p.SetRate(faultRate)
	ddbp.SetRate(faultRate)

	const rounds = 24
	var (
		acked   []pushed
		failed  int
		pulls   int
		pullErr int
	)
	for i := range rounds {
		repo := fmt.Sprintf("faults/app%d", i%3)
		p, err := pushImage(s, repo, fmt.Sprintf("v%d", i))
		if err != nil {
			failed++
			t.Logf("push %d failed (as a client would see it): %v", i, err)
			continue
		}
		acked = append(acked, p)
		// A pull right after, through the faults, with one retry as
		// clients make.
		for d := range p.blobs {
			pulls++
			if _, err := retry(func() ([]byte, error) { return pullBlob(s, repo, d) }); err != nil {
				pullErr++
				t.Logf("pull of %s under faults failed: %v", d, err)
			}
		}
	}
	s3p.SetRate(0)
	ddbp.SetRate(0)

	lost := 0
	for _, p := range acked {
		if err := p.check(s); err != nil {
			lost++
			t.Errorf("acknowledged push %s:%s does not pull back whole: %v", p.repo, p.tag, err)
		}
	}
	objects, corrupt := checkBlobObjects(t, bucket)
	if _, err := pushImage(s, "faults/after", "ok"); err != nil {
		t.Errorf("after the faults, a push fails: %v", err)
	}
	report := fmt.Sprintf("fault injection (%.0f%% of S3 and DynamoDB requests): %d pushes acknowledged, %d failed, %d lost, %d of %d objects under blobs/ corrupt; pulls under faults: %d of %d failed; S3 proxy: %s; DynamoDB proxy: %s",
		faultRate*100, len(acked), failed, lost, corrupt, objects, pullErr, pulls, s3p, ddbp)
	t.Log(report)
	if corrupt > 0 || lost > 0 {
		t.Errorf("%d lost, %d corrupt", lost, corrupt)
	}
	// Through the SDK's retries most requests survive a few percent of
	// faults: a push makes about 15 AWS requests.
	if len(acked) < rounds*3/4 {
		t.Errorf("only %d of %d pushes succeeded under %.0f%% faults: the retries do not hold", len(acked), rounds, faultRate*100)
	}
	// Each proxy met every kind of fault: what the report line claims.
	for _, p := range []*faultproxy.Proxy{s3p, ddbp} {
		if _, inj := p.Stats(); len(inj) < len(faultproxy.Kinds()) {
			t.Errorf("the proxy of %s injected only %v: not every kind of fault was tested", p.URL, inj)
		}
	}
}

// startFaultProxy starts a fault proxy (rate 0 until the test sets it) in
// front of the service whose endpoint is in the environment variable env.
func startFaultProxy(t *testing.T, service faultproxy.Service, env string, seed uint64) *faultproxy.Proxy {
	t.Helper()
	target := os.Getenv(env)
	if target == "" {
		t.Fatalf("%s is not set", env)
	}
	p, err := faultproxy.Start(service, target, faultproxy.Options{Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// pushed is a push the registry acknowledged: an image of two layers (one
// pushed whole, one in chunks) and a config, tagged.
type pushed struct {
	repo, tag, manifest string
	blobs               map[string][]byte // digest -> bytes
}

// pushImage pushes a new image to repo:tag as a client does, without
// retries: any request that fails fails the push.
func pushImage(s *instance, repo, tag string) (pushed, error) {
	p := pushed{repo: repo, tag: tag, blobs: map[string][]byte{}}
	whole, chunked, cfg := randomBytes(200<<10), randomBytes(2<<20+12345), []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}`)
	for _, b := range [][]byte{whole, cfg} {
		d := digestOf(b)
		if _, err := expect(s, "POST", "/v2/"+repo+"/blobs/uploads/?digest="+d, b, http.StatusCreated); err != nil {
			return p, fmt.Errorf("monolithic push: %w", err)
		}
		p.blobs[d] = b
	}
	d, err := pushInChunks(s, repo, chunked, 1<<20)
	if err != nil {
		return p, fmt.Errorf("chunked push: %w", err)
	}
	p.blobs[d] = chunked
	desc := func(mt string, b []byte) map[string]any {
		return map[string]any{"mediaType": mt, "digest": digestOf(b), "size": len(b)}
	}
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        desc("application/vnd.oci.image.config.v1+json", cfg),
		"layers": []any{
			desc("application/vnd.oci.image.layer.v1.tar", whole),
			desc("application/vnd.oci.image.layer.v1.tar", chunked),
		},
	})
	if _, err := expect(s, "PUT", "/v2/"+repo+"/manifests/"+tag, m, http.StatusCreated, "Content-Type", "application/vnd.oci.image.manifest.v1+json"); err != nil {
		return p, fmt.Errorf("manifest push: %w", err)
	}
	p.manifest = digestOf(m)
	return p, nil
}

// pushInChunks pushes blob in PATCHes of size bytes, then PUT ?digest=.
func pushInChunks(s *instance, repo string, blob []byte, size int) (string, error) {
	resp, err := expect(s, "POST", "/v2/"+repo+"/blobs/uploads/", nil, http.StatusAccepted)
	if err != nil {
		return "", err
	}
	loc := resp.Header.Get("Location")
	for off := 0; off < len(blob); off += size {
		last := min(off+size, len(blob))
		resp, err = expect(s, "PATCH", loc, blob[off:last], http.StatusAccepted,
			"Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("%d-%d", off, last-1))
		if err != nil {
			return "", err
		}
		loc = resp.Header.Get("Location")
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	d := digestOf(blob)
	_, err = expect(s, "PUT", loc+sep+"digest="+d, nil, http.StatusCreated)
	return d, err
}

// expect sends a request to s (path, or an absolute URL) and returns its
// answer, or an error unless it has status want.
func expect(s *instance, method, path string, body []byte, want int, hdr ...string) (*http.Response, error) {
	url := path
	if !strings.HasPrefix(path, "http") {
		url = s.url(path)
	}
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return resp, fmt.Errorf("%s %s: %s %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	return resp, nil
}

// pullBlob GETs blob d of repo through the presigned redirect and checks
// that the bytes hash to d.
func pullBlob(s *instance, repo, d string) ([]byte, error) {
	resp, err := expect(s, "GET", "/v2/"+repo+"/blobs/"+d, nil, http.StatusTemporaryRedirect)
	if err != nil {
		return nil, err
	}
	got, err := http.Get(resp.Header.Get("Location"))
	if err != nil {
		return nil, err
	}
	defer got.Body.Close()
	b, err := io.ReadAll(got.Body)
	if err != nil || got.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET presigned URL: %s %v", got.Status, err)
	}
	if digestOf(b) != d {
		return nil, fmt.Errorf("blob %s: %d bytes that hash to %s", d, len(b), digestOf(b))
	}
	return b, nil
}

// retry calls f again once when it fails, as clients retry a pull.
func retry(f func() ([]byte, error)) ([]byte, error) {
	b, err := f()
	if err != nil {
		time.Sleep(100 * time.Millisecond)
		b, err = f()
	}
	return b, err
}

// check pulls p back: the tag names the manifest, and every blob is whole.
func (p pushed) check(s *instance) error {
	resp, err := expect(s, "GET", "/v2/"+p.repo+"/manifests/"+p.tag, nil, http.StatusOK, "Accept", "application/vnd.oci.image.manifest.v1+json")
	if err != nil {
		return err
	}
	if got := resp.Header.Get("Docker-Content-Digest"); got != p.manifest {
		return fmt.Errorf("tag %s names %s, want %s", p.tag, got, p.manifest)
	}
	for d, want := range p.blobs {
		got, err := pullBlob(s, p.repo, d)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("blob %s differs", d)
		}
	}
	return nil
}

// checkBlobObjects reads every object under blobs/ in bucket straight from
// the local S3 server and returns how many there are and how many do not
// hash to their name.
func checkBlobObjects(t *testing.T, bucket string) (objects, corrupt int) {
	t.Helper()
	ctx := context.Background()
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	pages := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("blobs/")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page.Contents {
			objects++
			key := aws.ToString(o.Key)
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			io.Copy(h, out.Body)
			out.Body.Close()
			if want := "blobs/sha256/" + fmt.Sprintf("%x", h.Sum(nil)); key != want && strings.HasPrefix(key, "blobs/sha256/") {
				corrupt++
				t.Errorf("object %s hashes to %s", key, want)
			}
		}
	}
	return objects, corrupt
}

func randomBytes(n int) []byte { return randid.Bytes(n) }

// startServerEnv is startServer with the environment env for pier serve.
func startServerEnv(t *testing.T, env []string, data string, flags ...string) *instance {
	t.Helper()
	return startServerCmd(t, func(c *exec.Cmd) { c.Env = env }, data, flags...)
}
