package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/randid"
)

// The direct uploads of `pier serve` (docs/direct-upload.md); the protocol
// itself is tested in internal/store/awsstore/direct_test.go.

// directParts is the JSON of a direct upload's part URLs.
type directParts struct {
	Parts []struct {
		Number int32             `json:"number"`
		URL    string            `json:"url"`
		Header map[string]string `json:"header"`
	} `json:"parts"`
	Uploaded []struct {
		Number int32 `json:"number"`
		Size   int64 `json:"size"`
	} `json:"uploaded"`
}

// startDirect POSTs a direct upload of blob to repo and returns the
// answer and its part URLs.
func startDirect(t *testing.T, s *instance, repo string, size int, hdr ...string) (*http.Response, directParts) {
	t.Helper()
	h := map[string]string{"Pier-Upload-Mode": "direct", "Pier-Upload-Length": strconv.Itoa(size)}
	for i := 0; i+1 < len(hdr); i += 2 {
		h[hdr[i]] = hdr[i+1]
	}
	resp, body := do(t, http.MethodPost, s.url("/v2/"+repo+"/blobs/uploads/"), h, nil)
	var p directParts
	if resp.StatusCode == http.StatusAccepted && resp.Header.Get("Pier-Upload-Mode") == "direct" {
		if err := json.Unmarshal(body, &p); err != nil || len(p.Parts) == 0 {
			t.Fatalf("POST direct upload: body %s: %v", body, err)
		}
	}
	return resp, p
}

// sendPart PUTs data to a part URL.
func sendPart(t *testing.T, url string, data []byte) {
	t.Helper()
	if resp := call(t, http.MethodPut, url, data); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT part: %s", resp.Status)
	}
}

// discovers reports whether s lists the direct upload extension.
func discovers(t *testing.T, s *instance) bool {
	t.Helper()
	resp, body := do(t, http.MethodGet, s.url("/v2/_oci/ext/discover"), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("discover: %s", resp.Status)
	}
	return bytes.Contains(body, []byte(`"name":"_pier/direct-upload"`))
}

// The aws backend offers direct uploads and lists them; the local one
// does not, and answers a POST that asks for one with a chunked session.
func TestDirectUploadOffered(t *testing.T) {
	blob := []byte("a blob pushed with or without direct uploads")
	d := digestOf(blob)
	for _, tc := range []struct {
		name   string
		flags  func(t *testing.T) []string
		direct bool
	}{
		{"local", func(*testing.T) []string { return nil }, false},
		{"aws", awsBackendFlags, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, t.TempDir(), tc.flags(t)...)
			if got := discovers(t, s); got != tc.direct {
				t.Errorf("discover lists _pier/direct-upload: %v, want %v", got, tc.direct)
			}
			resp, parts := startDirect(t, s, "offered/app", len(blob))
			if got := resp.Header.Get("Pier-Upload-Mode") == "direct"; resp.StatusCode != http.StatusAccepted || got != tc.direct {
				t.Fatalf("POST with Pier-Upload-Mode: direct: %s, direct %v; want 202, %v", resp.Status, got, tc.direct)
			}
			loc := resp.Header.Get("Location")
			if tc.direct {
				sendPart(t, parts.Parts[0].URL, blob)
				resp = call(t, http.MethodPut, s.url(loc+"?digest="+d), nil)
			} else {
				resp = call(t, http.MethodPut, s.url(loc+"?digest="+d), blob, "Content-Type", "application/octet-stream")
			}
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("finish: %s", resp.Status)
			}
			if tc.direct {
				if got := pullRedirected(t, s, "offered/app", d); !bytes.Equal(got, blob) {
					t.Errorf("pulled %q", got)
				}
			}
		})
	}
}

// With auth on, only the identity that started a direct upload gets its
// part URLs, finishes it or cancels it; another one, even with push on the
// repository, gets 404 BLOB_UPLOAD_UNKNOWN. With --copy-budget 0s the
// owner's finish answers 202, then 201 to the same PUT.
func TestAWSDirectUploadOwner(t *testing.T) {
	s, as := ownersServer(t)
	blob := []byte("alice's blob")
	d := digestOf(blob)
	resp, parts := startDirect(t, s, "shared/app", len(blob), as("alice")...)
	if resp.StatusCode != http.StatusAccepted || len(parts.Parts) != 1 {
		t.Fatalf("alice starts a direct upload: %s, %d part URLs", resp.Status, len(parts.Parts))
	}
	loc := resp.Header.Get("Location")
	sendPart(t, parts.Parts[0].URL, blob)
	for _, tc := range []struct {
		method, path string
		hdr          []string
	}{
		{http.MethodGet, loc, []string{"Pier-Upload-Parts", "1-2"}},
		{http.MethodGet, loc, nil},
		{http.MethodPut, loc + "?digest=" + d, nil},
		{http.MethodDelete, loc, nil},
	} {
		resp, body := do(t, tc.method, s.url(tc.path), headerMap(append(as("bob"), tc.hdr...)), nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UPLOAD_UNKNOWN") || strings.Contains(string(body), "X-Amz") {
			t.Errorf("bob: %s %s: %s %s, want 404 BLOB_UPLOAD_UNKNOWN", tc.method, tc.hdr, resp.Status, body)
		}
	}
	resp, body := do(t, http.MethodGet, s.url(loc), headerMap(append(as("alice"), "Pier-Upload-Parts", "1-2")), nil)
	var p directParts
	if json.Unmarshal(body, &p); resp.StatusCode != http.StatusOK || len(p.Parts) != 2 || len(p.Uploaded) != 1 {
		t.Fatalf("alice GETs parts 1-2: %s %s", resp.Status, body)
	}
	resp, body = do(t, http.MethodPut, s.url(loc+"?digest="+d), headerMap(as("alice")), nil)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("alice finishes with a budget of 0: %s %s, Retry-After %q; want 202", resp.Status, body, resp.Header.Get("Retry-After"))
	}
	for deadline := time.Now().Add(20 * time.Second); resp.StatusCode == http.StatusAccepted && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		resp, body = do(t, http.MethodPut, s.url(loc+"?digest="+d), headerMap(as("alice")), nil)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("alice finishes again: %s %s", resp.Status, body)
	}
	if resp, _ := do(t, http.MethodHead, s.url("/v2/shared/app/blobs/"+d), headerMap(as("bob")), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD of the blob: %s", resp.Status)
	}
}

// ownersServer starts pier serve --backend aws with auth on and
// --copy-budget 0s, and users alice and bob, who may pull and push
// shared/*; as gives a user's Authorization header.
func ownersServer(t *testing.T) (s *instance, as func(user string) []string) {
	t.Helper()
	backend := awsBackendFlags(t)
	secret := map[string]string{}
	for _, user := range []string{"alice", "bob"} {
		secret[user] = randid.Base64URL(12)
		mustAdmin(t, backend, secret[user]+"\n", "user", "add", user, "--password-stdin", "--grant", "shared/*=pull,push")
	}
	s = startServer(t, t.TempDir(), append(backend, "--auth", "token", "--auth-key-file", filepath.Join(t.TempDir(), "auth.key"), "--copy-budget", "0s")...)
	return s, func(user string) []string {
		return []string{"Authorization", "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret[user]))}
	}
}

// A direct upload in one PUT (its digest given at the start) has no
// session: its Location carries its state, signed, for its owner alone.
// Bob gets 404 BLOB_UPLOAD_UNKNOWN with alice's Location, and with a
// Location whose state was changed; alice's finish links the blob at once
// (nothing to hash, even with --copy-budget 0s).
func TestAWSDirectPutOwner(t *testing.T) {
	s, as := ownersServer(t)
	blob := []byte("alice's blob in one PUT")
	d := digestOf(blob)
	resp, parts := startDirect(t, s, "shared/put", len(blob), append(as("alice"), "Pier-Upload-Digest", d)...)
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusAccepted || len(parts.Parts) != 1 || !strings.Contains(loc, "?state=") {
		t.Fatalf("alice starts a direct upload in one PUT: %s, %d part URLs, Location %q", resp.Status, len(parts.Parts), loc)
	}
	if resp, _ := do(t, http.MethodPut, parts.Parts[0].URL, parts.Parts[0].Header, blob); resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT: %s", resp.Status)
	}
	changed := loc[:len(loc)-2] + map[bool]string{true: "AA", false: "AB"}[strings.HasSuffix(loc, "AB")]
	for _, tc := range []struct {
		user, method, path string
		hdr                []string
	}{
		{"bob", http.MethodGet, loc, []string{"Pier-Upload-Parts", "1-1"}},
		{"bob", http.MethodPut, loc + "&digest=" + d, nil},
		{"bob", http.MethodDelete, loc, nil},
		{"alice", http.MethodPut, changed + "&digest=" + d, nil},
	} {
		resp, body := do(t, tc.method, s.url(tc.path), headerMap(append(as(tc.user), tc.hdr...)), nil)
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(string(body), "BLOB_UPLOAD_UNKNOWN") {
			t.Errorf("%s: %s %s %s: %s %s, want 404 BLOB_UPLOAD_UNKNOWN", tc.user, tc.method, tc.path, tc.hdr, resp.Status, body)
		}
	}
	resp, body := do(t, http.MethodPut, s.url(loc+"&digest="+d), headerMap(as("alice")), nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("alice finishes: %s %s, want 201 at once", resp.Status, body)
	}
	if resp, _ := do(t, http.MethodHead, s.url("/v2/shared/put/blobs/"+d), headerMap(as("bob")), nil); resp.StatusCode != http.StatusOK {
		t.Errorf("HEAD of the blob: %s", resp.Status)
	}
}

func headerMap(kv []string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// The settings of direct uploads: --part-url-ttl bounds the part URLs'
// life, and with --copy-budget 0s the finish answers 202 and Retry-After,
// then 201 to the same PUT once the bytes are verified and in place.
func TestAWSDirectUploadSettings(t *testing.T) {
	s := awsServer(t, "--part-url-ttl", "3s", "--copy-budget", "0s")
	blob := []byte("verified in the background")
	d := digestOf(blob)
	resp, body := do(t, http.MethodPost, s.url("/v2/later/app/blobs/uploads/"), map[string]string{"Pier-Upload-Mode": "direct"}, nil)
	var p struct {
		Parts []struct {
			URL     string    `json:"url"`
			Expires time.Time `json:"expires"`
		} `json:"parts"`
	}
	if err := json.Unmarshal(body, &p); err != nil || resp.StatusCode != http.StatusAccepted || len(p.Parts) != 16 {
		t.Fatalf("POST direct upload of unknown length: %s %s", resp.Status, body)
	}
	if until := time.Until(p.Parts[0].Expires); until > 3*time.Second {
		t.Errorf("part URL valid for %s, want at most 3s", until)
	}
	sendPart(t, p.Parts[0].URL, blob)
	loc := resp.Header.Get("Location")
	resp = call(t, http.MethodPut, s.url(loc+"?digest="+d), nil)
	if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Retry-After") == "" || resp.Header.Get("Location") != loc {
		t.Fatalf("finish with a budget of 0: %s, Retry-After %q, Location %q", resp.Status, resp.Header.Get("Retry-After"), resp.Header.Get("Location"))
	}
	for deadline := time.Now().Add(20 * time.Second); resp.StatusCode == http.StatusAccepted && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
		resp = call(t, http.MethodPut, s.url(loc+"?digest="+d), nil)
	}
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("finish again: %s", resp.Status)
	}
	if got := pullRedirected(t, s, "later/app", d); !bytes.Equal(got, blob) {
		t.Errorf("pulled %q", got)
	}
}
