package awsstore_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/storetest"
)

// newBlobs returns a Blobs on a fresh bucket of the local S3 server, and
// its client.
func newBlobs(t *testing.T, opts awsstore.BlobsOptions) (*awsstore.Blobs, *s3.Client, string) {
	t.Helper()
	awstest.Require(t)
	c, err := awsstore.NewClients(context.Background(), awsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	bucket := "test-" + randid.Hex(6)
	b := awsstore.NewBlobs(c.S3, bucket, opts)
	if err := b.CreateBucket(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Wait)
	return b, c.S3, bucket
}

// The contract, with chunked uploads' parts staged (sessions) and sent
// into the multipart upload (signed states), with parts of the smallest
// size so that the suite's uploads make several.
func TestBlobsContract(t *testing.T) {
	for _, inMPU := range []bool{false, true} {
		t.Run(fmt.Sprintf("parts in multipart %v", inMPU), func(t *testing.T) {
			storetest.TestBlobs(t, func(t *testing.T) store.Blobs {
				b, _, _ := newBlobs(t, awsstore.BlobsOptions{CopyBudget: time.Minute, PartSize: awsstore.MinPartSize, PartsInMultipart: inMPU})
				return b
			})
		})
	}
}

// get fetches url and returns the body.
func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %s", url, resp.Status, body)
	}
	return body
}

// chunked writes data to a new upload in chunks of size and returns the
// upload id and state.
func chunked(t *testing.T, b store.Blobs, data []byte, size int) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	id := store.NewUploadID()
	var state []byte
	for off := 0; off < len(data); off += size {
		end := min(off+size, len(data))
		st, n, err := b.WriteChunk(ctx, id, state, int64(off), bytes.NewReader(data[off:end]))
		if err != nil {
			t.Fatalf("WriteChunk at %d: %v", off, err)
		}
		if n != int64(end-off) {
			t.Fatalf("WriteChunk at %d wrote %d bytes, want %d", off, n, end-off)
		}
		state = st
	}
	return id, state
}

// Chunks of the size the Lambda path takes (4 MiB) become multipart parts;
// the blob is byte-exact behind its presigned URL, and costs no request to
// presign.
func TestChunksBecomeParts(t *testing.T) {
	b, _, _ := newBlobs(t, awsstore.BlobsOptions{CopyBudget: time.Minute, PartSize: awsstore.MinPartSize})
	data := make([]byte, 13<<20+12345)
	rand.Read(data)
	d := digest.FromBytes(data)
	id, state := chunked(t, b, data, 4<<20)
	loc, err := b.Commit(context.Background(), id, state, d)
	if err != nil || loc != "" {
		t.Fatalf("Commit = %q, %v; want the blob in place", loc, err)
	}
	ctx, reqs := store.WithRequests(context.Background())
	url, err := b.URL(ctx, d, "")
	if err != nil {
		t.Fatal(err)
	}
	if n := reqs.Total(""); n != 0 {
		t.Errorf("presigning made %d requests: %v", n, reqs.Counts())
	}
	if got := get(t, url); !bytes.Equal(got, data) {
		t.Fatalf("presigned GET: %d bytes, equal %v", len(got), bytes.Equal(got, data))
	}
}

// directAssembled makes a direct upload of data in parts of
// MinPartSize (b's DirectPartSize), each sent to its presigned URL, and
// assembles it: the upload that CommitDirect moves into place, the one
// Commit whose blob may be left at its assembled location.
func directAssembled(t *testing.T, b *awsstore.Blobs, data []byte) (string, []byte) {
	t.Helper()
	ctx := context.Background()
	id := store.NewUploadID()
	state, _, err := b.StartDirect(ctx, id, int64(len(data)), "")
	if err != nil {
		t.Fatal(err)
	}
	for n, off := int32(1), 0; off < len(data); n, off = n+1, off+awsstore.MinPartSize {
		u, err := b.PartURL(ctx, id, state, n, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if status := awstest.PutURL(t, u.URL, u.Header, data[off:min(off+awsstore.MinPartSize, len(data))]); status != http.StatusOK {
			t.Fatalf("PUT part %d: %d", n, status)
		}
	}
	state, size, err := b.Assemble(ctx, id, state)
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Assemble = %d, %v", size, err)
	}
	return id, state
}

// A chunked upload's Commit puts the blob in place. Staged parts are
// assembled at the blob's own key: in place even with no time to copy
// and nothing running after it (Lambda). Parts in the multipart upload:
// within the copy budget the blob is in place when Commit returns, in a
// fixed number of requests whatever the number of parts; with no time to
// copy, the blob is readable at once at the location Commit returns, and
// garbage collection's Settle puts it in place. Nothing is left behind.
func TestChunkedCommit(t *testing.T) {
	for _, c := range []struct {
		name    string
		opts    awsstore.BlobsOptions
		inPlace bool
	}{
		{"staged parts, no time to copy", awsstore.BlobsOptions{CopyBudget: 0, NoBackgroundCopy: true, PartSize: awsstore.MinPartSize}, true},
		{"parts in the multipart upload, time to copy", awsstore.BlobsOptions{CopyBudget: time.Minute, PartSize: awsstore.MinPartSize, PartsInMultipart: true}, true},
		{"parts in the multipart upload, no time to copy", awsstore.BlobsOptions{CopyBudget: 0, NoBackgroundCopy: true, PartSize: awsstore.MinPartSize, PartsInMultipart: true}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, client, bucket := newBlobs(t, c.opts)
			data := make([]byte, 20<<20+77) // in 3 MiB chunks: 4 parts of 5 MiB and a tail of one chunk
			rand.Read(data)
			d := digest.FromBytes(data)
			id, state := chunked(t, b, data, 3<<20)
			ctx, reqs := store.WithRequests(context.Background())
			loc, err := b.Commit(ctx, id, state, d)
			b.Wait()
			if err != nil {
				t.Fatalf("Commit: %v", err)
			}
			if c.inPlace != (loc == "") {
				t.Fatalf("Commit = %q; want the blob in place: %v", loc, c.inPlace)
			}
			url, err := b.URL(context.Background(), d, loc)
			if err != nil {
				t.Fatal(err)
			}
			if got := get(t, url); !bytes.Equal(got, data) {
				t.Fatal("the blob at its location differs")
			}
			if c.inPlace {
				// 4 parts and a tail. Staged: ListObjectsV2, a multipart
				// upload at the blob's key of an UploadPartCopy a part and
				// the tail, one DeleteObjects. In the multipart upload:
				// ListParts, the tail's UploadPartCopy,
				// CompleteMultipartUpload, CopyObject, ListObjectsV2 and
				// one DeleteObjects.
				want := map[string]int{"s3.ListObjectsV2": 1, "s3.CreateMultipartUpload": 1, "s3.UploadPartCopy": 5,
					"s3.CompleteMultipartUpload": 1, "s3.DeleteObjects": 1}
				if c.opts.PartsInMultipart {
					want = map[string]int{"s3.ListParts": 1, "s3.UploadPartCopy": 1, "s3.CompleteMultipartUpload": 1,
						"s3.CopyObject": 1, "s3.ListObjectsV2": 1, "s3.DeleteObjects": 1}
				}
				if got := reqs.Counts(); !maps.Equal(got, want) {
					t.Errorf("Commit made %v, want %v", got, want)
				}
			} else {
				if _, err := b.Settle(context.Background(), d, loc); err != nil {
					t.Fatalf("Settle: %v", err)
				}
				url, _ := b.URL(context.Background(), d, "")
				if got := get(t, url); !bytes.Equal(got, data) {
					t.Fatal("the settled blob under blobs/ differs")
				}
				return
			}
			for _, prefix := range []string{"assembled/", "uploads/" + id + "/"} {
				out, err := client.ListObjectsV2(context.Background(), &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)})
				if err != nil {
					t.Fatal(err)
				}
				if len(out.Contents) > 0 {
					t.Errorf("Commit left %d objects under %s", len(out.Contents), prefix)
				}
			}
			out, err := client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket})
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Uploads) > 0 {
				t.Errorf("Commit left %d multipart uploads", len(out.Uploads))
			}
		})
	}
}

// With no time to copy, CommitDirect leaves the assembled upload where it
// is, readable at once through the location it returns, and the copy
// lands under blobs/ in the background.
func TestCommitCopiesInBackground(t *testing.T) {
	b, client, bucket := newBlobs(t, awsstore.BlobsOptions{CopyBudget: 0, DirectPartSize: awsstore.MinPartSize})
	data := make([]byte, 11<<20)
	rand.Read(data)
	d := digest.FromBytes(data)
	id, state := directAssembled(t, b, data)
	loc, err := b.CommitDirect(context.Background(), id, state, d)
	if err != nil {
		t.Fatal(err)
	}
	if loc == "" {
		t.Fatal("CommitDirect with a zero copy budget put the blob in place: want a location")
	}
	url, err := b.URL(context.Background(), d, loc)
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, url); !bytes.Equal(got, data) {
		t.Fatal("the blob's bytes at its location differ")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := client.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("blobs/sha256/" + d.Encoded())})
		if err == nil {
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, data) {
				t.Fatal("the copy under blobs/ differs")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the blob is not under blobs/ after 30 s: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A large monolithic Put goes up as a multipart upload, completed only
// when the digest matches.
func TestPutLarge(t *testing.T) {
	b, client, bucket := newBlobs(t, awsstore.BlobsOptions{PartSize: awsstore.MinPartSize})
	data := make([]byte, 12<<20+1)
	rand.Read(data)
	ctx := context.Background()
	wrong := digest.FromString("something else")
	if _, err := b.Put(ctx, wrong, bytes.NewReader(data)); err == nil {
		t.Fatal("Put under the wrong digest: no error")
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String("blobs/sha256/" + wrong.Encoded())}); err == nil {
		t.Fatal("Put under the wrong digest left an object")
	}
	d := digest.FromBytes(data)
	n, err := b.Put(ctx, d, bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("Put = %d, %v", n, err)
	}
	url, _ := b.URL(ctx, d, "")
	if got := get(t, url); !bytes.Equal(got, data) {
		t.Fatal("large blob differs")
	}
}

// Chunks written on one state (racing PATCHes at one offset, or a state
// replayed) with different bytes: whichever state is committed, the blob
// is exactly its bytes, or the Commit fails; never another state's bytes.
// Staged parts never touch each other: every fork's Commit succeeds.
// Parts in the multipart upload: before the upload's first part, each fork
// makes a multipart upload of its own and every fork's Commit succeeds;
// after it, the forks send their part into one multipart upload, each at
// a number drawn from the part's slot: here forks 0 and 1 send part 2
// (fork 2 only adds to the tail), so fork 1, written last, always
// commits, and fork 0 commits unless fork 1 drew its number (a chance in
// 10), when its Commit answers store.ErrConflict.
func TestForkedStatesCommitTheirOwnBytes(t *testing.T) {
	ctx := context.Background()
	staged, _, _ := newBlobs(t, awsstore.BlobsOptions{CopyBudget: time.Minute, PartSize: awsstore.MinPartSize})
	inMPU, _, _ := newBlobs(t, awsstore.BlobsOptions{CopyBudget: time.Minute, PartSize: awsstore.MinPartSize, PartsInMultipart: true})
	for _, c := range []struct {
		name       string
		b          *awsstore.Blobs
		base, fork int // sizes
		rounds     int
		mayFail    bool // fork 0's Commit may fail
	}{
		{"staged, before the first part", staged, 3 << 20, 3 << 20, 1, false},
		{"staged, after the first part", staged, 6 << 20, 5 << 20, 1, false},
		{"in the multipart upload, before the first part", inMPU, 3 << 20, 3 << 20, 1, false},
		{"in the multipart upload, after the first part", inMPU, 6 << 20, 5 << 20, 6, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := c.b
			base := make([]byte, c.base)
			rand.Read(base)
			conflicts := 0
			for range c.rounds {
				forks := [][]byte{make([]byte, c.fork), make([]byte, c.fork), make([]byte, 1<<20)}
				for _, f := range forks {
					rand.Read(f)
				}
				for commit := range forks {
					id, state := chunked(t, b, base, len(base))
					states := make([][]byte, len(forks))
					for i, f := range forks {
						st, n, err := b.WriteChunk(ctx, id, state, int64(len(base)), bytes.NewReader(f))
						if err != nil || n != int64(len(f)) {
							t.Fatalf("fork %d: WriteChunk = %d, %v", i, n, err)
						}
						states[i] = st
					}
					data := append(bytes.Clone(base), forks[commit]...)
					d := digest.FromBytes(data)
					loc, err := b.Commit(ctx, id, states[commit], d)
					if err != nil {
						if !errors.Is(err, store.ErrConflict) || commit != 0 || !c.mayFail {
							t.Fatalf("fork %d: Commit: %v", commit, err)
						}
						conflicts++
						continue
					}
					url, err := b.URL(ctx, d, loc)
					if err != nil {
						t.Fatal(err)
					}
					if got := get(t, url); !bytes.Equal(got, data) {
						t.Errorf("fork %d: the blob's %d bytes are not the fork's %d", commit, len(got), len(data))
					}
				}
			}
			// Fork 0 meets fork 1's number once in 10 rounds; in every
			// round: a chance of one in a million.
			if c.mayFail && conflicts == c.rounds {
				t.Errorf("fork 0's commit failed in all %d rounds: the forks' part numbers do not differ", conflicts)
			}
		})
	}
}

// Tiny chunks do not pile up: the tail holds at most 8 staged chunks (a
// chunk past them is staged with them as one object), so a finish of 100
// 1-byte chunks reads at most 8 objects.
func TestTinyChunksAreBounded(t *testing.T) {
	b, _, _ := newBlobs(t, awsstore.BlobsOptions{CopyBudget: time.Minute})
	data := make([]byte, 100)
	rand.Read(data)
	id, state := chunked(t, b, data, 1)
	ctx, reqs := store.WithRequests(context.Background())
	d := digest.FromBytes(data)
	if _, err := b.Commit(ctx, id, state, d); err != nil {
		t.Fatal(err)
	}
	if n := reqs.Counts()["s3.GetObject"]; n > 8 {
		t.Errorf("the finish of 100 1-byte chunks read %d staged objects, want at most 8 (%v)", n, reqs.Counts())
	}
	url, err := b.URL(context.Background(), d, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, url); !bytes.Equal(got, data) {
		t.Fatal("the blob of 100 1-byte chunks differs")
	}
}

// The copy of a finished direct upload into place reports its outcome:
// in time within the budget; past it, in the background, or left for gc
// where nothing may run after the answer (Lambda).
func TestCommitCopyOutcome(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts awsstore.BlobsOptions
		want string
	}{
		{"within the budget", awsstore.BlobsOptions{CopyBudget: time.Minute}, metrics.CopyInTime},
		{"past the budget", awsstore.BlobsOptions{CopyBudget: 0}, metrics.CopyBackground},
		{"past the budget on Lambda", awsstore.BlobsOptions{CopyBudget: 0, NoBackgroundCopy: true}, metrics.CopyLeftForGC},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := metrics.NewPrometheus()
			tt.opts.DirectPartSize, tt.opts.Metrics = awsstore.MinPartSize, p
			b, _, _ := newBlobs(t, tt.opts)
			data := make([]byte, 11<<20)
			rand.Read(data)
			id, state := directAssembled(t, b, data)
			if _, err := b.CommitDirect(context.Background(), id, state, digest.FromBytes(data)); err != nil {
				t.Fatal(err)
			}
			b.Wait()
			var out strings.Builder
			p.WriteTo(&out)
			var got []string
			for _, l := range strings.Split(out.String(), "\n") {
				if strings.HasPrefix(l, "pier_upload_copies_total{") {
					got = append(got, l)
				}
			}
			if want := `pier_upload_copies_total{outcome="` + tt.want + `"} 1`; len(got) != 1 || got[0] != want {
				t.Errorf("copies counted %q, want %q", got, want)
			}
		})
	}
}
