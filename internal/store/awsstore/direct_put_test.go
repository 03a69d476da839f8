package awsstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// Direct uploads in one PUT (docs/direct-upload.md, "One PUT"): the start
// gives the blob's digest and size, and the one part URL puts the bytes
// straight at blobs/sha256/<hex>, checked by S3 against the digest.

// putAnswer is the JSON body of a direct upload in one PUT.
type putAnswer struct {
	directAnswer
	Digest string `json:"digest"`
	Parts  []struct {
		Number  int32             `json:"number"`
		URL     string            `json:"url"`
		Header  map[string]string `json:"header"`
		Expires time.Time         `json:"expires"`
	} `json:"parts"`
}

// startPut starts a direct upload of blob d of size bytes in repo, giving
// its digest, and returns its location and its answer.
func (e *raceEnv) startPut(repo string, d digest.Digest, size int) (string, putAnswer) {
	e.t.Helper()
	h := http.Header{"Pier-Upload-Mode": {"direct"}, "Pier-Upload-Length": {strconv.Itoa(size)}, "Pier-Upload-Digest": {d.String()}}
	r := e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", h, nil)
	var a putAnswer
	if r.status != http.StatusAccepted || r.header.Get("Pier-Upload-Mode") != "direct" || json.Unmarshal(r.body, &a) != nil {
		e.t.Fatalf("POST direct upload with a digest: %s, Pier-Upload-Mode %q", r, r.header.Get("Pier-Upload-Mode"))
	}
	return r.header.Get("Location"), a
}

// put sends data to the answer's one URL, with header (nil: the headers
// of the answer), and returns S3's status.
func (a putAnswer) put(t *testing.T, data []byte, header map[string]string) int {
	t.Helper()
	if len(a.Parts) != 1 {
		t.Fatalf("%d part URLs, want 1", len(a.Parts))
	}
	if header == nil {
		header = a.Parts[0].Header
	}
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return awstest.PutURL(t, a.Parts[0].URL, h, data)
}

// linked reports whether repo answers HEAD of blob d with 200.
func (e *raceEnv) linked(repo string, d digest.Digest) bool {
	e.t.Helper()
	return e.do(http.MethodHead, "/v2/"+repo+"/blobs/"+d.String(), nil, nil).status == http.StatusOK
}

// With its digest given, a blob goes up in one PUT to its own key: one
// part URL of the whole size, which takes the bytes only with the signed
// checksum header; the finish links it without reading it back, and
// nothing is left outside blobs/.
func TestDirectPutRoundTrip(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	blob := randomBytes(awsstore.MinPartSize + 77)
	d := digest.FromBytes(blob)
	loc, a := e.startPut("put/app", d, len(blob))
	if a.Digest != d.String() || a.PartSize != int64(len(blob)) || a.MaxParts != 1 || len(a.Parts) != 1 {
		t.Fatalf("start: digest %q, partSize %d, maxParts %d, %d URLs; want %s, %d, 1, 1", a.Digest, a.PartSize, a.MaxParts, len(a.Parts), d, len(blob))
	}
	if h := a.Parts[0].Header; h["X-Amz-Checksum-Sha256"] == "" || h["X-Amz-Meta-Pier-Upload"] == "" {
		t.Fatalf("part URL headers %v: want the checksum and the upload id", h)
	}
	// No session: the Location carries the upload's state.
	id := strings.TrimPrefix(strings.Split(loc, "?")[0], "/v2/put/app/blobs/uploads/")
	if _, err := e.meta.Upload(context.Background(), id); !errors.Is(err, store.ErrNotFound) || !strings.Contains(loc, "?state=") {
		t.Errorf("upload %s: session %v, Location %s; want no session and the state in the Location", id, err, loc)
	}
	if r, p := e.parts(loc, "1-1"); r.status != http.StatusOK || len(p.Uploaded) != 0 {
		t.Fatalf("parts before the PUT: %s, uploaded %+v", r, p.Uploaded)
	}
	if r, _ := e.parts(loc, "1-2"); r.status != http.StatusBadRequest || r.code != "BLOB_UPLOAD_INVALID" {
		t.Errorf("parts 1-2 of an upload in one PUT: %s", r)
	}
	if st := a.put(t, blob, nil); st != http.StatusOK {
		t.Fatalf("PUT: %d", st)
	}
	if r, p := e.parts(loc, "1-1"); r.status != http.StatusOK || len(p.Uploaded) != 1 || p.Uploaded[0].Size != int64(len(blob)) {
		t.Errorf("parts after the PUT: %s, uploaded %+v", r, p.Uploaded)
	}
	if r := e.finish(loc, d); r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != d.String() {
		t.Fatalf("finish: %s", r)
	}
	if got, err := e.pullBlob("put/app", d); err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("pull: %d bytes, %v", len(got), err)
	}
	if r := e.finish(loc, d); r.status != http.StatusCreated {
		t.Errorf("finish again: %s", r)
	}
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}

// A digest the store does not check itself (sha512), or no length: a
// direct upload in parts. A digest that is not one: DIGEST_INVALID.
func TestDirectPutOnlyWhenChecked(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	for _, tc := range []struct {
		name, digest, length string
	}{
		{"sha512", digest.SHA512.FromString("x").String(), "100"},
		{"no length", digest.FromString("x").String(), ""},
	} {
		h := http.Header{"Pier-Upload-Mode": {"direct"}, "Pier-Upload-Digest": {tc.digest}}
		if tc.length != "" {
			h.Set("Pier-Upload-Length", tc.length)
		}
		r := e.do(http.MethodPost, "/v2/put/parts/blobs/uploads/", h, nil)
		var a putAnswer
		if r.status != http.StatusAccepted || json.Unmarshal(r.body, &a) != nil || a.Digest != "" || a.MaxParts != 10000 {
			t.Errorf("%s: %s, digest %q, maxParts %d; want an upload in parts", tc.name, r, a.Digest, a.MaxParts)
		}
	}
	h := http.Header{"Pier-Upload-Mode": {"direct"}, "Pier-Upload-Length": {"10"}, "Pier-Upload-Digest": {"sha256:nothex"}}
	if r := e.do(http.MethodPost, "/v2/put/parts/blobs/uploads/", h, nil); r.status != http.StatusBadRequest || r.code != "DIGEST_INVALID" {
		t.Errorf("a bad digest: %s", r)
	}
}

// What an upload in one PUT refuses. Bytes that do not hash to the
// digest: S3 answers 400 and keeps nothing, and the finish finds nothing
// (BLOB_UPLOAD_INVALID; the upload stays, for the right bytes). The URL
// without its signed headers: 403. A finish as another blob:
// DIGEST_INVALID, nothing linked. Another upload's
// bytes (its URL, or the blob pushed before into another repository) do
// not finish this one: the caller has not sent them.
func TestDirectPutRefusals(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	blob := randomBytes(1000)
	d := digest.FromBytes(blob)

	t.Run("wrong bytes", func(t *testing.T) {
		loc, a := e.startPut("put/wrong", d, len(blob))
		wrong := bytes.Clone(blob)
		wrong[500] ^= 1
		if st := a.put(t, wrong, nil); st != http.StatusBadRequest {
			t.Errorf("PUT of wrong bytes: %d, want 400 (BadDigest)", st)
		}
		if st := a.put(t, blob, map[string]string{}); st != http.StatusForbidden {
			t.Errorf("PUT without the signed headers: %d, want 403", st)
		}
		if k := e.keys("blobs/"); len(k) > 0 {
			t.Fatalf("objects under blobs/: %v", k)
		}
		if r := e.finish(loc, d); r.status != http.StatusBadRequest || r.code != "BLOB_UPLOAD_INVALID" {
			t.Errorf("finish with nothing put: %s", r)
		}
		if r := e.do(http.MethodDelete, loc, nil, nil); r.status != http.StatusNoContent {
			t.Errorf("cancel: %s", r)
		}
	})
	t.Run("another digest", func(t *testing.T) {
		loc, a := e.startPut("put/other", d, len(blob))
		if st := a.put(t, blob, nil); st != http.StatusOK {
			t.Fatalf("PUT: %d", st)
		}
		if r := e.finish(loc, digest.FromString("other")); r.status != http.StatusBadRequest || r.code != "DIGEST_INVALID" {
			t.Errorf("finish as another blob: %s", r)
		}
		if e.linked("put/other", d) || e.linked("put/other", digest.FromString("other")) {
			t.Error("a blob was linked")
		}
		// The upload has no session to end: finished as its own blob, it
		// makes it.
		if r := e.finish(loc, d); r.status != http.StatusCreated {
			t.Errorf("finish as its blob after DIGEST_INVALID: %s", r)
		}
	})
	t.Run("another upload's bytes", func(t *testing.T) {
		other := randomBytes(2000)
		od := digest.FromBytes(other)
		locA, a := e.startPut("put/a", od, len(other))
		locB, b := e.startPut("put/b", od, len(other))
		if st := a.put(t, other, nil); st != http.StatusOK {
			t.Fatalf("PUT A: %d", st)
		}
		if r := e.finish(locB, od); r.status != http.StatusBadRequest || r.code != "BLOB_UPLOAD_INVALID" || e.linked("put/b", od) {
			t.Errorf("finish B with A's bytes: %s, linked %v", r, e.linked("put/b", od))
		}
		if r := e.finish(locA, od); r.status != http.StatusCreated {
			t.Fatalf("finish A: %s", r)
		}
		// B sends the bytes itself: they replace A's (the same), and B
		// finishes; A's blob stays whole.
		if st := b.put(t, other, nil); st != http.StatusOK {
			t.Fatalf("PUT B: %d", st)
		}
		if r := e.finish(locB, od); r.status != http.StatusCreated {
			t.Fatalf("finish B after its PUT: %s", r)
		}
		for _, repo := range []string{"put/a", "put/b"} {
			if got, err := e.pullBlob(repo, od); err != nil || !bytes.Equal(got, other) {
				t.Errorf("pull from %s: %d bytes, %v", repo, len(got), err)
			}
		}
	})
	t.Run("a blob of another repository", func(t *testing.T) {
		e.pushBlob("put/private", blob)
		loc, _ := e.startPut("put/thief", d, len(blob))
		if r := e.finish(loc, d); r.status != http.StatusBadRequest || r.code != "BLOB_UPLOAD_INVALID" || e.linked("put/thief", d) {
			t.Errorf("finish without sending the bytes of a blob the store holds: %s, linked %v", r, e.linked("put/thief", d))
		}
	})
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}

// Abort, what cleanup calls on an abandoned session, leaves nothing of an
// upload in one PUT behind but, when its bytes were sent, the blob they
// make: whole (S3 checked it), and collected by garbage collection unless
// a repository links it.
func TestDirectPutAbort(t *testing.T) {
	b, client, bucket := newBlobs(t, awsstore.BlobsOptions{})
	ctx := context.Background()
	blob := []byte("0123456789")
	d := digest.FromBytes(blob)
	id := store.NewUploadID()
	state, layout, err := b.StartDirect(ctx, id, int64(len(blob)), d)
	if err != nil || layout.MaxParts != 1 {
		t.Fatalf("StartDirect: %v, %+v", err, layout)
	}
	u, err := b.PartURL(ctx, id, state, 1, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	a := putAnswer{}
	a.Parts = append(a.Parts, struct {
		Number  int32             `json:"number"`
		URL     string            `json:"url"`
		Header  map[string]string `json:"header"`
		Expires time.Time         `json:"expires"`
	}{Number: 1, URL: u.URL, Header: map[string]string{}})
	for k := range u.Header {
		a.Parts[0].Header[k] = u.Header.Get(k)
	}
	if st := a.put(t, blob, nil); st != http.StatusOK {
		t.Fatalf("PUT: %d", st)
	}
	if err := b.Abort(ctx, id, state); err != nil {
		t.Fatalf("Abort: %v", err)
	}
	e := &raceEnv{t: t, blobs: b, s3: client, bucket: bucket}
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}

// The URL of an upload in one PUT expires as a part URL does: S3 refuses
// it after the part URL TTL. The upload's Location expires with the
// upload: then its finish is BLOB_UPLOAD_UNKNOWN, even with the bytes
// sent in time.
func TestDirectPutURLExpires(t *testing.T) {
	const short = 2 * time.Second
	for _, tc := range []struct {
		name            string
		partTTL, upload time.Duration
	}{
		{"URL TTL", short, time.Hour},
		{"upload TTL", time.Hour, short},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegistryEnv(t, awsstore.BlobsOptions{PartURLTTL: tc.partTTL}, registry.Options{UploadTTL: tc.upload})
			blob := randomBytes(100)
			d := digest.FromBytes(blob)
			loc, a := e.startPut("put/expired", d, len(blob))
			if tc.upload == short {
				if st := a.put(t, blob, nil); st != http.StatusOK {
					t.Fatalf("PUT in time: %d", st)
				}
			}
			time.Sleep(time.Until(a.Parts[0].Expires) + 1100*time.Millisecond)
			if tc.partTTL == short {
				if st := a.put(t, blob, nil); st != http.StatusForbidden {
					t.Errorf("PUT to an expired URL: %d, want 403", st)
				}
				if k := e.keys("blobs/"); len(k) > 0 {
					t.Errorf("objects under blobs/: %v", k)
				}
				return
			}
			if r := e.finish(loc, d); r.status != http.StatusNotFound || r.code != "BLOB_UPLOAD_UNKNOWN" || e.linked("put/expired", d) {
				t.Errorf("finish of an expired upload: %s", r)
			}
		})
	}
}
