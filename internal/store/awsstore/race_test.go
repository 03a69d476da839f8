package awsstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/syncbuf"
)

// The race tests run the whole registry (registry.New over the S3 blob
// store and the DynamoDB metadata store, on a fresh bucket and table)
// behind an HTTP server and race clients against it over HTTP. Whatever
// the interleaving, no request may fail with a 5xx, the outcomes must be
// the ones the spec allows, and every object under blobs/ must hash to its
// key (checkBlobIntegrity, at the end of each test).

// raceEnv is a registry on the AWS stores behind an HTTP server.
type raceEnv struct {
	t      *testing.T
	blobs  *awsstore.Blobs
	s3     *s3.Client
	bucket string
	srv    *httptest.Server
	client *http.Client
	meta   *awsstore.Metadata
	errlog *syncbuf.Buffer
}

// newRaceEnv starts a registry on a fresh bucket and table. Parts are
// MinPartSize, so that chunks of a few MiB make parts. The registry's log
// keeps only errors, shown when the test fails.
func newRaceEnv(t *testing.T) *raceEnv {
	t.Helper()
	return newRegistryEnv(t, awsstore.BlobsOptions{PartSize: awsstore.MinPartSize, CopyBudget: time.Minute}, registry.Options{})
}

// newRegistryEnv starts a registry of options ro on a fresh bucket (a
// blob store of options bo) and table.
func newRegistryEnv(t *testing.T, bo awsstore.BlobsOptions, ro registry.Options) *raceEnv {
	t.Helper()
	b, client, bucket := newBlobs(t, bo)
	m := newMetadata(t)
	reg := registry.New(b, m, ro)
	errlog := &syncbuf.Buffer{}
	logger := slog.New(slog.NewTextHandler(errlog, &slog.HandlerOptions{Level: slog.LevelError}))
	srv := httptest.NewServer(httpapi.New(reg, httpapi.Options{Logger: logger}))
	tr := &http.Transport{MaxIdleConns: 64, MaxIdleConnsPerHost: 64}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		srv.Close()
		if t.Failed() {
			if s := errlog.String(); s != "" {
				t.Logf("registry errors:\n%s", s)
			}
		}
	})
	return &raceEnv{
		t: t, blobs: b, s3: client, bucket: bucket, meta: m, srv: srv, errlog: errlog,
		client: &http.Client{
			Transport: tr,
			Timeout:   2 * time.Minute,
			// Blob GETs answer 307 to S3: the test follows them itself.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// reply is an answer of the registry.
type reply struct {
	status int
	header http.Header
	body   []byte
	code   string // the first error code of an error body
}

func (r reply) String() string {
	body := r.body
	if len(body) > 300 {
		body = body[:300]
	}
	return fmt.Sprintf("%d %s %s", r.status, r.code, body)
}

// do sends a request to the registry (path with its query) and reads the
// answer. A transport error or a 5xx fails the test (from any goroutine);
// the reply then has status 0 or the 5xx.
func (e *raceEnv) do(method, path string, header http.Header, body []byte) reply {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return reply{}
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Errorf("%s %s: %v", method, path, err)
		return reply{}
	}
	defer resp.Body.Close()
	r := reply{status: resp.StatusCode, header: resp.Header}
	r.body, err = io.ReadAll(resp.Body)
	if err != nil {
		e.t.Errorf("%s %s: reading the body: %v", method, path, err)
	}
	if r.status >= 400 {
		var eb struct {
			Errors []struct {
				Code string `json:"code"`
			} `json:"errors"`
		}
		if json.Unmarshal(r.body, &eb) == nil && len(eb.Errors) > 0 {
			r.code = eb.Errors[0].Code
		}
	}
	if r.status >= 500 {
		e.t.Errorf("%s %s: a server error: %s", method, path, r)
	}
	return r
}

// parallel sends n copies of one request at once (a request and its
// replays) and returns the replies.
func (e *raceEnv) parallel(n int, method, path string, header http.Header, body []byte) []reply {
	out := make([]reply, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { out[i] = e.do(method, path, header, body) })
	}
	wg.Wait()
	return out
}

// pushBlob pushes data as a blob of repo in one request.
func (e *raceEnv) pushBlob(repo string, data []byte) digest.Digest {
	e.t.Helper()
	d := digest.FromBytes(data)
	if r := e.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/?digest="+d.String(), nil, data); r.status != http.StatusCreated {
		e.t.Errorf("push blob %s: %s", d, r)
	}
	return d
}

// pullBlob fetches blob d of repo through the registry's redirect.
func (e *raceEnv) pullBlob(repo string, d digest.Digest) ([]byte, error) {
	r := e.do(http.MethodGet, "/v2/"+repo+"/blobs/"+d.String(), nil, nil)
	if r.status != http.StatusTemporaryRedirect {
		return nil, fmt.Errorf("GET blob %s: %s, want 307", d, r)
	}
	resp, err := http.Get(r.header.Get("Location"))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET blob %s from S3: %s", d, resp.Status)
	}
	return body, nil
}

var manifestAccept = http.Header{"Accept": {v1.MediaTypeImageManifest + ", " + v1.MediaTypeImageIndex}}

// checkBlobIntegrity checks the rule of the store: the bytes under every
// key blobs/<algorithm>/<hex> of the bucket hash to <algorithm>:<hex>.
func (e *raceEnv) checkBlobIntegrity() {
	e.t.Helper()
	checkBlobIntegrity(e.t, e.blobs, e.s3, e.bucket)
}

// checkBlobIntegrity checks that the bytes under every key
// blobs/<algorithm>/<hex> of bucket (of b, through client) hash to
// <algorithm>:<hex>, after the copies b runs in the background.
func checkBlobIntegrity(t *testing.T, b *awsstore.Blobs, client *s3.Client, bucket string) {
	t.Helper()
	b.Wait()
	ctx := context.Background()
	n := 0
	p := s3.NewListObjectsV2Paginator(client, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String("blobs/")})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list blobs/: %v", err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			n++
			parts := strings.Split(key, "/")
			if len(parts) != 3 || (parts[1] != string(digest.SHA256) && parts[1] != string(digest.SHA512)) {
				t.Errorf("object %s: not blobs/sha256/<hex> or blobs/sha512/<hex>", key)
				continue
			}
			d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
			if err := d.Validate(); err != nil {
				t.Errorf("object %s: not a digest: %v", key, err)
				continue
			}
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Errorf("get %s: %v", key, err)
				continue
			}
			v := d.Verifier()
			size, err := io.Copy(v, out.Body)
			out.Body.Close()
			if err != nil {
				t.Errorf("read %s: %v", key, err)
				continue
			}
			if !v.Verified() {
				t.Errorf("object %s: its %d bytes do not hash to %s", key, size, d)
			}
		}
	}
	t.Logf("integrity: %d objects under blobs/, each hashes to its key", n)
}

// randomBytes returns n random bytes.
func randomBytes(n int) []byte { return randid.Bytes(n) }

// rangeEnd reads the Range header of an upload answer ("0-<last>") and
// returns the upload's offset: last+1, or 0 for "0-0" (what an empty
// upload reports; the chunks here are never one byte).
func rangeEnd(h http.Header) (int64, bool) {
	v := h.Get("Range")
	a, b, ok := strings.Cut(v, "-")
	if !ok || a != "0" {
		return 0, false
	}
	last, err := strconv.ParseInt(b, 10, 64)
	if err != nil {
		return 0, false
	}
	if last == 0 {
		return 0, true
	}
	return last + 1, true
}

// attempt is a chunk sent to the upload of TestRacePatchOneUpload.
type attempt struct {
	racer  int
	kind   string // "patch", "replay" (the same request again, later), "put" (a last chunk in PUT)
	offset int64
	data   []byte
	reply  reply
}

// TestRacePatchOneUpload races 8 clients on one upload session. Each
// sends its own random chunks of 3 MiB (parts are 5 MiB, so parts form in
// the PATCHes and in the PUT), at the offset it believes the upload has:
// all start at 0, and after a 416 they resync from its Range header (or
// GET the session) and go on with their next chunk. Some send a request
// twice at once, and some replay an accepted chunk later. Odd racers send
// their last chunk in the PUT. Each then finishes the upload with the
// digest of the chunks it got 202 for (some twice at once), racing the
// PATCHes of the others.
//
// Allowed: at most one digest gets 201, and its blob holds exactly the
// accepted chunks that lie within it; 400 DIGEST_INVALID or
// BLOB_UPLOAD_INVALID, 416, 404 BLOB_UPLOAD_UNKNOWN for the others; no
// two chunks accepted at one offset; never a 5xx. When nobody finished
// the upload, a last client finishes it with the digest of the accepted
// chunks: 201. (A PATCH that loses the race for an offset has already
// staged its parts, but under keys of its own: the accepted chunks always
// complete.)
func TestRacePatchOneUpload(t *testing.T) {
	env := newRaceEnv(t)
	const (
		repo      = "race/patch"
		racers    = 8
		chunkSize = 3 << 20
	)
	seed := mrand.Uint64()
	t.Logf("seed %d", seed)

	start := env.do(http.MethodPost, "/v2/"+repo+"/blobs/uploads/", nil, nil)
	if start.status != http.StatusAccepted {
		t.Fatalf("start upload: %s", start)
	}
	loc := start.header.Get("Location")
	id := start.header.Get("Docker-Upload-UUID")
	if !strings.HasPrefix(loc, "/v2/"+repo+"/blobs/uploads/") || id == "" {
		t.Fatalf("start upload: Location %q, id %q", loc, id)
	}

	var (
		mu       sync.Mutex
		attempts []attempt
		puts     []struct {
			racer int
			d     digest.Digest
			reply reply
		}
	)
	record := func(a attempt) {
		mu.Lock()
		attempts = append(attempts, a)
		mu.Unlock()
	}
	chunkHeader := func(offset int64, n int) http.Header {
		return http.Header{
			"Content-Type":  {"application/octet-stream"},
			"Content-Range": {fmt.Sprintf("%d-%d", offset, offset+int64(n)-1)},
		}
	}
	// resync asks the session where it stands; false when it is gone.
	resync := func() (int64, bool) {
		r := env.do(http.MethodGet, loc, nil, nil)
		switch r.status {
		case http.StatusNoContent:
			if off, ok := rangeEnd(r.header); ok {
				return off, true
			}
			t.Errorf("upload status without a Range: %s %v", r, r.header)
		case http.StatusNotFound:
			if r.code != "BLOB_UPLOAD_UNKNOWN" {
				t.Errorf("upload status: %s, want BLOB_UPLOAD_UNKNOWN", r)
			}
		default:
			t.Errorf("upload status: %s", r)
		}
		return 0, false
	}

	summary := make([]string, racers)
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for g := range racers {
		wg.Go(func() {
			var won []string
			rng := mrand.New(mrand.NewPCG(seed, uint64(g)))
			chunks := 2 + g%3 // 2 to 4 chunks: 6 to 12 MiB
			finalInPut := g%2 == 1
			data := make([][]byte, chunks)
			for i := range data {
				data[i] = randomBytes(chunkSize)
			}
			var believed []byte // the chunks it got 202 for
			offset := int64(0)
			live := true
			<-gate
			patches := chunks
			if finalInPut {
				patches--
			}
			for i := 0; i < patches && live; i++ {
				copies := 1
				if rng.IntN(3) == 0 {
					copies = 2 // the request and its replay, at once
				}
				rs := env.parallel(copies, http.MethodPatch, loc, chunkHeader(offset, chunkSize), data[i])
				accepted := false
				next := int64(-1)
				for _, r := range rs {
					record(attempt{racer: g, kind: "patch", offset: offset, data: data[i], reply: r})
					switch {
					case r.status == http.StatusAccepted:
						if accepted {
							t.Errorf("racer %d: the same chunk at %d was accepted twice", g, offset)
						}
						accepted = true
						if end, ok := rangeEnd(r.header); !ok || end != offset+chunkSize {
							t.Errorf("racer %d: 202 for %d bytes at %d with Range %q", g, chunkSize, offset, r.header.Get("Range"))
						}
					case r.status == http.StatusRequestedRangeNotSatisfiable && r.code == "BLOB_UPLOAD_INVALID":
						end, ok := rangeEnd(r.header)
						if !ok {
							t.Errorf("racer %d: 416 without a Range: %v", g, r.header)
						}
						if ok && end > next {
							next = end
						}
					case r.status == http.StatusNotFound && r.code == "BLOB_UPLOAD_UNKNOWN":
						live = false
					case r.status == http.StatusBadRequest && r.code == "BLOB_UPLOAD_INVALID":
						// It built on a state that a racing PUT consumed.
					default:
						t.Errorf("racer %d: PATCH at %d: %s", g, offset, r)
					}
				}
				if accepted {
					won = append(won, strconv.FormatInt(offset>>20, 10))
					believed = append(believed, data[i]...)
					next = offset + chunkSize
					if rng.IntN(3) == 0 {
						// A client that did not see the answer sends it again.
						r := env.do(http.MethodPatch, loc, chunkHeader(offset, chunkSize), data[i])
						record(attempt{racer: g, kind: "replay", offset: offset, data: data[i], reply: r})
						switch {
						case r.status == http.StatusRequestedRangeNotSatisfiable && r.code == "BLOB_UPLOAD_INVALID":
						case r.status == http.StatusNotFound && r.code == "BLOB_UPLOAD_UNKNOWN":
						default:
							t.Errorf("racer %d: a replay of the chunk accepted at %d: %s, want 416 or 404", g, offset, r)
						}
					}
				}
				if !live {
					break
				}
				if next < 0 {
					next, live = resync()
				}
				offset = next
			}

			// Finish with the digest of what it believes it uploaded.
			var body []byte
			hdr := http.Header{}
			content := believed
			if finalInPut && live {
				body = data[chunks-1]
				hdr = chunkHeader(offset, len(body))
				hdr.Set("Content-Type", "application/octet-stream")
				content = append(slices.Clip(believed), body...)
			}
			d := digest.FromBytes(content)
			copies := 1
			if g%4 == 0 {
				copies = 2
			}
			rs := env.parallel(copies, http.MethodPut, loc+"?digest="+d.String(), hdr, body)
			var finish []string
			for _, r := range rs {
				finish = append(finish, strings.TrimSpace(fmt.Sprintf("%d %s", r.status, r.code)))
			}
			summary[g] = fmt.Sprintf("racer %d: %d chunks (last in PUT: %v), 202 at MiB [%s], PUT of %d MiB: %s",
				g, chunks, finalInPut, strings.Join(won, " "), len(content)>>20, strings.Join(finish, ", "))
			mu.Lock()
			for _, r := range rs {
				puts = append(puts, struct {
					racer int
					d     digest.Digest
					reply reply
				}{g, d, r})
			}
			mu.Unlock()
			if body != nil {
				for _, r := range rs {
					record(attempt{racer: g, kind: "put", offset: offset, data: body, reply: r})
				}
			}
		})
	}
	close(gate)
	wg.Wait()
	for _, s := range summary {
		t.Log(s)
	}
	if t.Failed() {
		t.FailNow()
	}

	// The outcomes.
	count := map[string]int{}
	for _, a := range attempts {
		count[fmt.Sprintf("%s %d %s", a.kind, a.reply.status, a.reply.code)]++
	}
	created := map[digest.Digest][]int{}
	for _, p := range puts {
		r := p.reply
		count[fmt.Sprintf("finish %d %s", r.status, r.code)]++
		switch {
		case r.status == http.StatusCreated:
			if got := r.header.Get("Docker-Content-Digest"); got != p.d.String() {
				t.Errorf("racer %d: 201 with Docker-Content-Digest %q, want %s", p.racer, got, p.d)
			}
			created[p.d] = append(created[p.d], p.racer)
		case r.status == http.StatusBadRequest && (r.code == "DIGEST_INVALID" || r.code == "BLOB_UPLOAD_INVALID"):
		case r.status == http.StatusRequestedRangeNotSatisfiable && r.code == "BLOB_UPLOAD_INVALID":
		case r.status == http.StatusNotFound && r.code == "BLOB_UPLOAD_UNKNOWN":
		default:
			t.Errorf("racer %d: PUT ?digest=%s: %s", p.racer, p.d, r)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(count)) {
		t.Logf("%3d x %s", count[k], k)
	}
	if len(created) > 1 {
		t.Fatalf("one upload made %d blobs: %v", len(created), created)
	}

	// No two chunks were accepted at one offset.
	accepted := map[int64]attempt{}
	for _, a := range attempts {
		if a.reply.status == http.StatusAccepted {
			if b, ok := accepted[a.offset]; ok {
				t.Errorf("two chunks accepted at %d: racers %d and %d", a.offset, b.racer, a.racer)
			}
			accepted[a.offset] = a
		}
	}
	// A last chunk sent in a PUT was added when the PUT got 201, and may
	// have been when it got 400 BLOB_UPLOAD_INVALID (the chunk was added,
	// then the commit lost a race; or the chunk itself lost one): where no
	// PATCH was accepted, such a chunk is a candidate.
	candidates := map[int64][]attempt{}
	for _, a := range attempts {
		if a.kind == "put" && (a.reply.status == http.StatusCreated || a.reply.code == "BLOB_UPLOAD_INVALID" && a.reply.status == http.StatusBadRequest) {
			candidates[a.offset] = append(candidates[a.offset], a)
		}
	}
	// chains returns the contents the answers allow for the first size
	// bytes of the upload: at each offset the chunk accepted there, or
	// else each of the candidates.
	var chains func(prefix []byte, size int64) [][]byte
	chains = func(prefix []byte, size int64) [][]byte {
		off := int64(len(prefix))
		if off == size {
			return [][]byte{prefix}
		}
		var next []attempt
		if a, ok := accepted[off]; ok {
			next = []attempt{a}
		} else {
			next = candidates[off]
		}
		var out [][]byte
		for _, a := range next {
			if off+int64(len(a.data)) <= size {
				out = append(out, chains(append(slices.Clip(prefix), a.data...), size)...)
			}
		}
		return out
	}

	var blob digest.Digest
	for d := range created {
		blob = d
	}
	if blob == "" {
		// Nobody finished it: a last client that knows what was accepted
		// finishes it. A PUT of a wrong digest changes nothing, so it
		// tries each content the answers allow; one must be the upload's.
		size, live := resync()
		if !live {
			t.Fatal("no upload finished, but the session is gone")
		}
		contents := chains(nil, size)
		if len(contents) == 0 {
			t.Fatalf("the session holds %d bytes, which no chain of accepted chunks makes", size)
		}
		found := false
		for _, c := range contents {
			d := digest.FromBytes(c)
			r := env.do(http.MethodPut, loc+"?digest="+d.String(), nil, nil)
			if r.status == http.StatusBadRequest && r.code == "DIGEST_INVALID" {
				continue
			}
			found = true
			t.Logf("last client: PUT of %d bytes (%d possible contents): %d %s", len(c), len(contents), r.status, r.code)
			switch {
			case r.status == http.StatusCreated:
				blob = d
			default:
				t.Errorf("last client: PUT ?digest= of the accepted chunks: %s", r)
			}
			break
		}
		if !found {
			t.Errorf("the upload's %d bytes are none of the %d contents the answers allow", size, len(contents))
		}
	}
	if blob != "" {
		got, err := env.pullBlob(repo, blob)
		if err != nil {
			t.Fatal(err)
		}
		if digest.FromBytes(got) != blob {
			t.Fatalf("blob %s: its %d bytes hash to %s", blob, len(got), digest.FromBytes(got))
		}
		for off, a := range accepted {
			switch end := off + int64(len(a.data)); {
			case end <= int64(len(got)):
				if !bytes.Equal(got[off:end], a.data) {
					t.Errorf("blob %s: bytes %d-%d are not those of the chunk accepted there (racer %d)", blob, off, end-1, a.racer)
				}
			case off < int64(len(got)):
				t.Errorf("blob %s of %d bytes ends inside the chunk accepted at %d", blob, len(got), off)
			}
		}
		if r := env.do(http.MethodGet, loc, nil, nil); r.status != http.StatusNotFound {
			t.Errorf("upload status after it made blob %s: %s, want 404", blob, r)
		}
		t.Logf("blob %s: %d bytes (%d chunks)", blob, len(got), len(got)/chunkSize)
	} else if r := env.do(http.MethodDelete, loc, nil, nil); r.status != http.StatusNoContent {
		t.Errorf("cancel upload: %s", r)
	} else {
		// Canceling drops everything staged, also what losers staged.
		out, err := env.s3.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &env.bucket, Prefix: aws.String("uploads/" + id + "/")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Contents) > 0 {
			t.Errorf("after cancel, %d objects are left under uploads/%s/", len(out.Contents), id)
		}
	}
	env.checkBlobIntegrity()
}

// TestRacePushTag races 8 pushes of one tag, each with its own config
// blob and manifest (and one shared layer, pushed by all at once): half
// push by tag, half by digest with ?tag=. Every push gets 201; afterwards
// the tag names exactly one of the manifests, and each is pullable by
// digest. A second round moves the tag that exists.
func TestRacePushTag(t *testing.T) {
	env := newRaceEnv(t)
	const (
		repo   = "race/tag"
		pushes = 8
	)
	// A shared layer larger than a part: concurrent multipart Puts of one
	// blob.
	layer := randomBytes(awsstore.MinPartSize + 100<<10)
	layerDigest := digest.FromBytes(layer)

	var all []digest.Digest
	bodies := map[digest.Digest][]byte{}
	for round := range 2 {
		manifests := make([][]byte, pushes)
		var wg, ready sync.WaitGroup
		ready.Add(pushes)
		gate := make(chan struct{})
		replies := make([]reply, pushes)
		for g := range pushes {
			wg.Go(func() {
				config := []byte(fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{"Labels":{"racer":"%d","round":"%d","nonce":"%x"}}}`, g, round, randomBytes(8)))
				configDigest := env.pushBlob(repo, config)
				if round == 0 {
					env.pushBlob(repo, layer)
				}
				m := v1.Manifest{
					MediaType: v1.MediaTypeImageManifest,
					Config:    v1.Descriptor{MediaType: v1.MediaTypeImageConfig, Digest: configDigest, Size: int64(len(config))},
					Layers:    []v1.Descriptor{{MediaType: v1.MediaTypeImageLayerGzip, Digest: layerDigest, Size: int64(len(layer))}},
					Annotations: map[string]string{
						"org.example.racer": strconv.Itoa(g),
						"org.example.round": strconv.Itoa(round),
					},
				}
				m.SchemaVersion = 2
				body, _ := json.Marshal(m)
				manifests[g] = body
				d := digest.FromBytes(body)
				path := "/v2/" + repo + "/manifests/latest"
				if g%2 == 1 {
					path = "/v2/" + repo + "/manifests/" + d.String() + "?tag=latest"
				}
				ready.Done()
				<-gate
				replies[g] = env.do(http.MethodPut, path, http.Header{"Content-Type": {v1.MediaTypeImageManifest}}, body)
			})
		}
		// The manifests race once every blob is pushed.
		ready.Wait()
		close(gate)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		var pushed []digest.Digest
		for g, r := range replies {
			d := digest.FromBytes(manifests[g])
			if r.status != http.StatusCreated || r.header.Get("Docker-Content-Digest") != d.String() {
				t.Errorf("round %d: push %d of tag latest: %s (Docker-Content-Digest %q, want %s)", round, g, r, r.header.Get("Docker-Content-Digest"), d)
			}
			pushed = append(pushed, d)
			bodies[d] = manifests[g]
		}
		all = append(all, pushed...)

		r := env.do(http.MethodGet, "/v2/"+repo+"/manifests/latest", manifestAccept, nil)
		if r.status != http.StatusOK {
			t.Fatalf("round %d: GET latest: %s", round, r)
		}
		d := digest.FromBytes(r.body)
		if !slices.Contains(pushed, d) {
			t.Fatalf("round %d: latest is %s, none of the manifests pushed in this round", round, d)
		}
		if got := r.header.Get("Docker-Content-Digest"); got != d.String() {
			t.Errorf("round %d: GET latest: Docker-Content-Digest %s, body %s", round, got, d)
		}
		if h := env.do(http.MethodHead, "/v2/"+repo+"/manifests/latest", manifestAccept, nil); h.status != http.StatusOK || h.header.Get("Docker-Content-Digest") != d.String() {
			t.Errorf("round %d: HEAD latest: %s, Docker-Content-Digest %q, want %s", round, h, h.header.Get("Docker-Content-Digest"), d)
		}
		t.Logf("round %d: latest names the manifest of push %d", round, slices.Index(pushed, d))
	}

	for _, d := range all {
		r := env.do(http.MethodGet, "/v2/"+repo+"/manifests/"+d.String(), manifestAccept, nil)
		if r.status != http.StatusOK || !bytes.Equal(r.body, bodies[d]) || r.header.Get("Docker-Content-Digest") != d.String() {
			t.Errorf("GET manifest %s: %s", d, r)
		}
	}
	r := env.do(http.MethodGet, "/v2/"+repo+"/tags/list", nil, nil)
	var tags struct {
		Tags []string `json:"tags"`
	}
	if r.status != http.StatusOK || json.Unmarshal(r.body, &tags) != nil || !slices.Equal(tags.Tags, []string{"latest"}) {
		t.Errorf("tags/list: %s", r)
	}
	if got, err := env.pullBlob(repo, layerDigest); err != nil || !bytes.Equal(got, layer) {
		t.Errorf("the shared layer: %d bytes, equal %v, %v", len(got), bytes.Equal(got, layer), err)
	}
	env.checkBlobIntegrity()
}

// TestRacePushReferrers pushes 16 artifacts whose subject is one image
// (among them two indexes, several of one artifact type, and some pushed
// twice at once) concurrently with the image itself. The referrers
// listing then holds exactly the artifacts, with their media types,
// sizes, artifact types and annotations; a listing filtered by artifact
// type holds exactly the artifacts of that type.
func TestRacePushReferrers(t *testing.T) {
	env := newRaceEnv(t)
	const (
		repo      = "race/referrers"
		artifacts = 16
	)
	types := []string{
		"application/vnd.example.sbom.v1+json",
		"application/vnd.example.signature.v1",
		"application/vnd.example.attestation.v1+json",
	}
	empty := v1.DescriptorEmptyJSON
	if d := env.pushBlob(repo, empty.Data); d != empty.Digest {
		t.Fatalf("the empty blob: %s, want %s", d, empty.Digest)
	}
	emptyDesc := v1.Descriptor{MediaType: empty.MediaType, Digest: empty.Digest, Size: empty.Size}

	subjectManifest := v1.Manifest{
		MediaType:   v1.MediaTypeImageManifest,
		Config:      emptyDesc,
		Layers:      []v1.Descriptor{},
		Annotations: map[string]string{"org.example.nonce": fmt.Sprintf("%x", randomBytes(8))},
	}
	subjectManifest.SchemaVersion = 2
	subjectBody, _ := json.Marshal(subjectManifest)
	subject := v1.Descriptor{MediaType: v1.MediaTypeImageManifest, Digest: digest.FromBytes(subjectBody), Size: int64(len(subjectBody))}

	type pushed struct {
		desc v1.Descriptor
		body []byte
	}
	var want []pushed
	for i := range artifacts {
		ann := map[string]string{
			"org.example.index":                strconv.Itoa(i),
			"org.opencontainers.image.title":   fmt.Sprintf("artifact %d — «%x»", i, randomBytes(4)),
			"org.opencontainers.image.created": time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC).Format(time.RFC3339),
		}
		at := types[i%len(types)]
		var body []byte
		var mt string
		if i >= artifacts-2 {
			idx := v1.Index{MediaType: v1.MediaTypeImageIndex, ArtifactType: at, Manifests: []v1.Descriptor{}, Subject: &subject, Annotations: ann}
			idx.SchemaVersion = 2
			body, _ = json.Marshal(idx)
			mt = v1.MediaTypeImageIndex
		} else {
			m := v1.Manifest{MediaType: v1.MediaTypeImageManifest, ArtifactType: at, Config: emptyDesc, Layers: []v1.Descriptor{emptyDesc}, Subject: &subject, Annotations: ann}
			m.SchemaVersion = 2
			body, _ = json.Marshal(m)
			mt = v1.MediaTypeImageManifest
		}
		want = append(want, pushed{
			desc: v1.Descriptor{MediaType: mt, Digest: digest.FromBytes(body), Size: int64(len(body)), ArtifactType: at, Annotations: ann},
			body: body,
		})
	}

	gate := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		<-gate
		r := env.do(http.MethodPut, "/v2/"+repo+"/manifests/"+subject.Digest.String(), http.Header{"Content-Type": {subject.MediaType}}, subjectBody)
		if r.status != http.StatusCreated {
			t.Errorf("push the subject: %s", r)
		}
	})
	var artifactPushes atomic.Int64
	for i, p := range want {
		wg.Go(func() {
			copies := 1
			if i%4 == 0 {
				copies = 2
			}
			<-gate
			rs := env.parallel(copies, http.MethodPut, "/v2/"+repo+"/manifests/"+p.desc.Digest.String(), http.Header{"Content-Type": {p.desc.MediaType}}, p.body)
			for _, r := range rs {
				artifactPushes.Add(1)
				if r.status != http.StatusCreated || r.header.Get("OCI-Subject") != subject.Digest.String() {
					t.Errorf("push artifact %d: %s (OCI-Subject %q)", i, r, r.header.Get("OCI-Subject"))
				}
			}
		})
	}
	close(gate)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// referrers lists the referrers of the subject, filtered by
	// artifactType when it is not "", and checks the listing against the
	// pushed artifacts of that type.
	referrers := func(artifactType string) {
		t.Helper()
		path := "/v2/" + repo + "/referrers/" + subject.Digest.String()
		if artifactType != "" {
			path += "?artifactType=" + url.QueryEscape(artifactType)
		}
		r := env.do(http.MethodGet, path, nil, nil)
		if r.status != http.StatusOK {
			t.Fatalf("GET %s: %s", path, r)
		}
		if ct := r.header.Get("Content-Type"); ct != v1.MediaTypeImageIndex {
			t.Errorf("GET %s: Content-Type %q", path, ct)
		}
		if f := r.header.Get("OCI-Filters-Applied"); (artifactType != "") != (f == "artifactType") {
			t.Errorf("GET %s: OCI-Filters-Applied %q", path, f)
		}
		if l := r.header.Get("Link"); l != "" {
			t.Errorf("GET %s: a Link to more: %q", path, l)
		}
		var idx v1.Index
		if err := json.Unmarshal(r.body, &idx); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		got := map[digest.Digest]v1.Descriptor{}
		for _, d := range idx.Manifests {
			if _, dup := got[d.Digest]; dup {
				t.Errorf("GET %s: %s listed twice", path, d.Digest)
			}
			got[d.Digest] = d
		}
		n := 0
		for _, p := range want {
			if artifactType != "" && p.desc.ArtifactType != artifactType {
				continue
			}
			n++
			d, ok := got[p.desc.Digest]
			switch {
			case !ok:
				t.Errorf("GET %s: %s (%s) is missing", path, p.desc.Digest, p.desc.Annotations["org.example.index"])
			case d.MediaType != p.desc.MediaType || d.Size != p.desc.Size || d.ArtifactType != p.desc.ArtifactType ||
				!maps.Equal(d.Annotations, p.desc.Annotations):
				t.Errorf("GET %s: %+v, want %+v", path, d, p.desc)
			}
		}
		if len(got) != n {
			t.Errorf("GET %s: %d referrers, want %d", path, len(got), n)
		}
	}
	referrers("")
	for _, at := range types {
		referrers(at)
	}
	referrers("application/vnd.example.none")

	// Every artifact and the subject are pullable by digest.
	for _, p := range append(want, pushed{desc: subject, body: subjectBody}) {
		r := env.do(http.MethodGet, "/v2/"+repo+"/manifests/"+p.desc.Digest.String(), manifestAccept, nil)
		if r.status != http.StatusOK || !bytes.Equal(r.body, p.body) {
			t.Errorf("GET manifest %s: %s", p.desc.Digest, r)
		}
	}
	t.Logf("%d artifact pushes (%d artifacts) and the subject: all 201", artifactPushes.Load(), artifacts)
	env.checkBlobIntegrity()
}

// TestRaceCommitReplayed commits one chunked upload (parts and a tail)
// twice at once, as a PUT and its replay do. A Commit may fail (lose the
// race: store.ErrConflict; or meet an error of the S3 server, which
// versitygw gives to some concurrent completions of one multipart
// upload), but every location a Commit returns must serve the blob: a
// Commit whose copy finds the assembled upload moved away by the other
// must not return it.
func TestRaceCommitReplayed(t *testing.T) {
	b, client, bucket := newBlobs(t, awsstore.BlobsOptions{PartSize: awsstore.MinPartSize, CopyBudget: time.Minute})
	outcomes := map[string]int{}
	for range 4 {
		data := randomBytes(7<<20 + 1234)
		d := digest.FromBytes(data)
		id, state := chunked(t, b, data, 3<<20)
		locs := make([]string, 2)
		errs := make([]error, len(locs))
		var wg sync.WaitGroup
		for i := range locs {
			wg.Go(func() {
				// Bounded: a local server that hangs fails the test,
				// not the run.
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				locs[i], errs[i] = b.Commit(ctx, id, state, d)
			})
		}
		wg.Wait()
		for i, err := range errs {
			switch {
			case errors.Is(err, context.DeadlineExceeded):
				t.Fatalf("Commit %d: %v", i, err)
			case errors.Is(err, store.ErrConflict):
				outcomes["conflict"]++
				continue
			case err != nil:
				t.Logf("Commit %d: %v", i, err)
				outcomes["error"]++
				continue
			}
			outcomes[fmt.Sprintf("location %q", strings.SplitN(locs[i], "/", 2)[0])]++
			url, err := b.URL(context.Background(), d, locs[i])
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Get(url)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !bytes.Equal(got, data) {
				t.Errorf("Commit %d returned location %q: GET %s, %d bytes, equal %v", i, locs[i], resp.Status, len(got), bytes.Equal(got, data))
			}
		}
	}
	t.Logf("outcomes: %v", outcomes)
	checkBlobIntegrity(t, b, client, bucket)
}
