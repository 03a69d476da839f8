package httpapi_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
)

// chunkMax is the ChunkMaxLength of the server that answers SIZE_INVALID.
const chunkMax = 64

// errorCase is a request that fails with an error of code.
type errorCase struct {
	name   string
	code   oci.Code
	status int
	req    request
	// on is the server the request goes to; nil: the default one.
	on *fixture
	// check, when set, checks more of the response.
	check func(t *testing.T, resp *http.Response)
}

// specCodes are the error codes of the distribution spec that the API
// answers with (UNAUTHORIZED, DENIED and TOOMANYREQUESTS need auth and
// rate limits, which Pier's HTTP layer does not have).
var specCodes = []oci.Code{
	oci.CodeBlobUnknown,
	oci.CodeBlobUploadInvalid,
	oci.CodeBlobUploadUnknown,
	oci.CodeDigestInvalid,
	oci.CodeManifestBlobUnknown,
	oci.CodeManifestInvalid,
	oci.CodeManifestUnknown,
	oci.CodeNameInvalid,
	oci.CodeNameUnknown,
	oci.CodeSizeInvalid,
	oci.CodeUnsupported,
}

// TestErrorCodes sends requests that fail, each with one of the spec's
// error codes, and checks the status, the JSON error body, and that the
// request changed nothing in the store.
func TestErrorCodes(t *testing.T) {
	f := seed(t, registry.Options{})
	small := seed(t, registry.Options{ChunkMaxLength: chunkMax})
	cases := errorCases(t, f, small)

	covered := map[oci.Code]int{}
	for _, c := range cases {
		covered[c.code]++
		t.Run(string(c.code)+"/"+c.name, func(t *testing.T) {
			srv := f
			if c.on != nil {
				srv = c.on
			}
			before := takeSnapshot(t, srv.dir)
			resp, body := srv.do(t, c.req)
			expectError(t, resp, body, c.status, c.code)
			if c.check != nil {
				c.check(t, resp)
			}
			expectUnchanged(t, before, takeSnapshot(t, srv.dir))
		})
	}
	for _, code := range specCodes {
		if covered[code] == 0 {
			t.Errorf("no case for %s", code)
		}
		t.Logf("%-22s %2d cases", code, covered[code])
	}
}

// errorCases are the failing requests, aimed at f's content, and those
// that need a chunk limit at small's, seeded like f with ChunkMaxLength
// chunkMax.
func errorCases(t *testing.T, f, small *fixture) []errorCase {
	var (
		repo     = "/v2/" + f.repo
		other    = "/v2/" + f.other
		unknown  = digest.FromString("not pushed anywhere")
		unknown5 = digest.SHA512.FromString("not pushed anywhere")
		unknownU = strings.Repeat("0", 32) // an upload id of the right form
		image    = map[string]string{"Content-Type": v1.MediaTypeImageManifest}
		octets   = map[string]string{"Content-Type": "application/octet-stream"}
		// the next chunk of f's upload, its range and a wrong one
		next      = []byte("next")
		nextRange = fmt.Sprintf("%d-%d", f.uploadLen, f.uploadLen+int64(len(next))-1)
		big       = bytes.Repeat([]byte("x"), chunkMax+1)
		bigDigest = digest.FromBytes(big).String()
	)
	withRange := func(r string) map[string]string {
		return map[string]string{"Content-Type": "application/octet-stream", "Content-Range": r}
	}
	// manifest is an image manifest of f's config and layers, pushed
	// with Content-Type ct.
	manifest := func(ct string, layers ...v1.Descriptor) request {
		return request{method: http.MethodPut, path: repo + "/manifests/v2", header: map[string]string{"Content-Type": ct}, body: imageManifest(t, f.config, layers...)}
	}
	missingLayer := v1.Descriptor{MediaType: v1.MediaTypeImageLayerGzip, Digest: unknown, Size: 19}
	badData := f.config
	badData.Data = bytes.Repeat([]byte("?"), int(f.config.Size))
	tooManyTags := repo + "/manifests/" + digest.FromBytes(imageManifest(t, f.config)).String() + "?tag=t" + strings.Repeat("&tag=t", registry.MaxTagsPerPush)

	// rangeAt checks that a 416 says where f's upload stands.
	rangeAt := func(t *testing.T, resp *http.Response) {
		t.Helper()
		if got := resp.Header.Get("Location"); got != f.uploadLoc {
			t.Errorf("Location %q, want %q", got, f.uploadLoc)
		}
		if got, want := resp.Header.Get("Range"), fmt.Sprintf("0-%d", f.uploadLen-1); got != want {
			t.Errorf("Range %q, want %q", got, want)
		}
	}
	// allows checks the Allow header of a 405 (RFC 9110, section 15.5.6).
	allows := func(methods ...string) func(t *testing.T, resp *http.Response) {
		return func(t *testing.T, resp *http.Response) {
			t.Helper()
			if got, want := resp.Header.Get("Allow"), strings.Join(methods, ", "); got != want {
				t.Errorf("Allow %q, want %q", got, want)
			}
		}
	}

	return []errorCase{
		// BLOB_UNKNOWN
		{name: "GET unknown blob", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "GET", path: repo + "/blobs/" + unknown.String()}},
		{name: "GET unknown sha512 blob", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "GET", path: repo + "/blobs/" + unknown5.String()}},
		{name: "HEAD unknown blob", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "HEAD", path: repo + "/blobs/" + unknown.String()}},
		{name: "DELETE unknown blob", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "DELETE", path: repo + "/blobs/" + unknown.String()}},
		{name: "GET blob of another repository", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "GET", path: other + "/blobs/" + f.config.Digest.String()}},
		{name: "HEAD blob of another repository", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "HEAD", path: other + "/blobs/" + f.config.Digest.String()}},
		{name: "DELETE blob of another repository", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "DELETE", path: other + "/blobs/" + f.layer.Digest.String()}},
		{name: "GET blob of unknown repository", code: oci.CodeBlobUnknown, status: 404,
			req: request{method: "GET", path: "/v2/no/such/repo/blobs/" + f.config.Digest.String()}},

		// BLOB_UPLOAD_INVALID
		{name: "PATCH chunk restarting at 0", code: oci.CodeBlobUploadInvalid, status: 416, check: rangeAt,
			req: request{method: "PATCH", path: f.uploadLoc, header: withRange(fmt.Sprintf("0-%d", len(next)-1)), body: next}},
		{name: "PATCH chunk past the end", code: oci.CodeBlobUploadInvalid, status: 416, check: rangeAt,
			req: request{method: "PATCH", path: f.uploadLoc, header: withRange(fmt.Sprintf("%d-%d", f.uploadLen+1, f.uploadLen+int64(len(next)))), body: next}},
		{name: "PUT final chunk out of order", code: oci.CodeBlobUploadInvalid, status: 416, check: rangeAt,
			req: request{method: "PUT", path: f.uploadLoc + "?digest=" + unknown.String(), header: withRange(fmt.Sprintf("0-%d", len(next)-1)), body: next}},
		{name: "PATCH malformed Content-Range", code: oci.CodeBlobUploadInvalid, status: 416,
			req: request{method: "PATCH", path: f.uploadLoc, header: withRange("bytes=a-b"), body: next}},
		{name: "PATCH Content-Range longer than the body", code: oci.CodeBlobUploadInvalid, status: 416,
			req: request{method: "PATCH", path: f.uploadLoc, header: withRange(fmt.Sprintf("%d-%d", f.uploadLen, f.uploadLen+99)), body: next}},

		// BLOB_UPLOAD_UNKNOWN
		{name: "GET unknown upload", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "GET", path: repo + "/blobs/uploads/" + unknownU}},
		{name: "PATCH unknown upload", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "PATCH", path: repo + "/blobs/uploads/" + unknownU, header: withRange("0-3"), body: next}},
		{name: "PUT unknown upload", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "PUT", path: repo + "/blobs/uploads/" + unknownU + "?digest=" + digest.FromBytes(next).String(), header: octets, body: next}},
		{name: "DELETE unknown upload", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "DELETE", path: repo + "/blobs/uploads/" + unknownU}},
		{name: "GET malformed upload id", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "GET", path: repo + "/blobs/uploads/not-an-upload"}},
		{name: "PATCH upper-case upload id", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "PATCH", path: repo + "/blobs/uploads/" + strings.ToUpper(f.uploadID()), header: withRange(nextRange), body: next}},
		{name: "DELETE over-long upload id", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "DELETE", path: repo + "/blobs/uploads/" + f.uploadID() + "00"}},
		{name: "GET upload under another repository", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "GET", path: other + "/blobs/uploads/" + f.uploadID()}},
		{name: "PATCH upload under another repository", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "PATCH", path: other + "/blobs/uploads/" + f.uploadID(), header: withRange(nextRange), body: next}},
		{name: "PUT upload under another repository", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "PUT", path: other + "/blobs/uploads/" + f.uploadID() + "?digest=" + unknown.String()}},
		{name: "DELETE upload under another repository", code: oci.CodeBlobUploadUnknown, status: 404,
			req: request{method: "DELETE", path: other + "/blobs/uploads/" + f.uploadID()}},

		// DIGEST_INVALID
		{name: "monolithic POST with the wrong digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "POST", path: repo + "/blobs/uploads/?digest=" + unknown.String(), header: octets, body: next}},
		{name: "monolithic POST with a wrong existing digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "POST", path: repo + "/blobs/uploads/?digest=" + f.config.Digest.String(), header: octets, body: next}},
		{name: "monolithic POST with a malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "POST", path: repo + "/blobs/uploads/?digest=sha256:abc", header: octets, body: next}},
		{name: "monolithic POST with an unsupported algorithm", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "POST", path: repo + "/blobs/uploads/?digest=md5:d41d8cd98f00b204e9800998ecf8427e", header: octets, body: next}},
		{name: "mount of a malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "POST", path: repo + "/blobs/uploads/?mount=sha256:zz&from=" + f.other}},
		{name: "PUT closing an upload with the wrong digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "PUT", path: f.uploadLoc + "?digest=" + unknown.String()}},
		{name: "PUT closing an upload with a final chunk and the wrong digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "PUT", path: f.uploadLoc + "?digest=" + unknown.String(), header: withRange(nextRange), body: next}},
		{name: "PUT closing an upload without digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "PUT", path: f.uploadLoc}},
		{name: "PUT closing an upload with a malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "PUT", path: f.uploadLoc + "?digest=sha256:" + strings.Repeat("G", 64)}},
		{name: "GET blob by malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "GET", path: repo + "/blobs/sha256:xyz"}},
		{name: "HEAD blob by malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "HEAD", path: repo + "/blobs/sha256:xyz"}},
		{name: "DELETE blob by malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "DELETE", path: repo + "/blobs/sha256:" + strings.Repeat("a", 63)}},
		{name: "GET manifest by malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "GET", path: repo + "/manifests/sha256:xyz"}},
		{name: "GET referrers of a malformed digest", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "GET", path: repo + "/referrers/sha256:xyz"}},
		{name: "PUT manifest by a digest its body does not have", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/" + unknown.String(), header: image, body: imageManifest(t, f.config, f.layer)}},
		{name: "PUT manifest by a sha512 digest its body does not have", code: oci.CodeDigestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/" + unknown5.String(), header: image, body: imageManifest(t, f.config, f.layer)}},

		// MANIFEST_BLOB_UNKNOWN
		{name: "image manifest pushed before its layer", code: oci.CodeManifestBlobUnknown, status: 400,
			req: manifest(v1.MediaTypeImageManifest, f.layer, missingLayer)},
		{name: "image manifest pushed before its config", code: oci.CodeManifestBlobUnknown, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/v2", header: image, body: imageManifest(t, v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: unknown, Size: 19}, f.layer)}},
		{name: "image manifest whose blobs are in another repository", code: oci.CodeManifestBlobUnknown, status: 400,
			req: request{method: "PUT", path: other + "/manifests/v1", header: image, body: imageManifest(t, f.config, f.layer)}},
		{name: "image manifest by digest with tags, before its layer", code: oci.CodeManifestBlobUnknown, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/" + digest.FromBytes(imageManifest(t, f.config, missingLayer)).String() + "?tag=v3", header: image, body: imageManifest(t, f.config, missingLayer)}},

		// MANIFEST_INVALID
		{name: "manifest that is not JSON", code: oci.CodeManifestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/v2", header: image, body: []byte("not json")}},
		{name: "manifest whose Content-Type is not its mediaType", code: oci.CodeManifestInvalid, status: 400,
			req: manifest(v1.MediaTypeImageIndex, f.layer)},
		{name: "manifest whose data field does not match", code: oci.CodeManifestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/v2", header: image, body: imageManifest(t, badData, f.layer)}},
		{name: "manifest of schemaVersion 1", code: oci.CodeManifestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/v2", header: image, body: bytes.Replace(imageManifest(t, f.config), []byte(`"schemaVersion":2`), []byte(`"schemaVersion":1`), 1)}},
		{name: "manifest of an unsupported media type", code: oci.CodeManifestInvalid, status: 400,
			req: manifest("application/x-not-a-manifest")},
		{name: "manifest over 4 MiB", code: oci.CodeManifestInvalid, status: 413,
			req: request{method: "PUT", path: repo + "/manifests/v2", header: image, body: oversized(t, f)}},
		{name: "manifest over 4 MiB without Content-Length", code: oci.CodeManifestInvalid, status: 413,
			req: request{method: "PUT", path: repo + "/manifests/v2", header: image, body: oversized(t, f), chunked: true}},
		{name: "manifest push by tag with tag parameters", code: oci.CodeManifestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/v2?tag=v3", header: image, body: imageManifest(t, f.config, f.layer)}},
		{name: "manifest push with an invalid tag parameter", code: oci.CodeManifestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/" + f.manifest.String() + "?tag=-bad", header: image, body: imageManifest(t, f.config, f.layer)}},
		{name: "manifest push with too many tag parameters", code: oci.CodeManifestInvalid, status: 414,
			req: request{method: "PUT", path: tooManyTags, header: image, body: imageManifest(t, f.config)}},
		{name: "manifest push to an invalid reference", code: oci.CodeManifestInvalid, status: 400,
			req: request{method: "PUT", path: repo + "/manifests/-bad", header: image, body: imageManifest(t, f.config, f.layer)}},

		// MANIFEST_UNKNOWN
		{name: "GET unknown tag", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "GET", path: repo + "/manifests/nope"}},
		{name: "HEAD unknown tag", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "HEAD", path: repo + "/manifests/nope"}},
		{name: "DELETE unknown tag", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "DELETE", path: repo + "/manifests/nope"}},
		{name: "GET unknown digest", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "GET", path: repo + "/manifests/" + unknown.String()}},
		{name: "HEAD unknown digest", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "HEAD", path: repo + "/manifests/" + unknown.String()}},
		{name: "DELETE unknown digest", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "DELETE", path: repo + "/manifests/" + unknown.String()}},
		{name: "GET a blob's digest as a manifest", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "GET", path: repo + "/manifests/" + f.layer.Digest.String()}},
		{name: "GET tag of another repository", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "GET", path: other + "/manifests/v1"}},
		{name: "DELETE manifest of another repository", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "DELETE", path: other + "/manifests/" + f.manifest.String()}},
		{name: "GET manifest of unknown repository", code: oci.CodeManifestUnknown, status: 404,
			req: request{method: "GET", path: "/v2/no/such/repo/manifests/v1"}},

		// NAME_INVALID
		{name: "dot-dot in the name", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "GET", path: "/v2/other/../library/app/manifests/v1"}},
		{name: "escaped dot-dot in the name", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "GET", path: "/v2/other%2f..%2flibrary/app/manifests/v1"}},
		{name: "dot-dot name starting an upload", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "POST", path: "/v2/a/../b/blobs/uploads/"}},
		{name: "upper-case name", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "GET", path: "/v2/Library/App/manifests/v1"}},
		{name: "upper-case name pushing a manifest", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "PUT", path: "/v2/Library/app/manifests/v1", header: image, body: imageManifest(t, f.config, f.layer)}},
		{name: "empty name component", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "GET", path: "/v2/library//app/tags/list"}},
		{name: "name starting with a separator", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "POST", path: "/v2/-app/blobs/uploads/?digest=" + digest.FromBytes(next).String(), header: octets, body: next}},
		{name: "name over 255 characters", code: oci.CodeNameInvalid, status: 400,
			req: request{method: "GET", path: "/v2/" + strings.Repeat("a/", 128) + "a/blobs/" + f.config.Digest.String()}},

		// NAME_UNKNOWN
		{name: "tags of unknown repository", code: oci.CodeNameUnknown, status: 404,
			req: request{method: "GET", path: "/v2/no/such/repo/tags/list"}},
		{name: "page of tags of unknown repository", code: oci.CodeNameUnknown, status: 404,
			req: request{method: "GET", path: "/v2/no/such/repo/tags/list?n=1&last=a"}},
		{name: "empty page of tags of unknown repository", code: oci.CodeNameUnknown, status: 404,
			req: request{method: "GET", path: "/v2/no/such/repo/tags/list?n=0"}},
		{name: "path that is no endpoint", code: oci.CodeNameUnknown, status: 404,
			req: request{method: "GET", path: repo + "/nothing"}},

		// SIZE_INVALID
		{name: "monolithic POST over the chunk limit", code: oci.CodeSizeInvalid, status: 413, on: small,
			req: request{method: "POST", path: repo + "/blobs/uploads/?digest=" + bigDigest, header: octets, body: big}},
		{name: "monolithic POST over the chunk limit without Content-Length", code: oci.CodeSizeInvalid, status: 413, on: small,
			req: request{method: "POST", path: repo + "/blobs/uploads/?digest=" + bigDigest, header: octets, body: big, chunked: true}},
		{name: "PATCH chunk over the chunk limit", code: oci.CodeSizeInvalid, status: 413, on: small,
			req: request{method: "PATCH", path: small.uploadLoc, header: withRange(fmt.Sprintf("%d-%d", small.uploadLen, small.uploadLen+int64(len(big))-1)), body: big}},
		{name: "PUT final chunk over the chunk limit", code: oci.CodeSizeInvalid, status: 413, on: small,
			req: request{method: "PUT", path: small.uploadLoc + "?digest=" + bigDigest, header: octets, body: big}},

		// UNSUPPORTED
		{name: "POST to a manifest", code: oci.CodeUnsupported, status: 405, check: allows("DELETE", "GET", "HEAD", "PUT"),
			req: request{method: "POST", path: repo + "/manifests/v1"}},
		{name: "PUT to a blob", code: oci.CodeUnsupported, status: 405, check: allows("DELETE", "GET", "HEAD"),
			req: request{method: "PUT", path: repo + "/blobs/" + f.config.Digest.String(), header: octets, body: []byte(`{"os":"linux"}`)}},
		{name: "PATCH to the upload start", code: oci.CodeUnsupported, status: 405, check: allows("POST"),
			req: request{method: "PATCH", path: repo + "/blobs/uploads/", header: withRange("0-3"), body: next}},
		{name: "POST to an upload", code: oci.CodeUnsupported, status: 405, check: allows("DELETE", "GET", "PATCH", "PUT"),
			req: request{method: "POST", path: f.uploadLoc}},
		{name: "DELETE of the tag list", code: oci.CodeUnsupported, status: 405, check: allows("GET"),
			req: request{method: "DELETE", path: repo + "/tags/list"}},
		{name: "PUT to referrers", code: oci.CodeUnsupported, status: 405, check: allows("GET"),
			req: request{method: "PUT", path: repo + "/referrers/" + f.manifest.String()}},
		{name: "POST to the catalog", code: oci.CodeUnsupported, status: 405, check: allows("GET"),
			req: request{method: "POST", path: "/v2/_catalog"}},
		{name: "DELETE of the base endpoint", code: oci.CodeUnsupported, status: 405, check: allows("GET", "HEAD"),
			req: request{method: "DELETE", path: "/v2/"}},
		{name: "tag list with an n that is no count", code: oci.CodeUnsupported, status: 400,
			req: request{method: "GET", path: repo + "/tags/list?n=ten"}},
		{name: "catalog with a negative n", code: oci.CodeUnsupported, status: 400,
			req: request{method: "GET", path: "/v2/_catalog?n=-1"}},
	}
}

// oversized returns an image manifest of f's config that is one byte over
// oci.MaxManifestSize, padded with an annotation.
func oversized(t *testing.T, f *fixture) []byte {
	t.Helper()
	m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, Config: f.config, Layers: []v1.Descriptor{f.layer}}
	m.SchemaVersion = 2
	base, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	const wrap = len(`,"annotations":{"pad":""}`)
	m.Annotations = map[string]string{"pad": strings.Repeat("p", oci.MaxManifestSize+1-len(base)-wrap)}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != oci.MaxManifestSize+1 {
		t.Fatalf("oversized manifest is %d bytes, want %d", len(b), oci.MaxManifestSize+1)
	}
	return b
}
