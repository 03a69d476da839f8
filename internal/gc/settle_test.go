package gc_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

// TestCollectSettles: with NoBackgroundCopy (Lambda), a large direct
// upload's Commit leaves the blob at its assembled location and returns
// at once, with nothing running after it; gc copies it into place, points
// the link there, and a later run deletes the assembled copy. (A chunked
// upload's Commit assembles the blob in place: nothing to settle.)
func TestCollectSettles(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		if b.name != "aws" {
			t.Skip("the local backend's Commit always puts the bytes in place")
		}
		blobs := b.awsBlobs(awsstore.BlobsOptions{NoBackgroundCopy: true, DirectPartSize: 2 * awsstore.MinPartSize})
		data := bytes.Repeat([]byte("0123456789abcdef"), (awsstore.MinPartSize+1<<20)/16)
		d := digest.FromBytes(data)
		id := randomHex(16)
		state, _, err := blobs.StartDirect(ctx, id, int64(len(data)), "")
		if err != nil {
			t.Fatal(err)
		}
		u, err := blobs.PartURL(ctx, id, state, 1, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if status := awstest.PutURL(t, u.URL, u.Header, data); status != http.StatusOK {
			t.Fatalf("PUT part: %d", status)
		}
		if state, _, err = blobs.Assemble(ctx, id, state); err != nil {
			t.Fatal(err)
		}
		loc, err := blobs.CommitDirect(ctx, id, state, d)
		blobs.Wait() // nothing goes on
		if err != nil || !strings.HasPrefix(loc, "assembled/") {
			t.Fatalf("Commit: location %q, %v; want the assembled location", loc, err)
		}
		if _, err := blobs.Stat(ctx, d); err == nil {
			t.Fatal("the blob is in place: the copy went on after Commit")
		}
		if err := b.meta.LinkBlob(ctx, "big", d, store.BlobLink{Size: int64(len(data)), Location: loc}); err != nil {
			t.Fatal(err)
		}
		opts := testOptions()
		rep, err := gc.New(b.blobs, b.meta, opts).Run(ctx)
		if err != nil || rep.Settled != 1 || len(rep.Deleted) != 0 {
			t.Fatalf("run: settled %d, deleted %v, %v; want 1 settled", rep.Settled, rep.Deleted, err)
		}
		if link, err := b.meta.Blob(ctx, "big", d); err != nil || link.Location != "" {
			t.Fatalf("link after settling: %+v, %v", link, err)
		}
		f, err := blobs.Open(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		got.ReadFrom(f)
		f.Close()
		if !bytes.Equal(got.Bytes(), data) {
			t.Fatalf("settled blob: %d bytes, want the %d uploaded", got.Len(), len(data))
		}
		rep, err = gc.New(b.blobs, b.meta, opts).Run(ctx)
		if err != nil || len(rep.Leftovers) != 1 || rep.Leftovers[0].Name != loc || len(rep.Deleted) != 0 {
			t.Fatalf("next run: leftovers %v, deleted %v, %v; want the assembled copy", rep.Leftovers, rep.Deleted, err)
		}
	})
}
