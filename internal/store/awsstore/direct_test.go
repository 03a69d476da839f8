package awsstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// The direct upload tests run the registry behind an HTTP server, as the
// race tests do, with parts of MinPartSize, and talk to it and to the
// presigned S3 URLs with a plain HTTP client (docs/direct-upload.md).

// newDirectEnv starts a registry whose direct uploads have parts of
// MinPartSize, with part URLs valid for ttl and a finish budget.
func newDirectEnv(t *testing.T, ttl, budget time.Duration) *raceEnv {
	t.Helper()
	return newRegistryEnv(t,
		awsstore.BlobsOptions{DirectPartSize: awsstore.MinPartSize, PartURLTTL: ttl, CopyBudget: time.Minute},
		registry.Options{DirectBudget: budget})
}

// directAnswer is the JSON body of a direct upload's part URLs.
type directAnswer struct {
	PartSize    int64     `json:"partSize"`
	MinPartSize int64     `json:"minPartSize"`
	MaxParts    int32     `json:"maxParts"`
	Expires     time.Time `json:"expires"`
	Parts       []struct {
		Number  int32     `json:"number"`
		URL     string    `json:"url"`
		Expires time.Time `json:"expires"`
	} `json:"parts"`
	Uploaded []struct {
		Number int32 `json:"number"`
		Size   int64 `json:"size"`
	} `json:"uploaded"`
}

// url returns the URL of part n.
func (a directAnswer) url(t *testing.T, n int32) string {
	t.Helper()
	for _, p := range a.Parts {
		if p.Number == n {
			return p.URL
		}
	}
	t.Fatalf("no URL for part %d in %+v", n, a.Parts)
	return ""
}

// startDirect starts a direct upload in repo (length -1: not said) and
// returns its location and its answer.
func (e *raceEnv) startDirect(repo string, length int64) (string, directAnswer) {
	e.t.Helper()
	h := http.Header{"Pier-Upload-Mode": {"direct"}}
	if length >= 0 {
		h.Set("Pier-Upload-Length", strconv.FormatInt(length, 10))
	}
	r := e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", h, nil)
	if r.status != http.StatusAccepted || r.header.Get("Pier-Upload-Mode") != "direct" || r.header.Get("Location") == "" {
		e.t.Fatalf("POST direct upload: %s, Pier-Upload-Mode %q, Location %q", r, r.header.Get("Pier-Upload-Mode"), r.header.Get("Location"))
	}
	var a directAnswer
	if err := json.Unmarshal(r.body, &a); err != nil {
		e.t.Fatalf("POST direct upload: body %s: %v", r.body, err)
	}
	return r.header.Get("Location"), a
}

// parts asks for the URLs of parts spec ("<first>-<last>").
func (e *raceEnv) parts(loc, spec string) (reply, directAnswer) {
	e.t.Helper()
	r := e.do(http.MethodGet, loc, http.Header{"Pier-Upload-Parts": {spec}}, nil)
	var a directAnswer
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &a); err != nil {
			e.t.Fatalf("GET parts: body %s: %v", r.body, err)
		}
	}
	return r, a
}

// finish sends PUT <loc>?digest=d (&digest= when loc has a query).
func (e *raceEnv) finish(loc string, d digest.Digest) reply {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return e.do(http.MethodPut, loc+sep+"digest="+d.String(), nil, nil)
}

// putPart PUTs data to a part URL, as a client does, and returns S3's
// status.
func putPart(t *testing.T, u string, data []byte) int {
	t.Helper()
	return awstest.PutURL(t, u, nil, data)
}

// keys lists the bucket's keys under prefix.
func (e *raceEnv) keys(prefix string) []string {
	e.t.Helper()
	out, err := e.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &e.bucket, Prefix: &prefix})
	if err != nil {
		e.t.Fatalf("list %s: %v", prefix, err)
	}
	var keys []string
	for _, o := range out.Contents {
		keys = append(keys, aws.ToString(o.Key))
	}
	return keys
}

// multipartUploads lists the multipart uploads in progress.
func (e *raceEnv) multipartUploads() []string {
	e.t.Helper()
	out, err := e.s3.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		e.t.Fatalf("list multipart uploads: %v", err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.Key))
	}
	return ids
}

// checkNothingLeft checks that no upload left anything in the bucket: no
// assembled object, no multipart upload.
func (e *raceEnv) checkNothingLeft() {
	e.t.Helper()
	e.blobs.Wait()
	if k := e.keys("assembled/"); len(k) > 0 {
		e.t.Errorf("left under assembled/: %v", k)
	}
	if m := e.multipartUploads(); len(m) > 0 {
		e.t.Errorf("multipart uploads left: %v", m)
	}
}

// A blob of three parts: the first sent, the upload resumed (GET the
// parts it holds and the URLs of the rest), the others sent in parallel,
// the upload finished; the blob comes back byte-exact, and nothing is left.
func TestDirectUploadRoundTrip(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	const part = awsstore.MinPartSize
	blob := randomBytes(2*part + 123)
	d := digest.FromBytes(blob)

	loc, a := e.startDirect("direct/app", int64(len(blob)))
	if a.PartSize != part || a.MinPartSize != awsstore.MinPartSize || a.MaxParts != 10000 || len(a.Parts) != 3 {
		t.Fatalf("start: partSize %d, minPartSize %d, maxParts %d, %d part URLs; want %d, %d, 10000, 3",
			a.PartSize, a.MinPartSize, a.MaxParts, len(a.Parts), part, awsstore.MinPartSize)
	}
	if until := time.Until(a.Parts[0].Expires); until <= 0 || until > time.Minute || a.Parts[0].Expires.After(a.Expires) {
		t.Errorf("part URL expires %s (session %s): want within the TTL and the session", a.Parts[0].Expires, a.Expires)
	}
	if st := putPart(t, a.url(t, 1), blob[:part]); st != http.StatusOK {
		t.Fatalf("PUT part 1: %d", st)
	}

	r, more := e.parts(loc, "2-3")
	if r.status != http.StatusOK || len(more.Parts) != 2 || more.Parts[0].Number != 2 {
		t.Fatalf("GET parts 2-3: %s, parts %+v", r, more.Parts)
	}
	if len(more.Uploaded) != 1 || more.Uploaded[0].Number != 1 || more.Uploaded[0].Size != part {
		t.Errorf("uploaded: %+v, want part 1 of %d bytes", more.Uploaded, part)
	}
	var wg sync.WaitGroup
	for i, body := range [][]byte{blob[part : 2*part], blob[2*part:]} {
		wg.Go(func() {
			if st := putPart(t, more.url(t, int32(i+2)), body); st != http.StatusOK {
				t.Errorf("PUT part %d: %d", i+2, st)
			}
		})
	}
	wg.Wait()

	r = e.finish(loc, d)
	if r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != d.String() || r.header.Get("Location") != "/v2/direct/app/blobs/"+d.String() {
		t.Fatalf("finish: %s, headers %v", r, r.header)
	}
	got, err := e.pullBlob("direct/app", d)
	if err != nil || !bytes.Equal(got, blob) {
		t.Fatalf("pull: %d bytes, equal %v, %v", len(got), bytes.Equal(got, blob), err)
	}
	// Finishing again answers the same; the session is gone.
	if r := e.finish(loc, d); r.status != http.StatusCreated {
		t.Errorf("finish again: %s", r)
	}
	if r := e.do(http.MethodGet, loc, nil, nil); r.status != http.StatusNotFound || r.code != "BLOB_UPLOAD_UNKNOWN" {
		t.Errorf("status after the finish: %s", r)
	}
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}

// A direct upload of unknown length starts with 16 part URLs; GET asks
// for at most 64, numbered 1 to 10000.
func TestDirectUploadPartURLs(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	loc, a := e.startDirect("direct/stream", -1)
	if len(a.Parts) != 16 || a.Parts[0].Number != 1 || a.Parts[15].Number != 16 {
		t.Fatalf("stream start: %d part URLs, want 1..16", len(a.Parts))
	}
	for _, tc := range []struct {
		spec   string
		status int
		parts  int
	}{
		{"17-80", http.StatusOK, 64},
		{"9999-10000", http.StatusOK, 2},
		{"1-65", http.StatusBadRequest, 0},
		{"0-3", http.StatusBadRequest, 0},
		{"10000-10001", http.StatusBadRequest, 0},
		{"5-4", http.StatusBadRequest, 0},
		{"x", http.StatusBadRequest, 0},
	} {
		r, got := e.parts(loc, tc.spec)
		if r.status != tc.status || len(got.Parts) != tc.parts || tc.status == http.StatusBadRequest && r.code != "BLOB_UPLOAD_INVALID" {
			t.Errorf("GET parts %s: %s, %d URLs; want %d and %d URLs", tc.spec, r, len(got.Parts), tc.status, tc.parts)
		}
	}
	// Without the header, GET is the standard status.
	if r := e.do(http.MethodGet, loc, nil, nil); r.status != http.StatusNoContent || r.header.Get("Range") != "0-0" {
		t.Errorf("status: %s, Range %q", r, r.header.Get("Range"))
	}
	// A chunk is refused: the bytes go to S3.
	if r := e.do(http.MethodPatch, loc, http.Header{"Content-Type": {"application/octet-stream"}}, []byte("x")); r.status != http.StatusBadRequest || r.code != "BLOB_UPLOAD_INVALID" {
		t.Errorf("PATCH a direct upload: %s", r)
	}
}

// Bytes that do not hash to the digest: DIGEST_INVALID, nothing under
// blobs/, the upload ended, its bytes gone. Parts that do not make a blob:
// BLOB_UPLOAD_INVALID.
func TestDirectUploadRefusals(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	const part = awsstore.MinPartSize
	blob := randomBytes(1000)
	for _, tc := range []struct {
		name  string
		parts map[int32][]byte
		d     digest.Digest
		code  string
	}{
		{"wrong bytes", map[int32][]byte{1: blob}, digest.FromString("other"), "DIGEST_INVALID"},
		{"wrong bytes, sha512", map[int32][]byte{1: blob}, digest.SHA512.FromString("other"), "DIGEST_INVALID"},
		{"a gap", map[int32][]byte{1: randomBytes(part), 3: blob}, digest.FromString("x"), "BLOB_UPLOAD_INVALID"},
		{"no part 1", map[int32][]byte{2: blob}, digest.FromString("x"), "BLOB_UPLOAD_INVALID"},
		{"a short part before the last", map[int32][]byte{1: blob, 2: blob}, digest.FromString("x"), "BLOB_UPLOAD_INVALID"},
		{"no part", nil, digest.FromBytes(nil), "BLOB_UPLOAD_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, a := e.startDirect("direct/refused", -1)
			for n, body := range tc.parts {
				if st := putPart(t, a.url(t, n), body); st != http.StatusOK {
					t.Fatalf("PUT part %d: %d", n, st)
				}
			}
			r := e.finish(loc, tc.d)
			if r.status != http.StatusBadRequest || r.code != tc.code {
				t.Fatalf("finish: %s, want 400 %s", r, tc.code)
			}
			if tc.code == "DIGEST_INVALID" {
				if r := e.finish(loc, tc.d); r.status != http.StatusNotFound || r.code != "BLOB_UPLOAD_UNKNOWN" {
					t.Errorf("finish after DIGEST_INVALID: %s, want the upload ended", r)
				}
			} else if r := e.do(http.MethodDelete, loc, nil, nil); r.status != http.StatusNoContent {
				t.Errorf("cancel: %s", r)
			}
		})
	}
	if k := e.keys("blobs/"); len(k) > 0 {
		t.Errorf("objects under blobs/: %v", k)
	}
	e.checkNothingLeft()
}

// A part URL writes its part of its upload only: with another upload's
// id or another part number in its query, S3 refuses it (the signature
// covers them), and the other upload's blob never holds its bytes.
func TestDirectUploadPartURLsAreBound(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	blobA, blobB := randomBytes(1000), randomBytes(2000)
	_, a := e.startDirect("direct/a", int64(len(blobA)))
	locB, b := e.startDirect("direct/b", int64(len(blobB)))
	swap := func(u, key, value string) string {
		p, err := url.Parse(u)
		if err != nil {
			t.Fatal(err)
		}
		q := p.Query()
		q.Set(key, value)
		p.RawQuery = q.Encode()
		return p.String()
	}
	uploadID := func(u string) string {
		p, _ := url.Parse(u)
		return p.Query().Get("uploadId")
	}
	for _, tc := range []struct{ name, url string }{
		{"A's URL with B's upload id", swap(a.url(t, 1), "uploadId", uploadID(b.url(t, 1)))},
		{"A's URL for part 2", swap(a.url(t, 1), "partNumber", "2")},
		{"B's URL with A's key", strings.Replace(b.url(t, 1), locB[strings.LastIndex(locB, "/")+1:], "0123456789abcdef0123456789abcdef", 1)},
	} {
		if st := putPart(t, tc.url, blobA); st != http.StatusForbidden {
			t.Errorf("%s: S3 answers %d, want 403", tc.name, st)
		}
	}
	if st := putPart(t, b.url(t, 1), blobB); st != http.StatusOK {
		t.Fatalf("PUT B's part: %d", st)
	}
	if r := e.finish(locB, digest.FromBytes(blobA)); r.status != http.StatusBadRequest || r.code != "DIGEST_INVALID" {
		t.Errorf("finish B as A's blob: %s", r)
	}
	locB, b = e.startDirect("direct/b", int64(len(blobB)))
	putPart(t, b.url(t, 1), blobB)
	if r := e.finish(locB, digest.FromBytes(blobB)); r.status != http.StatusCreated {
		t.Fatalf("finish B: %s", r)
	}
	if got, err := e.pullBlob("direct/b", digest.FromBytes(blobB)); err != nil || !bytes.Equal(got, blobB) {
		t.Errorf("B's blob: %d bytes, %v", len(got), err)
	}
}

// A part URL past its expiry is refused by S3. It expires after the part
// URL TTL, or with the upload session when that ends first; an expired
// session is gone (404).
func TestDirectUploadPartURLExpires(t *testing.T) {
	const short = 3 * time.Second
	for _, tc := range []struct {
		name            string
		partTTL, upload time.Duration
	}{
		{"part URL TTL", short, time.Hour},
		{"session TTL", time.Hour, short},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newRegistryEnv(t,
				awsstore.BlobsOptions{DirectPartSize: awsstore.MinPartSize, PartURLTTL: tc.partTTL},
				registry.Options{UploadTTL: tc.upload})
			loc, a := e.startDirect("direct/expired", awsstore.MinPartSize+10)
			if exp := a.Parts[0].Expires; time.Until(exp) > short || exp.After(a.Expires) {
				t.Fatalf("part URL expires at %s (session at %s): more than %s from now", exp, a.Expires, short)
			}
			if st := putPart(t, a.url(t, 2), []byte("0123456789")); st != http.StatusOK {
				t.Fatalf("PUT to a part URL in time: %d", st)
			}
			time.Sleep(time.Until(a.Parts[0].Expires) + 1100*time.Millisecond)
			if st := putPart(t, a.url(t, 1), []byte("0123456789")); st != http.StatusForbidden {
				t.Errorf("PUT to an expired part URL: %d, want 403", st)
			}
			r, _ := e.parts(loc, "2-2")
			if expired := tc.upload == short; expired != (r.status == http.StatusNotFound) {
				t.Errorf("GET parts after the part URL expired (session expired %v): %s", expired, r)
			}
		})
	}
}

// With a budget of 0 the finish answers 202 with Retry-After and goes on
// in the background; the same PUT, repeated, answers 201 (or
// DIGEST_INVALID) once the work is done.
func TestDirectUploadFinishInBackground(t *testing.T) {
	e := newDirectEnv(t, time.Minute, 0)
	blob := randomBytes(awsstore.MinPartSize + 1)
	for _, tc := range []struct {
		name   string
		d      digest.Digest
		status int
	}{
		{"right digest", digest.FromBytes(blob), http.StatusCreated},
		{"wrong digest", digest.FromString("other"), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, a := e.startDirect("direct/later", int64(len(blob)))
			putPart(t, a.url(t, 1), blob[:awsstore.MinPartSize])
			putPart(t, a.url(t, 2), blob[awsstore.MinPartSize:])
			r := e.finish(loc, tc.d)
			if r.status != http.StatusAccepted || r.header.Get("Location") != loc || r.header.Get("Retry-After") == "" {
				t.Fatalf("finish: %s, Location %q, Retry-After %q; want 202 to come back", r, r.header.Get("Location"), r.header.Get("Retry-After"))
			}
			deadline := time.Now().Add(30 * time.Second)
			for r.status == http.StatusAccepted && time.Now().Before(deadline) {
				time.Sleep(100 * time.Millisecond)
				r = e.finish(loc, tc.d)
			}
			if r.status != tc.status {
				t.Fatalf("finish again: %s, want %d", r, tc.status)
			}
			if tc.status == http.StatusCreated {
				if got, err := e.pullBlob("direct/later", tc.d); err != nil || !bytes.Equal(got, blob) {
					t.Errorf("pull: %d bytes, %v", len(got), err)
				}
			} else if r.code != "DIGEST_INVALID" {
				t.Errorf("finish again: %s, want DIGEST_INVALID", r)
			}
		})
	}
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}

// DELETE ends a direct upload: its multipart upload is aborted, so that
// its part URLs take nothing more.
func TestDirectUploadCancel(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	loc, a := e.startDirect("direct/cancel", 20)
	putPart(t, a.url(t, 1), randomBytes(20))
	if r := e.do(http.MethodDelete, loc, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE: %s", r)
	}
	if st := putPart(t, a.url(t, 1), randomBytes(20)); st != http.StatusNotFound {
		t.Errorf("PUT a part after the cancel: %d, want 404 (no such upload)", st)
	}
	if r, _ := e.parts(loc, "1-2"); r.status != http.StatusNotFound {
		t.Errorf("GET parts after the cancel: %s", r)
	}
	e.checkNothingLeft()
}

// Abort, what cleanup calls on an abandoned session, drops a direct
// upload's multipart upload and, once it is assembled, its object.
func TestDirectUploadAbort(t *testing.T) {
	b, client, bucket := newBlobs(t, awsstore.BlobsOptions{})
	ctx := context.Background()
	for _, assemble := range []bool{false, true} {
		id := store.NewUploadID()
		state, _, err := b.StartDirect(ctx, id, 10, "")
		if err != nil {
			t.Fatal(err)
		}
		u, err := b.PartURL(ctx, id, state, 1, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if st := putPart(t, u.URL, []byte("0123456789")); st != http.StatusOK {
			t.Fatalf("PUT part: %d", st)
		}
		if assemble {
			if state, _, err = b.Assemble(ctx, id, state); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Abort(ctx, id, state); err != nil {
			t.Fatalf("Abort (assembled %v): %v", assemble, err)
		}
		e := &raceEnv{t: t, blobs: b, s3: client, bucket: bucket}
		e.checkNothingLeft()
	}
}

// A finish that answered 202 saves how far it has hashed in the session;
// when it stops (its process died or was frozen), a repeated finish takes
// the work over from there once its lease has run out, and leaves it
// alone before. The session is set here as such a finish leaves it.
func TestDirectUploadFinishTakenOver(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	ctx := context.Background()
	blob := randomBytes(awsstore.MinPartSize + 1000)
	d := digest.FromBytes(blob)
	const done = 3 << 20 // bytes the stopped finish had hashed
	for _, tc := range []struct {
		name   string
		hashed []byte // the bytes whose hash state the session holds
		lease  time.Duration
		status int
		code   string
	}{
		{"lease running", blob[:done], time.Minute, http.StatusAccepted, ""},
		{"lease over", blob[:done], -time.Second, http.StatusCreated, ""},
		// The saved state is used, not rehashed: a state of other bytes
		// makes the blob's digest come out wrong.
		{"lease over, other bytes saved", randomBytes(done), -time.Second, http.StatusBadRequest, "DIGEST_INVALID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			loc, a := e.startDirect("direct/takeover", int64(len(blob)))
			putPart(t, a.url(t, 1), blob[:awsstore.MinPartSize])
			putPart(t, a.url(t, 2), blob[awsstore.MinPartSize:])
			id := loc[strings.LastIndex(loc, "/")+1:]
			u, err := e.meta.Upload(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if u.State, _, err = e.blobs.Assemble(ctx, id, u.State); err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			h.Write(tc.hashed)
			saved, _ := h.(encoding.BinaryMarshaler).MarshalBinary()
			u.Hash, _ = json.Marshal(map[string]any{"alg": "sha256", "hash": saved, "lease": time.Now().Add(tc.lease)})
			u.Offset = done
			u.Version++
			if err := e.meta.UpdateUpload(ctx, u); err != nil {
				t.Fatal(err)
			}
			r := e.finish(loc, d)
			if r.status != tc.status || r.code != tc.code {
				t.Fatalf("finish: %s, want %d %s", r, tc.status, tc.code)
			}
			if tc.status == http.StatusCreated {
				if got, err := e.pullBlob("direct/takeover", d); err != nil || !bytes.Equal(got, blob) {
					t.Errorf("pull: %d bytes, %v", len(got), err)
				}
			}
			e.do(http.MethodDelete, loc, nil, nil)
		})
	}
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}

// Finishes sent at once (a client's replays) assemble the parts once and
// make one blob: each answers 201, or 202 while another one works, and a
// repeated finish then answers 201.
func TestDirectUploadFinishRace(t *testing.T) {
	e := newDirectEnv(t, time.Minute, time.Minute)
	blob := randomBytes(awsstore.MinPartSize + 77)
	d := digest.FromBytes(blob)
	for range 3 {
		loc, a := e.startDirect("direct/race", int64(len(blob)))
		putPart(t, a.url(t, 1), blob[:awsstore.MinPartSize])
		putPart(t, a.url(t, 2), blob[awsstore.MinPartSize:])
		for _, r := range e.parallel(4, http.MethodPut, loc+"?digest="+d.String(), nil, nil) {
			if r.status != http.StatusCreated && r.status != http.StatusAccepted {
				t.Errorf("parallel finish: %s", r)
			}
		}
		r := e.finish(loc, d)
		for deadline := time.Now().Add(20 * time.Second); r.status == http.StatusAccepted && time.Now().Before(deadline); {
			time.Sleep(100 * time.Millisecond)
			r = e.finish(loc, d)
		}
		if r.status != http.StatusCreated {
			t.Fatalf("finish after the race: %s", r)
		}
		if got, err := e.pullBlob("direct/race", d); err != nil || !bytes.Equal(got, blob) {
			t.Fatalf("pull: %d bytes, %v", len(got), err)
		}
	}
	e.checkNothingLeft()
	e.checkBlobIntegrity()
}
