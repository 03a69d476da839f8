package gc_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/local/localtest"
)

var ctx = context.Background()

// backend is a pair of stores of one kind.
type backend struct {
	name  string
	blobs gc.Blobs
	meta  gc.Metadata
	// awsBlobs returns another store of the same bucket (aws only).
	awsBlobs func(awsstore.BlobsOptions) *awsstore.Blobs
}

// forEachBackend runs fn on fresh stores of each backend: local, and aws on
// the local servers (scripts/with-local-aws.sh).
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Run("local", func(t *testing.T) {
		_, blobs, meta := localtest.Open(t)
		fn(t, backend{name: "local", blobs: blobs, meta: meta})
	})
	t.Run("aws", func(t *testing.T) {
		awstest.Require(t)
		c, err := awsstore.NewClients(ctx, awsstore.Config{})
		if err != nil {
			t.Fatal(err)
		}
		name := randomHex(6)
		meta := awsstore.NewMetadata(c.DynamoDB, "pier-gc-"+name)
		if err := meta.CreateTable(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { meta.DeleteTable(context.Background()) })
		blobs := awsstore.NewBlobs(c.S3, "gc-"+name, awsstore.BlobsOptions{})
		if err := blobs.CreateBucket(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(blobs.Wait)
		other := func(opts awsstore.BlobsOptions) *awsstore.Blobs { return awsstore.NewBlobs(c.S3, "gc-"+name, opts) }
		fn(t, backend{name: "aws", blobs: blobs, meta: meta, awsBlobs: other})
	})
}

func randomHex(n int) string { return randid.Hex(n) }

// quiet is a logger that drops everything.
var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testOptions collect at once: no grace, marks settle at the next pass.
// (The race test keeps LeftoverGrace: a push's temporary files are
// leftovers too.)
func testOptions() gc.Options {
	return gc.Options{Grace: time.Nanosecond, LeftoverGrace: time.Nanosecond, Settle: time.Nanosecond, Wait: true, PageSize: 3, Log: quiet}
}

// image is a pushed image manifest.
type image struct {
	repo, tag string
	digest    digest.Digest
	body      []byte
	blobs     [][]byte // config, then layers
}

// pushImage pushes blobs (the first is the config) and an image manifest
// naming them to repo, tagged tag.
func pushImage(ctx context.Context, reg *registry.Registry, repo, tag string, blobs ...[]byte) (image, error) {
	im := image{repo: repo, tag: tag, blobs: blobs}
	var descs []v1.Descriptor
	for i, b := range blobs {
		d := digest.FromBytes(b)
		if err := reg.PutBlob(ctx, repo, d, bytes.NewReader(b)); err != nil {
			return im, err
		}
		mt := v1.MediaTypeImageLayer
		if i == 0 {
			mt = v1.MediaTypeImageConfig
		}
		descs = append(descs, v1.Descriptor{MediaType: mt, Digest: d, Size: int64(len(b))})
	}
	body, err := json.Marshal(v1.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest, Config: descs[0], Layers: descs[1:],
	})
	if err != nil {
		return im, err
	}
	res, err := reg.PutManifest(ctx, repo, oci.Reference{Tag: tag}, v1.MediaTypeImageManifest, body, nil)
	im.digest, im.body = res.Digest, body
	return im, err
}

// wantWhole fails t unless im pulls whole from reg: the manifest by its
// tag, and every blob it names, linked and with the bytes pushed.
func wantWhole(t *testing.T, reg *registry.Registry, blobs store.Blobs, im image) {
	t.Helper()
	_, body, err := reg.Manifest(ctx, im.repo, oci.Reference{Tag: im.tag})
	if err != nil || !bytes.Equal(body, im.body) {
		t.Fatalf("%s:%s: manifest %v", im.repo, im.tag, err)
	}
	for _, b := range im.blobs {
		d := digest.FromBytes(b)
		if _, err := reg.StatBlob(ctx, im.repo, d); err != nil {
			t.Fatalf("%s:%s: blob %s: %v", im.repo, im.tag, d, err)
		}
		f, err := blobs.Open(ctx, d)
		if err != nil {
			t.Fatalf("%s:%s: blob %s: %v", im.repo, im.tag, d, err)
		}
		got, err := io.ReadAll(f)
		f.Close()
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s:%s: blob %s: %d bytes read, %v", im.repo, im.tag, d, len(got), err)
		}
	}
}

// wantGone fails t unless blob d is gone from blobs.
func wantGone(t *testing.T, blobs store.Blobs, d digest.Digest) {
	t.Helper()
	if _, err := blobs.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("blob %s: %v, want it gone", d, err)
	}
}
