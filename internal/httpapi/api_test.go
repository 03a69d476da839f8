package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/registry"
)

// put pushes body as manifest ref of repo with Content-Type mediaType and
// fails unless the answer has status.
func (s *server) put(t *testing.T, repo, ref, mediaType string, body []byte, status int) *http.Response {
	t.Helper()
	return s.mustDo(t, request{
		method: http.MethodPut,
		path:   "/v2/" + repo + "/manifests/" + ref,
		header: map[string]string{"Content-Type": mediaType},
		body:   body,
	}, status)
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var linkRE = regexp.MustCompile(`^<([^>]+)>; rel="next"$`)

// collect follows the Link headers of a listing from path on, decoding each
// page into a fresh T and handing it to add; it returns the pages' headers.
func collect[T any](t *testing.T, s *server, path string, add func(T)) []http.Header {
	t.Helper()
	var headers []http.Header
	for path != "" && len(headers) < 100 {
		resp, body := s.do(t, request{method: http.MethodGet, path: path})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: status %d: %s", path, resp.StatusCode, body)
		}
		var page T
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		add(page)
		headers = append(headers, resp.Header)
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			m := linkRE.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("GET %s: Link %q is not <url>; rel=\"next\"", path, link)
			}
			path = m[1]
		}
	}
	return headers
}

// image pushes a one-layer image to repo and returns its manifest's
// descriptor.
func image(t *testing.T, s *server, repo, tag string, layerType string, content string) v1.Descriptor {
	t.Helper()
	config := s.pushBlob(t, repo, v1.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`))
	layer := s.pushBlob(t, repo, layerType, []byte(content))
	body := imageManifest(t, config, layer)
	d := s.pushManifest(t, repo, tag, body)
	return v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: d, Size: int64(len(body))}
}

func TestTagsAndCatalogPages(t *testing.T) {
	s := newServer(t, registry.Options{PageSize: 3})
	var want []string
	for i := range 7 {
		tag := fmt.Sprintf("v%d", i)
		image(t, s, "pages/app", tag, v1.MediaTypeImageLayerGzip, "layer")
		want = append(want, tag)
	}
	for _, repo := range []string{"pages/a", "pages/b", "pages/c", "pages/d"} {
		s.pushBlob(t, repo, "application/octet-stream", []byte(repo))
	}

	for _, path := range []string{"/v2/pages/app/tags/list", "/v2/pages/app/tags/list?n=2"} {
		var got []string
		headers := collect(t, s, path, func(p struct{ Tags []string }) { got = append(got, p.Tags...) })
		if !slices.Equal(got, want) {
			t.Errorf("%s: pages give %v, want %v", path, got, want)
		}
		if len(headers) < 3 {
			t.Errorf("%s: %d pages, want several", path, len(headers))
		}
	}
	var got []string
	collect(t, s, "/v2/pages/app/tags/list?n=2&last=v4", func(p struct{ Tags []string }) { got = append(got, p.Tags...) })
	if !slices.Equal(got, []string{"v5", "v6"}) {
		t.Errorf("tags after v4: %v", got)
	}
	got = nil
	collect(t, s, "/v2/pages/app/tags/list?n=0", func(p struct{ Tags []string }) { got = append(got, p.Tags...) })
	if len(got) != 0 {
		t.Errorf("n=0: %v, want no tags", got)
	}

	var repos []string
	collect(t, s, "/v2/_catalog?n=2", func(p struct{ Repositories []string }) { repos = append(repos, p.Repositories...) })
	if want := []string{"pages/a", "pages/app", "pages/b", "pages/c", "pages/d"}; !slices.Equal(repos, want) {
		t.Errorf("catalog pages give %v, want %v", repos, want)
	}
}

func TestReferrers(t *testing.T) {
	s := newServer(t, registry.Options{PageSize: 2})
	const repo = "refs/app"
	subject := image(t, s, repo, "v1", v1.MediaTypeImageLayerGzip, "layer")
	empty := s.pushBlob(t, repo, v1.MediaTypeEmptyJSON, []byte("{}"))

	// artifact pushes a referrer of subject: artifactType set on the
	// manifest, or (when "") taken from a config of media type configType.
	artifact := func(artifactType, configType, note string) v1.Descriptor {
		config := empty
		if configType != "" {
			config = s.pushBlob(t, repo, configType, []byte(`{"note":"`+note+`"}`))
		}
		m := v1.Manifest{
			Versioned:    specs.Versioned{SchemaVersion: 2},
			MediaType:    v1.MediaTypeImageManifest,
			ArtifactType: artifactType,
			Config:       config,
			Layers:       []v1.Descriptor{empty},
			Subject:      &subject,
			Annotations:  map[string]string{"note": note},
		}
		body := mustJSON(t, m)
		resp := s.put(t, repo, digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body, http.StatusCreated)
		if got := resp.Header.Get("OCI-Subject"); got != subject.Digest.String() {
			t.Errorf("OCI-Subject = %q, want %s", got, subject.Digest)
		}
		at := artifactType
		if at == "" {
			at = configType
		}
		return v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(body), Size: int64(len(body)), ArtifactType: at, Annotations: map[string]string{"note": note}}
	}
	var sboms, sigs []v1.Descriptor
	for i := range 3 {
		sboms = append(sboms, artifact("application/vnd.example.sbom", "", fmt.Sprint("sbom", i)))
	}
	for i := range 2 {
		sigs = append(sigs, artifact("", "application/vnd.example.signature.config", fmt.Sprint("sig", i)))
	}

	list := func(path string) ([]v1.Descriptor, []http.Header) {
		var got []v1.Descriptor
		headers := collect(t, s, path, func(idx v1.Index) {
			if idx.SchemaVersion != 2 || idx.MediaType != v1.MediaTypeImageIndex {
				t.Errorf("%s: not an OCI index: %+v", path, idx)
			}
			got = append(got, idx.Manifests...)
		})
		return got, headers
	}
	sortDescs := func(ds []v1.Descriptor) {
		slices.SortFunc(ds, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	}
	equal := func(a, b []v1.Descriptor) bool {
		sortDescs(a)
		sortDescs(b)
		return bytes.Equal(mustJSON(t, a), mustJSON(t, b))
	}

	base := "/v2/" + repo + "/referrers/" + subject.Digest.String()
	all, headers := list(base)
	if want := append(slices.Clone(sboms), sigs...); !equal(all, want) {
		t.Errorf("referrers = %s\nwant %s", mustJSON(t, all), mustJSON(t, want))
	}
	if len(headers) != 3 {
		t.Errorf("5 referrers in pages of 2: %d pages, want 3", len(headers))
	}
	if headers[0].Get("OCI-Filters-Applied") != "" || headers[0].Get("Content-Type") != v1.MediaTypeImageIndex {
		t.Errorf("unfiltered listing headers: %v", headers[0])
	}

	got, headers := list(base + "?artifactType=" + url.QueryEscape("application/vnd.example.sbom"))
	if !equal(got, sboms) {
		t.Errorf("sbom referrers = %s\nwant %s", mustJSON(t, got), mustJSON(t, sboms))
	}
	for _, h := range headers {
		if h.Get("OCI-Filters-Applied") != "artifactType" {
			t.Errorf("filtered page lacks OCI-Filters-Applied: %v", h)
		}
	}
	got, _ = list(base + "?artifactType=" + url.QueryEscape("application/vnd.example.signature.config"))
	if !equal(got, sigs) {
		t.Errorf("signature referrers (artifactType from the config) = %s", mustJSON(t, got))
	}

	// A subject that is not (yet) in the repository: accepted, listed.
	missing := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromString("not pushed yet"), Size: 10}
	m := v1.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
		ArtifactType: "application/vnd.example.note", Config: empty, Layers: []v1.Descriptor{empty}, Subject: &missing}
	body := mustJSON(t, m)
	s.put(t, repo, "note", v1.MediaTypeImageManifest, body, http.StatusCreated)
	got, _ = list("/v2/" + repo + "/referrers/" + missing.Digest.String())
	if len(got) != 1 || got[0].Digest != digest.FromBytes(body) {
		t.Errorf("referrers of a missing subject = %s", mustJSON(t, got))
	}

	// Deleting a referrer removes it from the listing.
	s.mustDo(t, request{method: http.MethodDelete, path: "/v2/" + repo + "/manifests/" + sboms[0].Digest.String()}, http.StatusAccepted)
	got, _ = list(base)
	if len(got) != 4 || slices.ContainsFunc(got, func(d v1.Descriptor) bool { return d.Digest == sboms[0].Digest }) {
		t.Errorf("after deleting a referrer: %s", mustJSON(t, got))
	}
}

func TestManifestRules(t *testing.T) {
	const repo = "rules/app"
	config := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	nd := v1.Descriptor{MediaType: "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", Digest: digest.FromString("foreign"), Size: 7,
		URLs: []string{"https://example.com/foreign"}}
	missing := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: digest.FromString("never pushed"), Size: 12}

	t.Run("non-distributable layer: accepted with a Warning", func(t *testing.T) {
		s := newServer(t, registry.Options{})
		c := s.pushBlob(t, repo, v1.MediaTypeImageConfig, config)
		resp := s.put(t, repo, "nd", v1.MediaTypeImageManifest, imageManifest(t, c, nd), http.StatusCreated)
		w := resp.Header.Values("Warning")
		if len(w) != 1 || !strings.HasPrefix(w[0], `299 - "`) || !strings.Contains(w[0], nd.Digest.String()) || !strings.HasSuffix(w[0], `"`) {
			t.Errorf("Warning = %q, want one 299 warning naming the layer", w)
		}
	})
	t.Run("sparse image: refused by default, accepted with AllowSparse", func(t *testing.T) {
		s := newServer(t, registry.Options{})
		c := s.pushBlob(t, repo, v1.MediaTypeImageConfig, config)
		body := imageManifest(t, c, missing)
		resp, b := s.do(t, request{method: http.MethodPut, path: "/v2/" + repo + "/manifests/sparse", header: map[string]string{"Content-Type": v1.MediaTypeImageManifest}, body: body})
		expectError(t, resp, b, http.StatusBadRequest, "MANIFEST_BLOB_UNKNOWN")
		s = newServer(t, registry.Options{AllowSparse: true})
		c = s.pushBlob(t, repo, v1.MediaTypeImageConfig, config)
		resp = s.put(t, repo, "sparse", v1.MediaTypeImageManifest, body, http.StatusCreated)
		if len(resp.Header.Values("Warning")) != 1 {
			t.Errorf("sparse image accepted without a Warning: %v", resp.Header)
		}
	})
	t.Run("index with missing children: accepted, bytes kept", func(t *testing.T) {
		s := newServer(t, registry.Options{})
		pushed := image(t, s, repo, "amd64", v1.MediaTypeImageLayerGzip, "amd64 layer")
		// Platforms repeat, an entry is missing, and the JSON has its own
		// spacing and field order: the registry keeps it byte for byte.
		body := []byte(fmt.Sprintf(`{
  "schemaVersion": 2,
  "mediaType": %q,
  "manifests": [
    {"mediaType": %q, "digest": %q, "size": %d, "platform": {"os": "linux", "architecture": "amd64"}},
    {"mediaType": %q, "digest": %q, "size": 12, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": %q, "mediaType": %q, "size": %d, "platform": {"architecture": "amd64", "os": "linux"}}
  ]
}`, v1.MediaTypeImageIndex, pushed.MediaType, pushed.Digest, pushed.Size, v1.MediaTypeImageManifest, missing.Digest, pushed.Digest, pushed.MediaType, pushed.Size))
		s.put(t, repo, "multi", v1.MediaTypeImageIndex, body, http.StatusCreated)
		resp, got := s.do(t, request{method: http.MethodGet, path: "/v2/" + repo + "/manifests/multi"})
		if !bytes.Equal(got, body) || resp.Header.Get("Content-Type") != v1.MediaTypeImageIndex || resp.Header.Get("Docker-Content-Digest") != digest.FromBytes(body).String() {
			t.Errorf("pulled index differs: %s %v\n%s", resp.Status, resp.Header, got)
		}
	})
	t.Run("zstd layer and sha512 manifest", func(t *testing.T) {
		s := newServer(t, registry.Options{})
		img := image(t, s, repo, "zstd", "application/vnd.oci.image.layer.v1.tar+zstd", "zstd bytes")
		resp, body := s.do(t, request{method: http.MethodGet, path: "/v2/" + repo + "/manifests/" + img.Digest.String()})
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "tar+zstd") {
			t.Fatalf("zstd image: %s %s", resp.Status, body)
		}
		d512 := digest.SHA512.FromBytes(body)
		resp = s.put(t, repo, d512.String()+"?tag=t512&tag=also", v1.MediaTypeImageManifest, body, http.StatusCreated)
		if got := resp.Header.Values("OCI-Tag"); !slices.Equal(got, []string{"t512", "also"}) || resp.Header.Get("Docker-Content-Digest") != d512.String() {
			t.Errorf("multi-tag push by sha512: OCI-Tag %q, digest %q", got, resp.Header.Get("Docker-Content-Digest"))
		}
		resp, _ = s.do(t, request{method: http.MethodHead, path: "/v2/" + repo + "/manifests/also"})
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Docker-Content-Digest") != d512.String() {
			t.Errorf("HEAD by a tag parameter's tag: %s %v", resp.Status, resp.Header)
		}
	})
}

func TestBlobs(t *testing.T) {
	s := newServer(t, registry.Options{})
	content := []byte("0123456789abcdef")
	b := s.pushBlob(t, "blobs/a", "application/octet-stream", content)
	path := "/v2/blobs/a/blobs/" + b.Digest.String()

	resp, got := s.do(t, request{method: http.MethodGet, path: path, header: map[string]string{"Range": "bytes=2-5"}})
	if resp.StatusCode != http.StatusPartialContent || string(got) != "2345" || resp.Header.Get("Content-Range") != "bytes 2-5/16" {
		t.Errorf("ranged GET: %s %q %v", resp.Status, got, resp.Header)
	}
	resp, _ = s.do(t, request{method: http.MethodHead, path: path})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Length") != "16" || resp.Header.Get("Docker-Content-Digest") != b.Digest.String() {
		t.Errorf("HEAD: %s %v", resp.Status, resp.Header)
	}

	// Anonymous mount: from wherever the registry has the blob.
	resp = s.mustDo(t, request{method: http.MethodPost, path: "/v2/blobs/b/blobs/uploads/?mount=" + b.Digest.String()}, http.StatusCreated)
	if resp.Header.Get("Location") != "/v2/blobs/b/blobs/"+b.Digest.String() {
		t.Errorf("mount Location = %q", resp.Header.Get("Location"))
	}
	if _, got := s.do(t, request{method: http.MethodGet, path: "/v2/blobs/b/blobs/" + b.Digest.String()}); !bytes.Equal(got, content) {
		t.Errorf("mounted blob = %q", got)
	}
	// A mount of a blob the source does not have starts an upload.
	resp = s.mustDo(t, request{method: http.MethodPost, path: "/v2/blobs/c/blobs/uploads/?mount=" + digest.FromString("nope").String() + "&from=blobs/a"}, http.StatusAccepted)
	if !strings.HasPrefix(resp.Header.Get("Location"), "/v2/blobs/c/blobs/uploads/") {
		t.Errorf("failed mount Location = %q", resp.Header.Get("Location"))
	}

	// Deleting the blob from one repository leaves it in the other.
	s.mustDo(t, request{method: http.MethodDelete, path: path}, http.StatusAccepted)
	s.mustDo(t, request{method: http.MethodHead, path: path}, http.StatusNotFound)
	s.mustDo(t, request{method: http.MethodHead, path: "/v2/blobs/b/blobs/" + b.Digest.String()}, http.StatusOK)

	// A finished upload answers a repeated PUT as the first.
	loc := s.startUpload(t, "blobs/a", content)
	s.mustDo(t, request{method: http.MethodPut, path: loc + "?digest=" + b.Digest.String()}, http.StatusCreated)
	s.mustDo(t, request{method: http.MethodPut, path: loc + "?digest=" + b.Digest.String()}, http.StatusCreated)
	s.mustDo(t, request{method: http.MethodGet, path: loc}, http.StatusNotFound)
}

func TestDiscover(t *testing.T) {
	s := newServer(t, registry.Options{})
	for _, path := range []string{"/v2/_oci/ext/discover", "/v2/some/repo/_oci/ext/discover"} {
		resp, body := s.do(t, request{method: http.MethodGet, path: path})
		var got struct {
			Extensions []struct {
				Name, URL string
				Endpoints []string
			}
		}
		if err := json.Unmarshal(body, &got); err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %s %s", path, resp.Status, body)
		}
		if len(got.Extensions) == 0 || got.Extensions[0].Name != "_oci" || len(got.Extensions[0].Endpoints) == 0 || got.Extensions[0].URL == "" {
			t.Errorf("%s: %s", path, body)
		}
	}
}
