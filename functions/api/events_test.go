package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/syncbuf"
)

// The content the sample events in ../../events are about: repository
// library/hello holds an image (config, one gzipped layer) tagged 1.0,
// latest and stable, and an SBOM artifact whose subject is the image.
const (
	repo       = "library/hello"
	layerB64   = "H4sIAAAAAAACA+3RMQrCQBAF0K09xZ5ARgnxPBaRCJHIuoLHd00l9grB95o//OYXMw7TNG/ro6bviabvuiWbz4zYv91Lf+hjl3KkH7jf6rG0yfSfxtf/86nMl3w9D2WTAAAAAAAAAAAAWIUn98rQEwAoAAA="
	configBlob = `{"architecture":"amd64","os":"linux","config":{"Cmd":["/hello"]},"rootfs":{"type":"layers","diff_ids":["sha256:54e84a33a2a1f9de6f9103e5cc8095000c1c9a0b1db2917e660322bcb0bb5d0a"]}}`
	sbom       = `{"spdxVersion":"SPDX-2.3","name":"hello"}`
	sbomType   = "application/vnd.example.sbom.v1+json"
	emptyJSON  = `{}`
	// manifest is the body of the manifest-put events, byte for byte.
	manifest = `{
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {
    "mediaType": "application/vnd.oci.image.config.v1+json",
    "digest": "sha256:e95092163516176690300783f04da5690f109de6a859ae01020bbde2cc18c22a",
    "size": 179
  },
  "layers": [
    {
      "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:fc0dddd657e869fe183f92622d01e048906a7e9963b5ddb3028a1fa09465848d",
      "size": 116
    }
  ],
  "annotations": {
    "org.opencontainers.image.title": "hello"
  }
}
`
	referrer = `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.sbom.v1+json","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2,"data":"e30="},"layers":[{"mediaType":"application/spdx+json","digest":"sha256:8b4f5be8711180f37be21de2c391cd89db4036f97c52854971beb11f8658dea0","size":41}],"subject":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:cb7634c6eca3d95421e35ff4686dee9b8bf7573c3deec1cd3a1b49c792ca2421","size":547}}`
	// The upload ids in the upload-patch and upload-put events; the test
	// puts the ids of sessions it opened in their place.
	patchUploadID = "5f0c3e7a9b2d4c61a8e7f3b2d1c0a9e8"
	putUploadID   = "9a8b7c6d5e4f30211203f4e5d6c7b8a9"
)

var layer, _ = base64.StdEncoding.DecodeString(layerB64)

// seeded is a registry on the local backend, behind the Lambda handler
// that main builds, with the content above and two upload sessions.
type seeded struct {
	f         *function
	logs      *syncbuf.Buffer
	patchID   string // an empty session
	putID     string // a session holding the layer's bytes
	manifestD digest.Digest
}

func seed(t *testing.T) *seeded {
	t.Helper()
	logs := &syncbuf.Buffer{}
	// The events test the API: an open registry (auth has tests of its own).
	env := map[string]string{"PIER_BACKEND": "local", "PIER_DATA_DIR": t.TempDir(), "PIER_AUTH": "none"}
	f, err := newFunction(context.Background(), func(k string) string { return env[k] }, logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.server.Close)
	ctx := context.Background()
	reg := f.server.Registry
	for _, b := range [][]byte{layer, []byte(configBlob), []byte(sbom), []byte(emptyJSON)} {
		if err := reg.PutBlob(ctx, repo, digest.FromBytes(b), bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tag := range []string{"1.0", "latest", "stable"} {
		if _, err := reg.PutManifest(ctx, repo, oci.Reference{Tag: tag}, "application/vnd.oci.image.manifest.v1+json", []byte(manifest), nil); err != nil {
			t.Fatal(err)
		}
	}
	d := digest.FromString(referrer)
	if _, err := reg.PutManifest(ctx, repo, oci.Reference{Digest: d}, "application/vnd.oci.image.manifest.v1+json", []byte(referrer), nil); err != nil {
		t.Fatal(err)
	}
	patch, err := reg.StartUpload(ctx, repo, "")
	if err != nil {
		t.Fatal(err)
	}
	put, err := reg.StartUpload(ctx, repo, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reg.WriteChunk(ctx, registry.UploadRef{Repo: repo, ID: put.ID}, 0, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	return &seeded{f: f, logs: logs, patchID: patch.ID, putID: put.ID, manifestD: digest.FromString(manifest)}
}

// answer is a response event of either format.
type answer struct {
	status int
	header http.Header
	body   []byte
	b64    bool // the event's body was base64
}

// invoke feeds payload to the handler as Lambda would, and reads the
// response event of format ("v1" or "v2").
func (s *seeded) invoke(t *testing.T, format string, payload []byte) answer {
	t.Helper()
	out, err := s.f.handler.Invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		StatusCode        int                 `json:"statusCode"`
		Headers           map[string]string   `json:"headers"`
		MultiValueHeaders map[string][]string `json:"multiValueHeaders"`
		Cookies           []string            `json:"cookies"`
		Body              string              `json:"body"`
		IsBase64Encoded   bool                `json:"isBase64Encoded"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("response event %s: %v", out, err)
	}
	a := answer{status: res.StatusCode, header: http.Header{}, body: []byte(res.Body), b64: res.IsBase64Encoded}
	switch format {
	case "v1":
		if len(res.Headers) > 0 {
			t.Errorf("v1 response has headers %v; want multiValueHeaders only", res.Headers)
		}
		for k, vs := range res.MultiValueHeaders {
			a.header[http.CanonicalHeaderKey(k)] = vs
		}
	case "v2":
		if res.MultiValueHeaders != nil {
			t.Errorf("v2 response has multiValueHeaders %v", res.MultiValueHeaders)
		}
		for k, v := range res.Headers {
			a.header[http.CanonicalHeaderKey(k)] = []string{v}
		}
	}
	if res.IsBase64Encoded {
		if a.body, err = base64.StdEncoding.DecodeString(res.Body); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// eventCheck checks the answer to one sample event. prefix is the public
// base path of the event's URLs ("/prod" on the REST API's execute-api
// domain, "" on the HTTP API's $default stage).
type eventCheck struct {
	status   int
	b64      bool              // the body is binary (base64 in the event)
	header   map[string]string // exact values; {prefix} and {manifest} are replaced
	match    map[string]string // regular expressions, anchored; the same replacements
	body     string            // exact body, when not ""
	bodyJSON func(t *testing.T, body []byte)
}

var (
	layerDigest    = digest.FromBytes(layer).String()
	manifestDigest = digest.FromString(manifest).String()
	referrerDigest = digest.FromString(referrer).String()
)

var eventChecks = map[string]eventCheck{
	"ping": {
		status: 200,
		header: map[string]string{"Docker-Distribution-Api-Version": "registry/2.0", "Content-Type": "application/json"},
		body:   "{}",
	},
	"manifest-get": {
		status: 200,
		header: map[string]string{
			"Docker-Content-Digest": manifestDigest,
			"Content-Type":          "application/vnd.oci.image.manifest.v1+json",
		},
		body: manifest,
	},
	"manifest-put": {
		status: 201,
		header: map[string]string{
			"Location":              "{prefix}/v2/" + repo + "/manifests/" + manifestDigest,
			"Docker-Content-Digest": manifestDigest,
		},
	},
	"blob-get": {
		status: 200, b64: true,
		header: map[string]string{
			"Docker-Content-Digest": layerDigest,
			"Content-Type":          "application/octet-stream",
		},
		body: string(layer),
	},
	"upload-post": {
		status: 202,
		header: map[string]string{
			"Oci-Chunk-Min-Length": "1048576",
			"Oci-Chunk-Max-Length": "4194304",
			"Range":                "0-0",
		},
		match: map[string]string{"Location": `{prefix}/v2/` + repo + `/blobs/uploads/[0-9a-f]{32}`},
	},
	"upload-patch": {
		status: 202,
		header: map[string]string{
			"Location": "{prefix}/v2/" + repo + "/blobs/uploads/{patch}",
			"Range":    "0-115",
		},
	},
	"upload-put": {
		status: 201,
		header: map[string]string{
			"Location":              "{prefix}/v2/" + repo + "/blobs/" + layerDigest,
			"Docker-Content-Digest": layerDigest,
		},
	},
	"tags-list": {
		status: 200,
		header: map[string]string{
			"Link":         `<{prefix}/v2/` + repo + `/tags/list?last=latest&n=1>; rel="next"`,
			"Content-Type": "application/json",
		},
		body: `{"name":"library/hello","tags":["latest"]}`,
	},
	"referrers": {
		status: 200,
		header: map[string]string{
			"Content-Type":        "application/vnd.oci.image.index.v1+json",
			"Oci-Filters-Applied": "artifactType",
		},
		bodyJSON: func(t *testing.T, body []byte) {
			var idx struct {
				Manifests []struct {
					Digest       string `json:"digest"`
					ArtifactType string `json:"artifactType"`
				} `json:"manifests"`
			}
			if err := json.Unmarshal(body, &idx); err != nil {
				t.Fatal(err)
			}
			if len(idx.Manifests) != 1 || idx.Manifests[0].Digest != referrerDigest || idx.Manifests[0].ArtifactType != sbomType {
				t.Errorf("referrers %s: want only %s", body, referrerDigest)
			}
		},
	},
}

// prefixes are the public base paths of the sample events of each format.
var prefixes = map[string]string{"v1": "/prod", "v2": ""}

// TestEvents feeds every sample event under events/ through the Lambda
// handler into a registry on the local backend and checks the answers. A
// file there that this test does not know fails it, and so does a known
// event missing from a format.
func TestEvents(t *testing.T) {
	root := filepath.Join("..", "..", "events")
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		format, file := filepath.Split(rel)
		format = strings.TrimSuffix(format, string(filepath.Separator))
		name := strings.TrimSuffix(file, ".json")
		check, ok := eventChecks[name]
		if _, known := prefixes[format]; !known || !ok || !strings.HasSuffix(file, ".json") {
			t.Errorf("events/%s is not exercised: sample events are events/v1/<name>.json and events/v2/<name>.json with a check in eventChecks", filepath.ToSlash(rel))
			return nil
		}
		seen[format+"/"+name] = true
		t.Run(format+"/"+name, func(t *testing.T) { runEvent(t, path, format, check) })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range eventChecks {
		for format := range prefixes {
			if !seen[format+"/"+name] {
				t.Errorf("events/%s/%s.json is missing", format, name)
			}
		}
	}
}

func runEvent(t *testing.T, path, format string, check eventCheck) {
	payload, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var meta struct {
		Version         string `json:"version"`
		IsBase64Encoded bool   `json:"isBase64Encoded"`
		RequestContext  struct {
			RequestID  string `json:"requestId"`
			Stage      string `json:"stage"`
			DomainName string `json:"domainName"`
		} `json:"requestContext"`
	}
	if err := json.Unmarshal(payload, &meta); err != nil {
		t.Fatal(err)
	}
	if (meta.Version == "2.0") != (format == "v2") || meta.RequestContext.RequestID == "" {
		t.Fatalf("%s is not a %s event with a request id", path, format)
	}
	s := seed(t)
	payload = bytes.ReplaceAll(payload, []byte(patchUploadID), []byte(s.patchID))
	payload = bytes.ReplaceAll(payload, []byte(putUploadID), []byte(s.putID))
	a := s.invoke(t, format, payload)

	replace := strings.NewReplacer("{prefix}", prefixes[format], "{patch}", s.patchID)
	if a.status != check.status {
		t.Fatalf("status %d, want %d; body %s", a.status, check.status, a.body)
	}
	for k, want := range check.header {
		want = replace.Replace(want)
		if got := a.header[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	for k, pattern := range check.match {
		re := regexp.MustCompile("^" + replace.Replace(pattern) + "$")
		if got := a.header.Get(k); !re.MatchString(got) {
			t.Errorf("%s: %q does not match %s", k, got, re)
		}
	}
	if got := a.header.Get("X-Request-Id"); got != meta.RequestContext.RequestID {
		t.Errorf("X-Request-Id %q, want the event's request id %q", got, meta.RequestContext.RequestID)
	}
	if check.body != "" && string(a.body) != check.body {
		t.Errorf("body %q, want %q", a.body, check.body)
	}
	if check.bodyJSON != nil {
		check.bodyJSON(t, a.body)
	}
	// The body's encoding: binary bytes as base64, the rest as text.
	if a.b64 != check.b64 {
		t.Errorf("isBase64Encoded %v, want %v", a.b64, check.b64)
	}
	// The log line of the request carries the event's request id.
	if !hasRequest(s.logs, meta.RequestContext.RequestID) {
		t.Errorf("no request log line with request_id %q in\n%s", meta.RequestContext.RequestID, s.logs)
	}
}

// hasRequest reports whether logs hold a "request" line with request_id id.
func hasRequest(logs *syncbuf.Buffer, id string) bool {
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" && line.RequestID == id {
			return true
		}
	}
	return false
}
