package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/site"
	"github.com/pier-registry/pier/internal/store/local"
	"github.com/pier-registry/pier/internal/store/local/localtest"
)

// server is a Pier API served by httptest over the embedded backend, with
// its data under dir.
type server struct {
	url    string
	dir    string
	client *http.Client
}

// newServer starts a server with registry options opts over a fresh data
// directory, wired as `pier serve` wires it. The test closes it.
func newServer(t *testing.T, opts registry.Options) *server {
	t.Helper()
	s, _ := newServerWith(t, opts, nil)
	return s
}

// newServerWith starts a server over a fresh data directory, with access
// control made by newAuth over its identities (nil: an open registry),
// and returns it with its metadata store.
func newServerWith(t *testing.T, opts registry.Options, newAuth func(*local.Metadata) *httpapi.Auth) (*server, *local.Metadata) {
	t.Helper()
	dir, blobs, meta := localtest.Open(t)
	var a *httpapi.Auth
	if newAuth != nil {
		a = newAuth(meta)
	}
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	reg := registry.New(blobs, meta, opts)
	sites := site.New(reg, blobs, meta, site.Options{Logger: log})
	ts := httptest.NewServer(httpapi.New(reg, httpapi.Options{Logger: log, Auth: a, Sites: sites}))
	t.Cleanup(ts.Close) // runs before meta.Close: cleanups are last in, first out
	return &server{url: ts.URL, dir: dir, client: ts.Client()}, meta
}

// request is one HTTP request to a server.
type request struct {
	method string
	// path is the request's path and query, from /v2 on.
	path   string
	header map[string]string
	body   []byte
	// chunked sends body without a Content-Length.
	chunked bool
}

// do sends req and returns the response, with its body read and closed.
func (s *server) do(t *testing.T, req request) (*http.Response, []byte) {
	t.Helper()
	hr, err := http.NewRequest(req.method, s.url+req.path, bytes.NewReader(req.body))
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	if req.chunked {
		hr.Body = io.NopCloser(bytes.NewReader(req.body))
		hr.ContentLength = -1
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	resp, err := s.client.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", req.method, req.path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", req.method, req.path, err)
	}
	return resp, body
}

// mustDo sends req and fails the test unless the answer has status.
func (s *server) mustDo(t *testing.T, req request, status int) *http.Response {
	t.Helper()
	resp, body := s.do(t, req)
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", req.method, req.path, resp.StatusCode, status, body)
	}
	return resp
}

// pushBlob pushes content as a blob of repo in one POST and returns its
// descriptor, of media type mediaType.
func (s *server) pushBlob(t *testing.T, repo, mediaType string, content []byte) v1.Descriptor {
	t.Helper()
	d := digest.FromBytes(content)
	s.mustDo(t, request{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/?digest=" + d.String(), body: content}, http.StatusCreated)
	return v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content))}
}

// startUpload opens an upload session in repo, sends chunk as its first
// chunk, and returns the session's location.
func (s *server) startUpload(t *testing.T, repo string, chunk []byte) string {
	t.Helper()
	resp := s.mustDo(t, request{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/"}, http.StatusAccepted)
	loc := resp.Header.Get("Location")
	if loc == "" {
		t.Fatal("POST upload: no Location")
	}
	s.mustDo(t, request{
		method: http.MethodPatch,
		path:   loc,
		header: map[string]string{"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("0-%d", len(chunk)-1)},
		body:   chunk,
	}, http.StatusAccepted)
	return loc
}

// pushManifest pushes body as manifest ref of repo, with its media type as
// Content-Type, and returns its digest.
func (s *server) pushManifest(t *testing.T, repo, ref string, body []byte) digest.Digest {
	t.Helper()
	resp := s.mustDo(t, request{
		method: http.MethodPut,
		path:   "/v2/" + repo + "/manifests/" + ref,
		header: map[string]string{"Content-Type": v1.MediaTypeImageManifest},
		body:   body,
	}, http.StatusCreated)
	return digest.Digest(resp.Header.Get("Docker-Content-Digest"))
}

// imageManifest returns the JSON of an OCI image manifest of config and
// layers.
func imageManifest(t *testing.T, config v1.Descriptor, layers ...v1.Descriptor) []byte {
	t.Helper()
	if layers == nil {
		layers = []v1.Descriptor{}
	}
	b, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: v1.MediaTypeImageManifest,
		Config:    config,
		Layers:    layers,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fixture is a server seeded through the API with a little content for
// failing requests to target.
type fixture struct {
	*server
	// repo holds config, layer, and manifest, tagged "v1", and the open
	// upload at uploadLoc.
	repo          string
	config, layer v1.Descriptor
	manifest      digest.Digest
	// other is a second repository, holding a blob of its own only.
	other string
	// uploadLoc is the location of an upload of repo holding uploadLen
	// bytes.
	uploadLoc string
	uploadLen int64
}

// seed starts a server with opts and seeds it. Every blob it pushes is at
// most 32 bytes long.
func seed(t *testing.T, opts registry.Options) *fixture {
	t.Helper()
	f := &fixture{server: newServer(t, opts), repo: "library/app", other: "other/app"}
	f.config = f.pushBlob(t, f.repo, v1.MediaTypeImageConfig, []byte(`{"os":"linux"}`))
	f.layer = f.pushBlob(t, f.repo, v1.MediaTypeImageLayerGzip, []byte("layer bytes"))
	f.manifest = f.pushManifest(t, f.repo, "v1", imageManifest(t, f.config, f.layer))
	f.pushBlob(t, f.other, "application/octet-stream", []byte("other bytes"))
	chunk := []byte("first chunk")
	f.uploadLoc = f.startUpload(t, f.repo, chunk)
	f.uploadLen = int64(len(chunk))
	return f
}

// uploadID is the id of the fixture's open upload.
func (f *fixture) uploadID() string {
	return f.uploadLoc[strings.LastIndexByte(f.uploadLoc, '/')+1:]
}

// snapshot is the state of a data directory: one line per regular file,
// in lexical order, with its path, size and SHA-256, and the SHA-256 of
// those lines.
type snapshot struct {
	sum   string
	files []string
}

// takeSnapshot snapshots dir, the metadata database included.
func takeSnapshot(t *testing.T, dir string) snapshot {
	t.Helper()
	var s snapshot
	all := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("%s %d %x", filepath.ToSlash(rel), len(b), sha256.Sum256(b))
		s.files = append(s.files, line)
		fmt.Fprintln(all, line)
		return nil
	})
	if err != nil {
		t.Fatalf("snapshot %s: %v", dir, err)
	}
	s.sum = fmt.Sprintf("%x", all.Sum(nil))
	return s
}

// expectUnchanged fails the test, naming the files that differ, when the
// data directory's snapshot after is not before.
func expectUnchanged(t *testing.T, before, after snapshot) {
	t.Helper()
	if before.sum == after.sum {
		return
	}
	was := make(map[string]bool, len(before.files))
	for _, l := range before.files {
		was[l] = true
	}
	is := make(map[string]bool, len(after.files))
	for _, l := range after.files {
		is[l] = true
	}
	var diff []string
	for _, l := range before.files {
		if !is[l] {
			diff = append(diff, "- "+l)
		}
	}
	for _, l := range after.files {
		if !was[l] {
			diff = append(diff, "+ "+l)
		}
	}
	t.Errorf("a failed request changed the store:\n%s", strings.Join(diff, "\n"))
}

// errorBody is the JSON error form of the distribution spec.
type errorBody struct {
	Errors []struct {
		Code    oci.Code `json:"code"`
		Message string   `json:"message"`
	} `json:"errors"`
}

// expectError fails the test unless resp, with body, has status and, but
// for a HEAD (which has no body), is a JSON error body of code whose
// errors all have a message.
func expectError(t *testing.T, resp *http.Response, body []byte, status int, code oci.Code) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d; body %s", resp.StatusCode, status, body)
	}
	if resp.Request.Method == http.MethodHead {
		if len(body) != 0 {
			t.Errorf("HEAD answered with a body: %s", body)
		}
		return
	}
	if ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
	}
	var eb errorBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("body is not JSON: %v: %s", err, body)
	}
	if len(eb.Errors) == 0 {
		t.Fatalf("no errors in body %s", body)
	}
	if eb.Errors[0].Code != code {
		t.Errorf("code %s, want %s; body %s", eb.Errors[0].Code, code, body)
	}
	for _, e := range eb.Errors {
		if e.Message == "" {
			t.Errorf("error %s has no message; body %s", e.Code, body)
		}
	}
}
