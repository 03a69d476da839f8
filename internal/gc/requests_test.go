package gc_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/store"
)

// TestCollectRequests counts the requests of a run (two passes, Wait) over
// linked and unlinked blobs on the aws backend: what docs/gc.md prices.
// Each deleted blob costs a HeadObject, a DeleteObject and three PutItem
// (mark, claim, tombstone); the rest is per page of the listings.
func TestCollectRequests(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		if b.name != "aws" {
			t.Skip("counts S3 and DynamoDB requests")
		}
		const linked, orphans = 60, 20
		for i := range linked + orphans {
			data := []byte(fmt.Sprintf("blob %d", i))
			d := digest.FromBytes(data)
			if _, err := b.blobs.Put(ctx, d, bytes.NewReader(data)); err != nil {
				t.Fatal(err)
			}
			if i < linked {
				if err := b.meta.LinkBlob(ctx, fmt.Sprintf("repo%d", i%6), d, store.BlobLink{Size: int64(len(data))}); err != nil {
					t.Fatal(err)
				}
			}
		}
		opts := testOptions()
		opts.PageSize = 1000
		rctx, reqs := store.WithRequests(ctx)
		rep, err := gc.New(b.blobs, b.meta, opts).Run(rctx)
		if err != nil || len(rep.Deleted) != orphans {
			t.Fatalf("deleted %d, %v; want %d", len(rep.Deleted), err, orphans)
		}
		got := reqs.Counts()
		t.Logf("a run over %d blobs deleting %d: %v", linked+orphans, orphans, got)
		for op, want := range map[string]int{
			"s3.HeadObject":    orphans,
			"s3.DeleteObject":  orphans,
			"dynamodb.PutItem": 3 * orphans,
			"dynamodb.Scan":    2,     // one a pass: the table is under 1 MB
			"s3.ListObjectsV2": 2 * 3, // blobs/, uploads/, assembled/ a pass
			"dynamodb.GetItem": 0,
			"dynamodb.Query":   1, // the policies, once a run
		} {
			if got[op] != want {
				t.Errorf("%s: %d requests, want %d", op, got[op], want)
			}
		}
	})
}
