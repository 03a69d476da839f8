package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/awstest"
)

// The direct path of pier push (docs/direct-upload.md) on the aws
// backend and the local Lambda path.

// offersDirect reports whether the registry at base (http://host) lists
// the _pier/direct-upload extension.
func offersDirect(t *testing.T, base string) bool {
	t.Helper()
	resp, body := httpGet(t, base+"/v2/_oci/ext/discover")
	var d struct {
		Extensions []struct{ Name string } `json:"extensions"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &d) != nil {
		t.Fatalf("GET /v2/_oci/ext/discover: %s %s", resp.Status, body)
	}
	for _, e := range d.Extensions {
		if e.Name == "_pier/direct-upload" {
			return true
		}
	}
	return false
}

// requireDirect skips the test when the registry does not offer direct
// uploads (the server side of the protocol is not in this build).
func requireDirect(t *testing.T, base string) {
	t.Helper()
	if !offersDirect(t, base) {
		t.Skip("the registry does not list _pier/direct-upload in /v2/_oci/ext/discover: " +
			"this build has no server side of direct uploads (branch uploads-direct)")
	}
}

// A layer of two parts goes straight to S3 by its presigned part URLs,
// none of its bytes through the registry; a part cut off on the way to
// S3 is sent again; the end of the upload, answered 202 Retry-After while
// the registry hashes the parts (--copy-budget 0), is asked again until
// the blob is in place; the image pulls back byte for byte.
func TestPushDirect(t *testing.T) {
	awstest.Require(t)
	// The registry presigns part URLs for this front of the S3 server, so
	// that the test sees and cuts the parts on their way.
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	s3URL, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s3 := startFront(t, "s3", s3URL.Host)
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://"+s3.host)
	s := awsServer(t, "--copy-budget", "0")
	requireDirect(t, s.url(""))
	reg := startFront(t, "registry", s.addr)

	dir := t.TempDir()
	img := rawImage(t, dir, "v1", 70<<20) // 64 MiB parts: two
	want := imageContent(t, img)
	isPart := func(r *http.Request) bool { return r.Method == http.MethodPut && r.URL.Query().Get("partNumber") != "" }
	s3.arm("cut", 0, isPart)

	m3, mr := s3.mark(), reg.mark()
	dest := reg.host + "/direct/app:v1"
	// --direct-put-max 0: in parts, not in one PUT (TestPushDirectPut).
	r := mustPush(t, pushHome(t, nil), dest, want.root, "push", "--direct-put-max", "0", "oci:"+dir+":v1", dest)
	checkPulled(t, s.url(""), "direct/app", "v1", want)

	var direct, patches, finishes, waits int
	var throughRegistry int64
	for _, e := range reg.since(mr) {
		throughRegistry += e.sent
		switch {
		case e.method == http.MethodPost && e.header.Get("Pier-Upload-Mode") == "direct":
			direct++
		case e.method == http.MethodPatch:
			patches++
		case e.method == http.MethodPut && strings.Contains(e.uri, "digest=") && e.status == http.StatusCreated:
			finishes++
		case e.method == http.MethodPut && strings.Contains(e.uri, "digest=") && e.status == http.StatusAccepted:
			waits++
		}
	}
	parts := map[string]int{}
	for _, e := range s3.since(m3) {
		if e.method == http.MethodPut && strings.Contains(e.uri, "partNumber=") {
			u, _ := url.Parse(strings.Fields(e.uri)[0])
			if e.fault == "" && e.status == http.StatusOK {
				parts[u.Query().Get("partNumber")]++
			}
		}
	}
	if direct != 1 || patches != 0 || throughRegistry > 1<<20 || len(parts) != 2 || finishes < 2 {
		t.Errorf("%d direct upload (want 1), %d PATCH (want none), %d bytes through the registry, parts sent %v (want 1 and 2), %d uploads finished\nstderr:\n%s\nregistry:\n%s\ns3:\n%s",
			direct, patches, throughRegistry, parts, finishes, r.stderr, exchanges(reg.since(mr)), exchanges(s3.since(m3)))
	}
	if waits == 0 {
		t.Errorf("no end of the direct upload was answered 202 with --copy-budget 0:\n%s", exchanges(reg.since(mr)))
	}
	if !strings.Contains(r.stderr, "pushed direct (2 parts)") || !regexp.MustCompile(`part [12] failed`).MatchString(r.stderr) || strings.Contains(r.stderr, "X-Amz-Signature") {
		t.Errorf("stderr does not tell the direct upload and the retried part, or shows a part URL's signature:\n%s", r.stderr)
	}

	// A part that fails every time fails the push, which says which blob
	// and part and writes no manifest; the next push continues the upload:
	// it sends only the part the store lacks.
	home := pushHome(t, nil)
	part2 := func(r *http.Request) bool { return isPart(r) && r.URL.Query().Get("partNumber") == "2" }
	s3.arm("cut", 0, part2)
	s3.arm("cut", 0, part2)
	mr = reg.mark()
	dest = reg.host + "/direct/resumed:v1"
	args := []string{"push", "--jobs", "1", "--retries", "1", "--direct-put-max", "0", "oci:" + dir + ":v1", dest}
	fail := runPush(t, home, args...)
	t.Logf("the push with a failing part said:\n%s", fail.stderr)
	if want := "blob " + layerOf(want) + " (70.0 MiB): part 2:"; fail.err == nil || !strings.Contains(fail.stderr, want) || strings.Contains(fail.stderr, "X-Amz-Signature") {
		t.Errorf("push with a failing part: %v\n%s\nwant a failure saying %q", fail.err, fail.stderr, want)
	}
	for _, e := range reg.since(mr) {
		if e.method == http.MethodPut && strings.Contains(e.uri, "/manifests/") {
			t.Errorf("the failed push put a manifest: %s", e)
		}
	}
	m3 = s3.mark()
	r = mustPush(t, home, dest, want.root, args...)
	checkPulled(t, s.url(""), "direct/resumed", "v1", want)
	sent := map[string]int{}
	for _, e := range s3.since(m3) {
		if isPartExchange(e) {
			u, _ := url.Parse(strings.Fields(e.uri)[0])
			sent[u.Query().Get("partNumber")]++
		}
	}
	if !strings.Contains(r.stderr, "continuing the direct upload of an earlier push (1 of 2 parts there)") || sent["1"] != 0 || sent["2"] != 1 {
		t.Errorf("the second push sent parts %v (want only part 2, once):\n%s", sent, r.stderr)
	}
}

// A layer whose digest the push gives at the start goes up in one PUT
// straight to its key in S3 (blobs/sha256/<hex>), with the checksum
// header S3 checks, from a file and from a stream (a docker save
// tarball); a PUT cut off on the way is sent again. The registry
// neither reads the bytes back nor copies them: no request of the push
// touches assembled/ or makes a multipart upload. The image pulls back
// byte for byte.
func TestPushDirectPut(t *testing.T) {
	awstest.Require(t)
	endpoint := os.Getenv("AWS_ENDPOINT_URL_S3")
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	s3URL, err := url.Parse(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	s3 := startFront(t, "s3", s3URL.Host)
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://"+s3.host)
	s := awsServer(t)
	requireDirect(t, s.url(""))
	reg := startFront(t, "registry", s.addr)

	dir := t.TempDir()
	img := rawImage(t, dir, "v1", 70<<20)
	archive, archived := dockerArchive(t, img, "example.com/put:v1")
	for _, tc := range []struct {
		name, source, repo string
		want               content
	}{
		{"oci layout", "oci:" + dir + ":v1", "direct/put", imageContent(t, img)},
		// A stream: the PUT is sent as the layer is read, and read again
		// from the start when it is sent again.
		{"docker save tarball", "docker-archive:" + archive, "direct/put-archive", imageContent(t, archived)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			layer := strings.TrimPrefix(layerOf(tc.want), "sha256:")
			isPut := func(r *http.Request) bool {
				return r.Method == http.MethodPut && strings.HasSuffix(r.URL.Path, "/blobs/sha256/"+layer) && r.URL.Query().Get("X-Amz-Signature") != ""
			}
			s3.arm("cut", 0, isPut)
			m3, mr := s3.mark(), reg.mark()
			dest := reg.host + "/" + tc.repo + ":v1"
			r := mustPush(t, pushHome(t, nil), dest, tc.want.root, "push", tc.source, dest)
			checkPulled(t, s.url(""), tc.repo, "v1", tc.want)

			var puts int
			var throughRegistry int64
			for _, e := range reg.since(mr) {
				throughRegistry += e.sent
			}
			for _, e := range s3.since(m3) {
				switch {
				case strings.Contains(e.uri, "assembled/") || strings.Contains(e.uri, "uploadId=") || strings.Contains(e.uri, "uploads"):
					t.Errorf("the push made S3 request %s: want no multipart upload, read-back or copy", e)
				case e.method == http.MethodPut && strings.Contains(e.uri, "/blobs/sha256/"+layer+"?") && e.fault == "" && e.status == http.StatusOK:
					puts++
				}
			}
			if puts != 1 || throughRegistry > 1<<20 {
				t.Errorf("%d PUTs of the layer to S3 (want 1 after the cut one), %d bytes through the registry\nstderr:\n%s\ns3:\n%s",
					puts, throughRegistry, r.stderr, exchanges(s3.since(m3)))
			}
			if !strings.Contains(r.stderr, "pushed direct (1 part)") || !strings.Contains(r.stderr, "part 1 failed") || strings.Contains(r.stderr, "X-Amz-Signature") {
				t.Errorf("stderr does not tell the direct upload and the retried PUT, or shows a URL's signature:\n%s", r.stderr)
			}
		})
	}
}

// layerOf is the digest of the largest blob of c.
func layerOf(c content) string {
	var d string
	var max int64
	for h, size := range c.blobs {
		if size > max {
			d, max = h.String(), size
		}
	}
	return d
}

// isPartExchange reports whether e is a part sent to S3.
func isPartExchange(e exchange) bool {
	return e.method == http.MethodPut && strings.Contains(e.uri, "partNumber=")
}

// The done-when of pier push: an image with a 60 MB layer through the
// local Lambda path, from an OCI layout and from a docker save tarball,
// pulled back byte for byte; by direct uploads when the function offers
// them, else in chunks within its 4 MiB OCI-Chunk-Max-Length.
func TestPushLambda(t *testing.T) {
	s := startLocalAPI(t, "http")
	dir := t.TempDir()
	img := rawImage(t, dir, "v1", 60_000_000)
	archive, archived := dockerArchive(t, img, "example.com/big:v1")
	direct := offersDirect(t, s.url(""))
	home := pushHome(t, nil)
	for _, tc := range []struct {
		name, source, repo string
		want               content
	}{
		{"oci layout", "oci:" + dir + ":v1", "lambda/layout", imageContent(t, img)},
		{"docker save tarball", "docker-archive:" + archive, "lambda/archive", imageContent(t, archived)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest := s.addr + "/" + tc.repo + ":v1"
			r := mustPush(t, home, dest, tc.want.root, "push", tc.source, dest)
			checkPulled(t, s.url(""), tc.repo, "v1", tc.want)
			if sent := strings.Contains(r.stderr, "pushed direct (1 part)"); sent != direct {
				t.Errorf("the function offers direct uploads: %v; the 60 MB layer went by one: %v\n%s", direct, sent, r.stderr)
			}
			t.Logf("direct uploads offered: %v\n%s", direct, r.stderr)
		})
	}
}
