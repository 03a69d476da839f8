package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/randid"
)

// authAWS is a registry with auth on over the local AWS servers: the
// flags of its bucket and table, its signing key file, and the password
// of alice, who may push and pull cap/*, and of bob, who may push and
// pull cap/*.
type authAWS struct {
	backend []string
	keyFile string
	pass    map[string]string
}

func newAuthAWS(t *testing.T) *authAWS {
	t.Helper()
	a := &authAWS{backend: awsBackendFlags(t), keyFile: filepath.Join(t.TempDir(), "auth.key"), pass: map[string]string{}}
	for _, name := range []string{"alice", "bob"} {
		a.pass[name] = randid.Hex(12)
		mustAdmin(t, a.backend, a.pass[name]+"\n", "user", "add", name, "--password-stdin", "--grant", "cap/*=push,pull")
	}
	return a
}

// serve starts a `pier serve` of the registry with flags.
func (a *authAWS) serve(t *testing.T, flags ...string) *instance {
	t.Helper()
	args := append(append([]string{}, a.backend...), "--auth", "token", "--auth-key-file", a.keyFile)
	return startServer(t, t.TempDir(), append(args, flags...)...)
}

// bearer returns the Authorization header of a token of user for push
// and pull on cap/app and cap/lib, from the token endpoint of s.
func (a *authAWS) bearer(t *testing.T, s *instance, user string) string {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/v2/token?service=pier&scope=repository:cap/app:push,pull&scope=repository:cap/lib:push,pull"), nil)
	req.SetBasicAuth(user, a.pass[user])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.Token == "" {
		t.Fatalf("token for %s: %s %v", user, resp.Status, err)
	}
	return "Bearer " + tok.Token
}

// absolute resolves the Location loc of a response of s.
func absolute(s *instance, loc string) string {
	if strings.HasPrefix(loc, "/") {
		return s.url(loc)
	}
	return loc
}

// withQuery adds k=v to the query of loc.
func withQuery(loc, k, v string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + k + "=" + url.QueryEscape(v)
}

// errorCode returns the first OCI error code of a response body.
func errorCode(t *testing.T, method, u string, body []byte, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, strings.NewReader(string(body)))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Errors []struct{ Code string } `json:"errors"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	if len(e.Errors) == 0 {
		return resp.StatusCode, ""
	}
	return resp.StatusCode, e.Errors[0].Code
}

// With an upload endpoint (--upload-url), the Location of an upload
// started on the registry points there, absolute, with the upload's
// signed state: a client with no credentials continues and finishes the
// upload there (PATCH, GET, PUT). The state is a capability for that
// upload alone: not for another upload, another repository, or anything
// but the upload's own URL.
func TestAWSUploadEndpoint(t *testing.T) {
	a := newAuthAWS(t)
	up := a.serve(t)
	api := a.serve(t, "--upload-url", up.url(""), "--chunk-max-length", "4194304")
	alice := a.bearer(t, api, "alice")

	start := func(repo string) string {
		t.Helper()
		resp := call(t, "POST", api.url("/v2/"+repo+"/blobs/uploads/"), nil, "Authorization", alice)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusAccepted || !strings.HasPrefix(loc, up.url("/v2/"+repo+"/blobs/uploads/")) || !strings.Contains(loc, "?state=") {
			t.Fatalf("POST upload: %s, Location %q; want 202 and the upload endpoint's URL with the state", resp.Status, loc)
		}
		return loc
	}

	blob := make([]byte, 9<<20+123)
	rand.Read(blob)
	d := digestOf(blob)
	loc := start("cap/app")
	other := start("cap/app")
	elsewhere := start("cap/lib")

	// A chunk, then the capability misused: on another upload, on the
	// same upload id in another repository, on a blob; and a tampered
	// state. Each is refused, and changes nothing.
	resp := call(t, "PATCH", loc, blob[:4<<20], "Content-Type", "application/octet-stream", "Content-Range", fmt.Sprintf("0-%d", 4<<20-1))
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH through the capability: %s", resp.Status)
	}
	loc = resp.Header.Get("Location")
	if !strings.HasPrefix(loc, "/v2/cap/app/blobs/uploads/") {
		t.Fatalf("PATCH Location %q", loc)
	}
	loc = absolute(up, loc)
	u, _ := url.Parse(loc)
	state := u.Query().Get("state")
	otherURL, _ := url.Parse(other)
	elsewhereURL, _ := url.Parse(elsewhere)
	id := u.Path[strings.LastIndex(u.Path, "/")+1:]
	tampered := []byte(state)
	tampered[len(tampered)/2] ^= 1
	for _, c := range []struct {
		name, method, url string
	}{
		{"another upload", "PATCH", up.url(otherURL.Path + "?state=" + state)},
		{"another upload's status", "GET", up.url(otherURL.Path + "?state=" + state)},
		{"another upload's cancel", "DELETE", up.url(otherURL.Path + "?state=" + state)},
		{"another repository's upload", "PATCH", up.url(elsewhereURL.Path + "?state=" + state)},
		{"the upload id in another repository", "PATCH", up.url("/v2/cap/lib/blobs/uploads/" + id + "?state=" + state)},
		{"a blob", "GET", up.url("/v2/cap/app/blobs/" + d + "?state=" + state)},
		{"a manifest", "PUT", up.url("/v2/cap/app/manifests/v1?state=" + state)},
		{"a new upload", "POST", up.url("/v2/cap/app/blobs/uploads/?state=" + state)},
		{"a tampered state", "PATCH", up.url(u.Path + "?state=" + string(tampered))},
	} {
		if status, code := errorCode(t, c.method, c.url, []byte("x")); status != http.StatusUnauthorized || code != "UNAUTHORIZED" {
			t.Errorf("%s with the capability of upload %s: %d %s, want 401 UNAUTHORIZED", c.name, id, status, code)
		}
	}

	// The rest of the blob through the capability, a status on the way.
	resp = call(t, "GET", loc, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != fmt.Sprintf("0-%d", 4<<20-1) {
		t.Fatalf("GET status: %s, Range %q", resp.Status, resp.Header.Get("Range"))
	}
	// The upload endpoint takes a chunk larger than the registry's limit.
	resp = call(t, "PATCH", loc, blob[4<<20:], "Content-Type", "application/octet-stream")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH of the rest through the capability: %s", resp.Status)
	}
	loc = absolute(up, resp.Header.Get("Location"))
	if resp = call(t, "PUT", withQuery(loc, "digest", d), nil); resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT through the capability: %s", resp.Status)
	}
	// A repeated PUT with the final state answers as the first.
	if resp = call(t, "PUT", withQuery(loc, "digest", d), nil); resp.StatusCode != http.StatusCreated {
		t.Errorf("repeated PUT through the capability: %s, want 201", resp.Status)
	}
	if got := pullAs(t, api, "cap/app", d, alice); string(got) != string(blob) {
		t.Fatalf("the blob pulled from the registry: %d bytes, not the %d pushed", len(got), len(blob))
	}
	// Finished: the capability does not continue it.
	if status, code := errorCode(t, "GET", loc, nil); status != http.StatusNotFound || code != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("GET status after the finish: %d %s, want 404 BLOB_UPLOAD_UNKNOWN", status, code)
	}

	// Bob, logged in, may push cap/app, but not continue alice's upload,
	// even with its state.
	bob := a.bearer(t, api, "bob")
	if status, code := errorCode(t, "PATCH", other, []byte("x"), "Authorization", bob); status != http.StatusNotFound || code != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("bob's PATCH with alice's Location: %d %s, want 404 BLOB_UPLOAD_UNKNOWN", status, code)
	}
}

// pullAs GETs blob d of repo from s with the Authorization auth and
// follows the redirect.
func pullAs(t *testing.T, s *instance, repo, d, auth string) []byte {
	t.Helper()
	req, _ := http.NewRequest("GET", s.url("/v2/"+repo+"/blobs/"+d), nil)
	req.Header.Set("Authorization", auth)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET blob %s: %s %v", d, resp.Status, err)
	}
	return b
}

// crane pushes an image with a 20 MB layer through a registry whose
// chunks may be at most 4 MiB (as on Lambda) and whose upload Locations
// point at an upload endpoint: crane follows the absolute Location and
// sends the whole layer there, with no credentials.
func TestAWSUploadEndpointCrane(t *testing.T) {
	bin := craneBinary(t)
	a := newAuthAWS(t)
	up := a.serve(t)
	api := a.serve(t, "--upload-url", up.url(""), "--chunk-max-length", "4194304")
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	crane(t, bin, "auth", "login", api.addr, "-u", "alice", "-p", a.pass["alice"])

	data := make([]byte, 20<<20)
	rand.Read(data)
	dir := t.TempDir()
	layer := filepath.Join(dir, "layer.tar")
	if err := os.WriteFile(layer, layerTar(t, map[string]string{"big.bin": base64.StdEncoding.EncodeToString(data)[:20<<20]}), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := api.addr + "/cap/big:v1"
	crane(t, bin, "append", "--oci-empty-base", "-f", layer, "-t", ref)
	got := crane(t, bin, "export", ref, "-")
	files := untar(t, got)
	if want := base64.StdEncoding.EncodeToString(data)[:20<<20]; files["big.bin"] != want {
		t.Fatalf("the exported layer's file: %d bytes, want the %d pushed", len(files["big.bin"]), len(want))
	}
	// The layer went through the upload endpoint.
	if !strings.Contains(up.logSnapshot(), `"method":"PATCH"`) {
		t.Error("the upload endpoint logged no PATCH")
	}
}

// measureSignedUpload measures, on a registry with auth on (upload states
// signed into Locations), a chunked push of three 4 MiB chunks as the
// Lambda path sends them, and its status, with measure.
func measureSignedUpload(t *testing.T, measure func(srv *instance, name string, resp *http.Response, wantStatus int)) {
	a := newAuthAWS(t)
	s := a.serve(t, "--blob-link-cache-ttl", "0")
	alice := a.bearer(t, s, "alice")
	blob := make([]byte, 12<<20)
	rand.Read(blob)
	resp := call(t, "POST", s.url("/v2/cap/app/blobs/uploads/"), nil, "Authorization", alice)
	measure(s, "upload start, signed state", resp, 202)
	loc := resp.Header.Get("Location")
	for i := range 3 {
		resp = call(t, "PATCH", s.url(loc), blob[i<<22:(i+1)<<22], "Content-Range", fmt.Sprintf("%d-%d", i<<22, (i+1)<<22-1),
			"Content-Type", "application/octet-stream")
		measure(s, fmt.Sprintf("upload chunk %d of 4 MiB, signed state", i+1), resp, 202)
		loc = resp.Header.Get("Location")
	}
	measure(s, "upload status, signed state", call(t, "GET", s.url(loc), nil), 204)
	measure(s, "upload finish, signed state", call(t, "PUT", s.url(withQuery(loc, "digest", digestOf(blob))), nil), 201)
}

// TestAWSChunkedPushCost counts the S3 and DynamoDB requests of a 64 MiB
// blob pushed in 4 MiB chunks (as through Lambda: POST, 16 PATCH, PUT),
// with signed upload states (auth on) and with sessions (auth off), and
// projects the count of a 1 GiB blob: 16 times the chunks, and the finish:
// with signed states the same (the parts go straight into the multipart
// upload as the chunks come; the finish lists them, completes it and
// moves the blob into place, whatever their number), with sessions one
// UploadPartCopy more for each of the 120 staged parts more. With signed
// states the projection must be at most 420 requests (409 measured on
// 2026-12-05).
func TestAWSChunkedPushCost(t *testing.T) {
	const (
		size  = 64 << 20
		chunk = 4 << 20
	)
	blob := make([]byte, size)
	rand.Read(blob)
	d := digestOf(blob)
	a := newAuthAWS(t)
	for _, c := range []struct {
		name  string
		serve func() (*instance, string)
	}{
		{"signed states (auth on)", func() (*instance, string) { s := a.serve(t); return s, a.bearer(t, s, "alice") }},
		{"sessions (auth off)", func() (*instance, string) { return awsServer(t), "" }},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, auth := c.serve()
			total := map[string]int{}
			count := func(phase string, resp *http.Response, want int) {
				t.Helper()
				if resp.StatusCode != want {
					t.Fatalf("%s: %s, want %d", phase, resp.Status, want)
				}
				_, _, ops := s.backendRequests(t, resp.Header.Get("X-Request-Id"))
				for op, n := range ops {
					if strings.HasPrefix(op, "s3.") || strings.HasPrefix(op, "dynamodb.") {
						total[phase] += n
						total[op] += n
					}
				}
			}
			resp := call(t, "POST", s.url("/v2/cap/app/blobs/uploads/"), nil, "Authorization", auth)
			count("start", resp, 202)
			loc := resp.Header.Get("Location")
			for off := 0; off < size; off += chunk {
				resp = call(t, "PATCH", s.url(loc), blob[off:off+chunk], "Content-Range", fmt.Sprintf("%d-%d", off, off+chunk-1),
					"Content-Type", "application/octet-stream", "Authorization", auth)
				count("chunks", resp, 202)
				loc = resp.Header.Get("Location")
			}
			count("finish", call(t, "PUT", s.url(withQuery(loc, "digest", d)), nil, "Authorization", auth), 201)
			all := total["start"] + total["chunks"] + total["finish"]
			// 1 GiB: 16 times the chunks; with signed states the finish is
			// the same (one ListParts lists up to 1,000 parts), with
			// sessions it copies 128 staged parts instead of 8.
			projected := total["start"] + 16*total["chunks"] + total["finish"]
			if !strings.HasPrefix(c.name, "signed") {
				parts := size / (2 * chunk)
				projected += 16*parts - parts
			}
			t.Logf("64 MiB in 4 MiB chunks: %d requests (start %d, 16 chunks %d: %.2f per chunk, finish %d); by operation %v",
				all, total["start"], total["chunks"], float64(total["chunks"])/16, total["finish"], total)
			t.Logf("1 GiB in 4 MiB chunks, projected: %d requests", projected)
			if strings.HasPrefix(c.name, "signed") && projected > 420 {
				t.Errorf("a 1 GiB chunked push is projected at %d requests, want at most 420", projected)
			}
		})
	}
}
