package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/randid"
)

// awsServer starts `pier serve --backend aws` on the local S3 and DynamoDB
// servers (scripts/with-local-aws.sh), on a bucket and tables of its own.
func awsServer(t *testing.T, flags ...string) *instance {
	t.Helper()
	return startServer(t, t.TempDir(), append(awsBackendFlags(t), flags...)...)
}

// awsBackendFlags returns the flags of the aws backend on a bucket and a
// table of the test's own on the local AWS servers.
func awsBackendFlags(t *testing.T) []string {
	t.Helper()
	awstest.Require(t)
	name := randid.Hex(5)
	return []string{"--backend", "aws", "--bucket", "pier-" + name, "--table-prefix", "t" + name + "-", "--create-resources"}
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// call sends a request without following redirects.
func call(t *testing.T, method, url string, body []byte, hdr ...string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// backendRequests returns the S3 and DynamoDB requests that the log of s
// gives for the request with id, waiting briefly for the line.
func (s *instance) backendRequests(t *testing.T, id string) (s3, dynamodb int, ops map[string]int) {
	t.Helper()
	for range 50 {
		sc := bufio.NewScanner(strings.NewReader(s.logSnapshot()))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				RequestID string         `json:"request_id"`
				Msg       string         `json:"msg"`
				Backend   map[string]int `json:"backend_requests"`
			}
			if json.Unmarshal(sc.Bytes(), &line) != nil || line.RequestID != id || line.Msg != "request" {
				continue
			}
			for op, n := range line.Backend {
				switch {
				case strings.HasPrefix(op, "s3."):
					s3 += n
				case strings.HasPrefix(op, "dynamodb."):
					dynamodb += n
				}
			}
			return s3, dynamodb, line.Backend
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no log line for request %s", id)
	return
}

// docRow is a row of docs/requests.md: what an API call costs.
type docRow struct {
	call         string
	s3, dynamodb int
}

// readDocTable parses the table of docs/requests.md.
func readDocTable(t *testing.T) map[string]docRow {
	t.Helper()
	b, err := os.ReadFile("../../docs/requests.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `([^`]+)` \\|[^|]*\\| (\\d+) \\| (\\d+) \\|")
	rows := map[string]docRow{}
	for _, line := range strings.Split(string(b), "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			s3, _ := strconv.Atoi(m[2])
			ddb, _ := strconv.Atoi(m[3])
			rows[m[1]] = docRow{m[1], s3, ddb}
		}
	}
	return rows
}

// TestAWSRequestCounts measures the S3 and DynamoDB requests of each API
// call on the aws backend and checks them against docs/requests.md: first
// with the blob link cache off (what a process that has not seen a blob
// pays), then what the cache saves, on two processes that share a bucket
// and a table.
func TestAWSRequestCounts(t *testing.T) {
	s := awsServer(t, "--blob-link-cache-ttl", "0")
	warmPolicies(t, s)
	doc := readDocTable(t)
	measured := map[string]docRow{}
	measuredOps := map[string]map[string]int{}
	measureOn := func(srv *instance, name string, resp *http.Response, wantStatus int) {
		t.Helper()
		if resp.StatusCode != wantStatus {
			t.Fatalf("%s: status %d, want %d", name, resp.StatusCode, wantStatus)
		}
		s3, ddb, ops := srv.backendRequests(t, resp.Header.Get("X-Request-Id"))
		measured[name] = docRow{name, s3, ddb}
		measuredOps[name] = ops
		t.Logf("%-28s S3 %d, DynamoDB %d %v", name, s3, ddb, ops)
	}
	measure := func(name string, resp *http.Response, wantStatus int) {
		t.Helper()
		measureOn(s, name, resp, wantStatus)
	}
	const repo = "/v2/counts/app"

	blob := func(size int) ([]byte, string) {
		b := make([]byte, size)
		rand.Read(b)
		return b, digestOf(b)
	}
	layer, ld := blob(1000)
	measure("blob push, monolithic", call(t, "POST", s.url(repo+"/blobs/uploads/?digest="+ld), layer), 201)
	config := []byte(`{"architecture":"amd64","os":"linux"}`)
	cd := digestOf(config)
	call(t, "POST", s.url(repo+"/blobs/uploads/?digest="+cd), config)

	// POST, then PUT with the whole blob: how most clients push.
	whole, wd := blob(2000)
	resp := call(t, "POST", s.url(repo+"/blobs/uploads/"), nil)
	measure("blob push, POST then PUT", call(t, "PUT", s.url(resp.Header.Get("Location")+"?digest="+wd), whole,
		"Content-Type", "application/octet-stream"), 201)

	measure("blob HEAD", call(t, "HEAD", s.url(repo+"/blobs/"+ld), nil), 200)
	measure("blob GET", call(t, "GET", s.url(repo+"/blobs/"+ld), nil), 307)
	measure("blob mount", call(t, "POST", s.url("/v2/counts/other/blobs/uploads/?mount="+ld+"&from=counts/app"), nil), 201)

	// A chunked push of 3 chunks: POST, PATCH x3, PUT.
	big, bd := blob(3 << 20)
	resp = call(t, "POST", s.url(repo+"/blobs/uploads/"), nil)
	measure("upload start", resp, 202)
	loc := resp.Header.Get("Location")
	for i := range 3 {
		resp = call(t, "PATCH", s.url(loc), big[i<<20:(i+1)<<20], "Content-Range", fmt.Sprintf("%d-%d", i<<20, (i+1)<<20-1), "Content-Type", "application/octet-stream")
		measure(fmt.Sprintf("upload chunk %d", i+1), resp, 202)
		loc = resp.Header.Get("Location")
	}
	measure("upload finish", call(t, "PUT", s.url(loc+"?digest="+bd), nil), 201)
	measureSignedUpload(t, measureOn)

	// A direct upload of one part: POST, the part to S3, GET of the part
	// URLs and the parts uploaded, PUT.
	direct, dd := blob(1000)
	resp, parts := startDirect(t, s, "counts/app", len(direct))
	measure("direct upload start", resp, 202)
	sendPart(t, parts.Parts[0].URL, direct)
	loc = resp.Header.Get("Location")
	measure("direct upload parts", call(t, "GET", s.url(loc), nil, "Pier-Upload-Parts", "1-2"), 200)
	measure("direct upload finish", call(t, "PUT", s.url(loc+"?digest="+dd), nil), 201)

	// A direct upload in one PUT: POST with the digest, the PUT to S3
	// with its signed headers, the finish (the Location has a query).
	one, od := blob(1000)
	resp, parts = startDirect(t, s, "counts/app", len(one), "Pier-Upload-Digest", od)
	measure("direct upload start, one PUT", resp, 202)
	if resp, _ := do(t, http.MethodPut, parts.Parts[0].URL, parts.Parts[0].Header, one); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT of a direct upload in one PUT: %s", resp.Status)
	}
	measure("direct upload finish, one PUT", call(t, "PUT", s.url(resp.Header.Get("Location")+"&digest="+od), nil), 201)

	manifest := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d},`+
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		cd, len(config), ld, len(layer), bd, len(big)))
	md := digestOf(manifest)
	measure("manifest push (2 layers)", call(t, "PUT", s.url(repo+"/manifests/v1"), manifest, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201)
	measure("manifest pull by tag", call(t, "GET", s.url(repo+"/manifests/v1"), nil), 200)
	measure("manifest pull by digest", call(t, "GET", s.url(repo+"/manifests/"+md), nil), 200)
	measure("manifest HEAD by tag", call(t, "HEAD", s.url(repo+"/manifests/v1"), nil), 200)
	measure("tag list page", call(t, "GET", s.url(repo+"/tags/list"), nil), 200)
	measure("referrers list", call(t, "GET", s.url(repo+"/referrers/"+md), nil), 200)
	measure("catalog page", call(t, "GET", s.url("/v2/_catalog"), nil), 200)
	// Another manifest of the same blobs takes the tag v1.
	moved := bytes.Replace(manifest, []byte(`{"schemaVersion":2,`), []byte(`{"schemaVersion":2,"annotations":{"rev":"2"},`), 1)
	measure("manifest push moving a tag", call(t, "PUT", s.url(repo+"/manifests/v1"), moved, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201)
	measure("tag delete", call(t, "DELETE", s.url(repo+"/manifests/v1"), nil), 202)
	measure("manifest delete", call(t, "DELETE", s.url(repo+"/manifests/"+md), nil), 202)

	// The blob link cache (off by default, on here): process a pushes an
	// image, and answers from memory what it pushed; process b, on the
	// same bucket and table, looks a link up once, then knows it.
	flags := append(awsBackendFlags(t), "--blob-link-cache-ttl", "5m")
	a := startServer(t, t.TempDir(), flags...)
	b := startServer(t, t.TempDir(), flags...)
	warmPolicies(t, a)
	const cached = "/v2/counts/cached"
	layer, ld = blob(1000)
	call(t, "POST", a.url(cached+"/blobs/uploads/?digest="+ld), layer)
	call(t, "POST", a.url(cached+"/blobs/uploads/?digest="+cd), config)
	whole, wd = blob(2000)
	resp = call(t, "POST", a.url(cached+"/blobs/uploads/"), nil)
	if resp = call(t, "PUT", a.url(resp.Header.Get("Location")+"?digest="+wd), whole, "Content-Type", "application/octet-stream"); resp.StatusCode != 201 {
		t.Fatalf("POST then PUT: %s", resp.Status)
	}
	measureOn(a, "blob HEAD, pushed by the same process", call(t, "HEAD", a.url(cached+"/blobs/"+ld), nil), 200)
	measureOn(a, "blob GET, pushed by the same process", call(t, "GET", a.url(cached+"/blobs/"+ld), nil), 307)
	manifest = []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":%q,"size":%d},`+
		`"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d},`+
		`{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":%q,"size":%d}]}`,
		cd, len(config), ld, len(layer), wd, len(whole)))
	measureOn(a, "manifest push (2 layers), blobs pushed by the same process",
		call(t, "PUT", a.url(cached+"/manifests/v1"), manifest, "Content-Type", "application/vnd.oci.image.manifest.v1+json"), 201)
	resp = call(t, "HEAD", b.url(cached+"/blobs/"+ld), nil)
	if s3, ddb, _ := b.backendRequests(t, resp.Header.Get("X-Request-Id")); resp.StatusCode != 200 || s3 != 0 || ddb != 1 {
		t.Errorf("first blob HEAD by another process: %s, S3 %d, DynamoDB %d; want 200, 0 and 1", resp.Status, s3, ddb)
	}
	measureOn(b, "blob HEAD, looked up before by the same process", call(t, "HEAD", b.url(cached+"/blobs/"+ld), nil), 200)

	// What the cache trades: a blob deleted through a is gone for a at
	// once, and still served by b (until the TTL), until b deletes it too.
	for _, step := range []struct {
		srv    *instance
		method string
		want   int
	}{
		{a, "DELETE", 202}, {a, "HEAD", 404}, {b, "HEAD", 200}, {b, "DELETE", 404}, {b, "HEAD", 404},
	} {
		if resp := call(t, step.method, step.srv.url(cached+"/blobs/"+ld), nil); resp.StatusCode != step.want {
			t.Errorf("blob %s through process %s after the delete through a: %s, want %d", step.method, map[*instance]string{a: "a", b: "b"}[step.srv], resp.Status, step.want)
		}
	}

	for name, got := range measured {
		want, ok := doc[name]
		if !ok {
			t.Errorf("docs/requests.md has no row for %q (measured S3 %d, DynamoDB %d)", name, got.s3, got.dynamodb)
			continue
		}
		if got != want {
			t.Errorf("%s: measured S3 %d, DynamoDB %d; docs/requests.md says S3 %d, DynamoDB %d", name, got.s3, got.dynamodb, want.s3, want.dynamodb)
		}
	}
	for name := range doc {
		if _, ok := measured[name]; !ok {
			t.Errorf("docs/requests.md row %q is not measured", name)
		}
	}
	// The bounds the design promises.
	for _, name := range []string{"manifest pull by tag", "blob GET"} {
		if m := measured[name]; m.s3 != 0 || m.dynamodb > 1 {
			t.Errorf("%s costs S3 %d, DynamoDB %d: want 0 and at most 1", name, m.s3, m.dynamodb)
		}
	}
	// And what the blob link cache promises.
	for _, name := range []string{"blob HEAD, pushed by the same process", "blob GET, pushed by the same process", "blob HEAD, looked up before by the same process"} {
		if m := measured[name]; m.s3 != 0 || m.dynamodb != 0 {
			t.Errorf("%s costs S3 %d, DynamoDB %d: want none", name, m.s3, m.dynamodb)
		}
	}
	if n := measuredOps["manifest push (2 layers), blobs pushed by the same process"]["dynamodb.BatchGetItem"]; n != 0 {
		t.Errorf("a manifest push whose blobs the process pushed makes %d BatchGetItem, want none", n)
	}
}

func digestOf(b []byte) string {
	return fmt.Sprintf("sha256:%x", sha256.Sum256(b))
}

// pushChunked pushes blob to repo in chunks of size; after half of them it
// asks the upload where it stands (GET) and resumes from the answer, as a
// client does after losing a connection.
func pushChunked(t *testing.T, s *instance, repo string, blob []byte, size int) string {
	t.Helper()
	d := digestOf(blob)
	resp := call(t, "POST", s.url("/v2/"+repo+"/blobs/uploads/"), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	for off := 0; off < len(blob); {
		if off >= len(blob)/2 && off < len(blob)/2+size {
			resp = call(t, "GET", s.url(loc), nil)
			var end int
			if _, err := fmt.Sscanf(resp.Header.Get("Range"), "0-%d", &end); resp.StatusCode != http.StatusNoContent || err != nil || end != off-1 {
				t.Fatalf("GET upload at %d: %s, Range %q", off, resp.Status, resp.Header.Get("Range"))
			}
			loc = resp.Header.Get("Location")
		}
		last := min(off+size, len(blob))
		resp = call(t, "PATCH", s.url(loc), blob[off:last], "Content-Type", "application/octet-stream",
			"Content-Range", fmt.Sprintf("%d-%d", off, last-1))
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("PATCH %d-%d: %s", off, last-1, resp.Status)
		}
		loc = resp.Header.Get("Location")
		off = last
	}
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	if resp = call(t, "PUT", s.url(loc+sep+"digest="+d), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT digest: %s", resp.Status)
	}
	return d
}

// pullRedirected GETs blob d of repo: a 307 to a presigned URL, which
// answers with the bytes.
func pullRedirected(t *testing.T, s *instance, repo, d string) []byte {
	t.Helper()
	resp := call(t, "GET", s.url("/v2/"+repo+"/blobs/"+d), nil)
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") == "" {
		t.Fatalf("GET blob: %s, Location %q; want a 307", resp.Status, resp.Header.Get("Location"))
	}
	got, err := http.Get(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	body, err := io.ReadAll(got.Body)
	if err != nil || got.StatusCode != http.StatusOK {
		t.Fatalf("GET presigned URL: %s %v", got.Status, err)
	}
	return body
}

// Large pushes round-trip byte-exact through the presigned redirect: a
// 200 MiB blob in 4 MiB chunks (the Lambda path's size) with a resume
// halfway, and a 20 MiB monolithic push.
func TestAWSLargeBlobsRoundTrip(t *testing.T) {
	s := awsServer(t)
	big := make([]byte, 200<<20)
	rand.Read(big)
	d := pushChunked(t, s, "large/app", big, 4<<20)
	if got := pullRedirected(t, s, "large/app", d); !bytes.Equal(got, big) {
		t.Fatalf("200 MiB chunked blob: %d bytes back, equal %v", len(got), bytes.Equal(got, big))
	}

	mono := make([]byte, 20<<20)
	rand.Read(mono)
	md := digestOf(mono)
	if resp := call(t, "POST", s.url("/v2/large/app/blobs/uploads/?digest="+md), mono); resp.StatusCode != http.StatusCreated {
		t.Fatalf("monolithic push: %s", resp.Status)
	}
	if got := pullRedirected(t, s, "large/app", md); !bytes.Equal(got, mono) {
		t.Fatal("20 MiB monolithic blob differs")
	}
}

// With a copy budget of zero, a chunked upload's blob is in place under
// blobs/ when the push ends (its multipart upload is assembled there, with
// no copy), while a direct upload's blob is served at once from where it
// was assembled, and is copied under blobs/ in the background.
func TestAWSCopyInBackground(t *testing.T) {
	s := awsServer(t, "--copy-budget", "0s")
	blob := make([]byte, 12<<20)
	rand.Read(blob)
	d := pushChunked(t, s, "async/chunked", blob, 4<<20)
	if loc := call(t, "GET", s.url("/v2/async/chunked/blobs/"+d), nil).Header.Get("Location"); !strings.Contains(loc, "/blobs/sha256/") {
		t.Errorf("blob GET right after the chunked push redirects to %q: want the blob under blobs/", loc)
	}
	if got := pullRedirected(t, s, "async/chunked", d); !bytes.Equal(got, blob) {
		t.Fatal("chunked blob differs")
	}

	blob = make([]byte, 12<<20)
	rand.Read(blob)
	d = digestOf(blob)
	resp, parts := startDirect(t, s, "async/app", len(blob))
	if resp.StatusCode != http.StatusAccepted || len(parts.Parts) == 0 {
		t.Fatalf("POST direct upload: %s, %d part URLs", resp.Status, len(parts.Parts))
	}
	size := (len(blob) + len(parts.Parts) - 1) / len(parts.Parts)
	for i, p := range parts.Parts {
		sendPart(t, p.URL, blob[i*size:min((i+1)*size, len(blob))])
	}
	loc := resp.Header.Get("Location")
	resp = call(t, http.MethodPut, s.url(withQuery(loc, "digest", d)), nil)
	for deadline := time.Now().Add(20 * time.Second); resp.StatusCode == http.StatusAccepted && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		resp = call(t, http.MethodPut, s.url(withQuery(loc, "digest", d)), nil)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish direct upload: %s", resp.Status)
	}
	resp = call(t, "GET", s.url("/v2/async/app/blobs/"+d), nil)
	if loc := resp.Header.Get("Location"); !strings.Contains(loc, "/assembled/") {
		t.Errorf("blob GET right after the direct push redirects to %q: want the assembled upload", loc)
	}
	if got := pullRedirected(t, s, "async/app", d); !bytes.Equal(got, blob) {
		t.Fatal("blob served from its assembled upload differs")
	}
	// The copy lands under blobs/: a later upload of the same bytes finds
	// it there, and its link points there.
	deadline := time.Now().Add(30 * time.Second)
	for {
		d2 := pushChunked(t, s, "async/later", blob, 4<<20)
		loc := call(t, "GET", s.url("/v2/async/later/blobs/"+d2), nil).Header.Get("Location")
		if strings.Contains(loc, "/blobs/sha256/") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the blob is not under blobs/ after 30 s (last redirect %q)", loc)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// warmPolicies has srv read the repository policies, which a process does
// at its first manifest push or tag delete and then at most once a minute
// (one Query, docs/requests.md), so that the calls measured next show
// what they cost each time: a delete of a tag that does not exist.
func warmPolicies(t *testing.T, srv *instance) {
	t.Helper()
	if resp := call(t, "DELETE", srv.url("/v2/counts/warm/manifests/none"), nil); resp.StatusCode != 404 {
		t.Fatalf("warm-up tag delete: %s, want 404", resp.Status)
	}
}
