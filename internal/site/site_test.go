package site_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/site"
	"github.com/pier-registry/pier/internal/store/local"
	"github.com/pier-registry/pier/internal/store/local/localtest"
)

// fixture is a registry on the embedded backend with a site server.
type fixture struct {
	reg   *registry.Registry
	blobs *local.Blobs
	meta  *local.Metadata
	srv   *site.Server
	// access is what the access control answers; open by default.
	access site.Access
}

func newFixture(t *testing.T, opts site.Options) *fixture {
	t.Helper()
	_, blobs, meta := localtest.Open(t)
	f := &fixture{blobs: blobs, meta: meta, access: site.Access{Public: true}}
	f.reg = registry.New(blobs, meta, registry.Options{})
	f.srv = site.New(f.reg, blobs, meta, opts)
	return f
}

// get serves a request of method for path with headers (name, value).
func (f *fixture) get(t *testing.T, method, path string, hdr ...string) (*http.Response, string) {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	f.srv.Serve(w, r, func(*http.Request, string) site.Access { return f.access })
	resp := w.Result()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// blob pushes content to repo as a layer of mediaType titled title, with
// more annotations (name, value).
func (f *fixture) blob(t *testing.T, repo, mediaType, title string, content []byte, ann ...string) v1.Descriptor {
	t.Helper()
	d := digest.FromBytes(content)
	if err := f.reg.PutBlob(context.Background(), repo, d, bytes.NewReader(content)); err != nil {
		t.Fatal(err)
	}
	desc := v1.Descriptor{MediaType: mediaType, Digest: d, Size: int64(len(content)), Annotations: map[string]string{}}
	if title != "" {
		desc.Annotations[v1.AnnotationTitle] = title
	}
	for i := 0; i+1 < len(ann); i += 2 {
		desc.Annotations[ann[i]] = ann[i+1]
	}
	return desc
}

// manifest pushes an artifact manifest of layers to repo:tag and returns
// its digest.
func (f *fixture) manifest(t *testing.T, repo, tag string, layers ...v1.Descriptor) digest.Digest {
	t.Helper()
	config := f.blob(t, repo, v1.MediaTypeEmptyJSON, "", []byte("{}"))
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.test.site", Config: config, Layers: layers}
	body, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.reg.PutManifest(context.Background(), repo, oci.Reference{Tag: tag}, v1.MediaTypeImageManifest, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Digest
}

// tarEntry is an entry of a test archive.
type tarEntry struct {
	name, body, link string
	typ              byte
}

// targz is the gzipped tar of entries.
func targz(t *testing.T, entries ...tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Linkname: e.link}
		if typ == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

const (
	indexHTML = `<!doctype html><link rel=stylesheet href=style.css><img src=img/logo.png><a href=docs/>docs</a>`
	styleCSS  = `body { color: rgb(1, 2, 3) }`
	logoPNG   = "\x89PNG\r\n\x1a\n not really"
	docsHTML  = `<!doctype html><a href=../>home</a>`
	notFound  = `<!doctype html><h1>Lost</h1>`
)

// files are the sites' files, pushed one layer per file in the tests.
var files = []struct{ name, mediaType, body string }{
	{"index.html", "text/html", indexHTML},
	{"style.css", "application/vnd.oci.image.layer.v1.tar", styleCSS},
	{"img/logo.png", "application/vnd.oci.image.layer.v1.tar", logoPNG},
	{"docs/index.html", "application/vnd.oci.image.layer.v1.tar", docsHTML},
	{"404.html", "application/vnd.oci.image.layer.v1.tar", notFound},
}

// pushBoth pushes the files as repo "files" (a layer per file, tag v1)
// and as repo "dir" (one archive of directory "site", tag v1), and returns
// the manifests' digests.
func (f *fixture) pushBoth(t *testing.T) (filesDigest, dirDigest digest.Digest) {
	t.Helper()
	var layers []v1.Descriptor
	entries := []tarEntry{{name: "site/", typ: tar.TypeDir}}
	for _, fl := range files {
		layers = append(layers, f.blob(t, "files", fl.mediaType, fl.name, []byte(fl.body)))
		entries = append(entries, tarEntry{name: "site/" + fl.name, body: fl.body})
	}
	filesDigest = f.manifest(t, "files", "v1", layers...)
	arch := f.blob(t, "dir", v1.MediaTypeImageLayerGzip, "site", targz(t, entries...), site.AnnotationUnpack, "true")
	dirDigest = f.manifest(t, "dir", "v1", arch)
	return filesDigest, dirDigest
}

// Both ways of pushing a site give the same URLs, with the same answers.
func TestServe(t *testing.T) {
	f := newFixture(t, site.Options{})
	fd, dd := f.pushBoth(t)
	for _, repo := range []struct {
		name string
		d    digest.Digest
	}{{"files", fd}, {"dir", dd}} {
		t.Run(repo.name, func(t *testing.T) {
			base := "/sites/" + repo.name + "/@v1/"
			byDigest := "/sites/" + repo.name + "/@" + repo.d.String() + "/"
			for _, tc := range []struct {
				method, path string
				status       int
				body         string
				typ          string
				location     string
				cache        string
			}{
				{"GET", base, 200, indexHTML, "text/html; charset=utf-8", "", "public, max-age=60"},
				{"GET", base + "index.html", 200, indexHTML, "text/html; charset=utf-8", "", "public, max-age=60"},
				{"HEAD", base + "index.html", 200, "", "text/html; charset=utf-8", "", "public, max-age=60"},
				{"GET", base + "style.css", 200, styleCSS, "text/css; charset=utf-8", "", "public, max-age=60"},
				{"GET", base + "img/logo.png", 200, logoPNG, "image/png", "", "public, max-age=60"},
				{"GET", base + "docs/", 200, docsHTML, "text/html; charset=utf-8", "", "public, max-age=60"},
				{"GET", byDigest + "style.css", 200, styleCSS, "text/css; charset=utf-8", "", "public, max-age=31536000, immutable"},
				// Without the '/', relative links would miss the site.
				{"GET", strings.TrimSuffix(base, "/"), 301, "", "", base, ""},
				{"GET", base + "docs", 301, "", "", base + "docs/", ""},
				{"GET", base + "img", 301, "", "", base + "img/", ""},
				{"GET", base + "docs?lang=en", 301, "", "", base + "docs/", ""},
				// The site's own 404 page.
				{"GET", base + "nope.html", 404, notFound, "text/html; charset=utf-8", "", ""},
				{"GET", base + "img/", 404, notFound, "text/html; charset=utf-8", "", ""},
				{"GET", base + "../dir/@v1/style.css", 404, notFound, "text/html; charset=utf-8", "", ""},
				{"GET", "/sites/" + repo.name + "/@v2/", 404, "has no v2", "text/html; charset=utf-8", "", ""},
				{"POST", base, 405, "", "text/html; charset=utf-8", "", ""},
			} {
				resp, body := f.get(t, tc.method, tc.path)
				if resp.StatusCode != tc.status {
					t.Errorf("%s %s: status %d, want %d (%s)", tc.method, tc.path, resp.StatusCode, tc.status, body)
					continue
				}
				if tc.body != "" && !strings.Contains(body, tc.body) {
					t.Errorf("%s %s: body %q, want %q", tc.method, tc.path, body, tc.body)
				}
				if tc.method == "HEAD" && body != "" {
					t.Errorf("HEAD %s: a body", tc.path)
				}
				for h, want := range map[string]string{"Content-Type": tc.typ, "Cache-Control": tc.cache} {
					if got := resp.Header.Get(h); want != "" && got != want {
						t.Errorf("%s %s: %s %q, want %q", tc.method, tc.path, h, got, want)
					}
				}
				// A redirect is relative, so that it holds behind a
				// proxy that rewrites paths; it leads to tc.location.
				if loc := resp.Header.Get("Location"); tc.location != "" {
					u, err := url.Parse(loc)
					req, _ := url.Parse(tc.path)
					if err != nil || u.IsAbs() || strings.HasPrefix(loc, "/") || req.ResolveReference(u).Path != tc.location {
						t.Errorf("%s %s: Location %q, want a relative URL of %s", tc.method, tc.path, loc, tc.location)
					}
				}
			}
		})
	}
}

// A file is revalidated by its digest: a matching If-None-Match gets 304.
func TestServeETag(t *testing.T) {
	f := newFixture(t, site.Options{})
	f.pushBoth(t)
	resp, _ := f.get(t, "GET", "/sites/dir/@v1/style.css")
	etag := resp.Header.Get("ETag")
	if want := `"` + digest.FromString(styleCSS).String() + `"`; etag != want {
		t.Fatalf("ETag %q, want %q", etag, want)
	}
	if resp, body := f.get(t, "GET", "/sites/dir/@v1/style.css", "If-None-Match", etag); resp.StatusCode != 304 || body != "" {
		t.Errorf("If-None-Match %s: %d %q, want 304 and no body", etag, resp.StatusCode, body)
	}
	if resp, _ := f.get(t, "GET", "/sites/dir/@v1/style.css", "If-None-Match", `"sha256:other"`); resp.StatusCode != 200 {
		t.Errorf("another ETag: %d, want 200", resp.StatusCode)
	}
}

// An archive is unpacked once: another server (process) on the same
// stores finds the recorded index.
func TestUnpackRecorded(t *testing.T) {
	f := newFixture(t, site.Options{})
	_, dd := f.pushBoth(t)
	if _, err := f.meta.SiteIndex(context.Background(), dd); err == nil {
		t.Fatal("a site index before the first visit")
	}
	if resp, _ := f.get(t, "GET", "/sites/dir/@v1/"); resp.StatusCode != 200 {
		t.Fatalf("first visit: %d", resp.StatusCode)
	}
	xd, err := f.meta.SiteIndex(context.Background(), dd)
	if err != nil {
		t.Fatalf("no site index recorded: %v", err)
	}
	rc, err := f.blobs.Open(context.Background(), xd)
	if err != nil {
		t.Fatalf("index blob: %v", err)
	}
	var x struct {
		Files map[string]struct{ Digest digest.Digest }
	}
	json.NewDecoder(rc).Decode(&x)
	rc.Close()
	if got, want := x.Files["style.css"].Digest, digest.FromString(styleCSS); got != want || len(x.Files) != len(files) {
		t.Errorf("index: style.css %s (want %s), %d files (want %d)", got, want, len(x.Files), len(files))
	}
	// A new server whose MaxEntries would refuse to unpack it serves it
	// from the record.
	f.srv = site.New(f.reg, f.blobs, f.meta, site.Options{MaxEntries: 1})
	if resp, body := f.get(t, "GET", "/sites/dir/@v1/style.css"); resp.StatusCode != 200 || body != styleCSS {
		t.Errorf("from the record: %d %q", resp.StatusCode, body)
	}
}

// Unpacking keeps regular files inside the site and stops at its limits.
func TestUnpackBounds(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    site.Options
		entries []tarEntry
		// want maps paths to bodies ("" for a 404).
		want   map[string]string
		status int
	}{
		{
			name: "unsafe paths and links skipped",
			entries: []tarEntry{
				{name: "site/index.html", body: "home"},
				{name: "site/../evil.html", body: "evil"},
				{name: "/etc/passwd", body: "root"},
				{name: "site/link.html", typ: tar.TypeSymlink, link: "/etc/passwd"},
				{name: "site/hard.html", typ: tar.TypeLink, link: "site/index.html"},
				{name: "other/x.html", body: "outside the directory"},
			},
			want:   map[string]string{"index.html": "home", "evil.html": "", "../evil.html": "", "link.html": "", "hard.html": "", "x.html": "", "other/x.html": ""},
			status: 200,
		},
		{
			name:    "too many files",
			opts:    site.Options{MaxEntries: 2},
			entries: []tarEntry{{name: "site/a", body: "a"}, {name: "site/b", body: "b"}, {name: "site/c", body: "c"}},
			status:  507,
		},
		{
			name:   "not gzip",
			status: 422,
		},
		{
			name:    "too many bytes",
			opts:    site.Options{MaxUnpacked: 10},
			entries: []tarEntry{{name: "site/a", body: "0123456789"}, {name: "site/b", body: "x"}},
			status:  507,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			content := []byte("not a gzipped tar")
			if tc.entries != nil {
				content = targz(t, tc.entries...)
			}
			arch := f.blob(t, "dir", v1.MediaTypeImageLayerGzip, "site", content, site.AnnotationUnpack, "true")
			f.manifest(t, "dir", "v1", arch)
			resp, _ := f.get(t, "GET", "/sites/dir/@v1/index.html")
			if tc.status != 200 {
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				return
			}
			for p, want := range tc.want {
				resp, body := f.get(t, "GET", "/sites/dir/@v1/"+p)
				switch {
				case want == "" && resp.StatusCode != 404:
					t.Errorf("%s: %d %q, want 404", p, resp.StatusCode, body)
				case want != "" && (resp.StatusCode != 200 || body != want):
					t.Errorf("%s: %d %q, want 200 %q", p, resp.StatusCode, body, want)
				}
			}
		})
	}
}

// Refusals of the access control reach the browser: a Basic challenge
// for a private site, so that it asks for credentials.
func TestServeAccess(t *testing.T) {
	f := newFixture(t, site.Options{})
	f.pushBoth(t)
	for _, tc := range []struct {
		access    site.Access
		status    int
		challenge string
		cache     string
	}{
		{site.Access{Status: 401, Message: "private"}, 401, `Basic realm="Pier", charset="UTF-8"`, "no-cache"},
		{site.Access{Status: 403, Message: "no"}, 403, "", "no-cache"},
		{site.Access{Status: 429, Message: "later"}, 429, "", "no-cache"},
		{site.Access{}, 200, "", "private, max-age=60"},
		{site.Access{Public: true}, 200, "", "public, max-age=60"},
	} {
		f.access = tc.access
		resp, body := f.get(t, "GET", "/sites/files/@v1/index.html")
		if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge || resp.Header.Get("Cache-Control") != tc.cache {
			t.Errorf("access %+v: %d, WWW-Authenticate %q, Cache-Control %q; want %d, %q, %q", tc.access, resp.StatusCode,
				resp.Header.Get("WWW-Authenticate"), resp.Header.Get("Cache-Control"), tc.status, tc.challenge, tc.cache)
		}
		if tc.status != 200 && strings.Contains(body, "<img") {
			t.Errorf("access %+v: the page shown", tc.access)
		}
	}
}

// What is not a site gets a 404 that says so.
func TestNotSite(t *testing.T) {
	f := newFixture(t, site.Options{})
	f.manifest(t, "image", "v1", f.blob(t, "image", v1.MediaTypeImageLayerGzip, "", []byte("untitled")))
	for _, tc := range []struct{ path, body string }{
		{"/sites/image/@v1/", "not a site"},
		{"/sites/image/", "No site here"},
		{"/sites/", "No site here"},
		{"/sites/Bad/@v1/", "No site here"},
		{"/sites/image/@bad:digest/", "No site here"},
		{"/sites/nothing/@v1/", "has no v1"},
	} {
		resp, body := f.get(t, "GET", tc.path)
		if resp.StatusCode != 404 || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %d %q, want 404 with %q", tc.path, resp.StatusCode, body, tc.body)
		}
	}
}

// A repository that names another's archive without holding it (a sparse
// manifest, --allow-sparse) does not get its files, even once the site
// was unpacked for the repository that holds it.
func TestSparseArchive(t *testing.T) {
	f := newFixture(t, site.Options{})
	f.reg = registry.New(f.blobs, f.meta, registry.Options{AllowSparse: true})
	f.srv = site.New(f.reg, f.blobs, f.meta, site.Options{})
	f.pushBoth(t)
	if resp, body := f.get(t, "GET", "/sites/dir/@v1/style.css"); resp.StatusCode != 200 || body != styleCSS {
		t.Fatalf("dir: %d %q", resp.StatusCode, body)
	}
	// The same manifest, pushed to thief, which holds only the config.
	_, body, err := f.reg.Manifest(context.Background(), "dir", oci.Reference{Tag: "v1"})
	if err != nil {
		t.Fatal(err)
	}
	f.blob(t, "thief", v1.MediaTypeEmptyJSON, "", []byte("{}"))
	if _, err := f.reg.PutManifest(context.Background(), "thief", oci.Reference{Tag: "v1"}, v1.MediaTypeImageManifest, body, nil); err != nil {
		t.Fatal(err)
	}
	if resp, got := f.get(t, "GET", "/sites/thief/@v1/style.css"); resp.StatusCode == 200 || strings.Contains(got, styleCSS) {
		t.Errorf("thief: %d %q; want a refusal", resp.StatusCode, got)
	}
}
