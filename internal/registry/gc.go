package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"

	"github.com/pier-registry/pier/internal/store"
)

// gcAware is the registry's metadata store when the store has garbage
// collection marks (Options.GC): a link or manifest record refused
// because a collection deleted the blob (store.ErrBlobDeleted) is made
// again when the bytes are there now (put again, for a manifest's body),
// which must be bytes written after the deletion.
type gcAware struct {
	store.Metadata
	gc    store.GCMetadata
	blobs store.Blobs
}

// LinkBlob links blob d, reviving it when a collection deleted it and its
// bytes are there again.
func (m gcAware) LinkBlob(ctx context.Context, repo string, d digest.Digest, link store.BlobLink) error {
	err := m.Metadata.LinkBlob(ctx, repo, d, link)
	if !errors.Is(err, store.ErrBlobDeleted) || link.Location != "" {
		return collected(d, err)
	}
	if _, serr := m.blobs.Stat(ctx, d); serr != nil {
		return collected(d, err)
	}
	// A failed revive (the blob is being deleted again) fails the link.
	_ = m.gc.Revive(ctx, d)
	return collected(d, m.Metadata.LinkBlob(ctx, repo, d, link))
}

// collected turns store.ErrBlobDeleted into the client's error: the push
// lost a race with garbage collection and is to be made again.
func collected(d digest.Digest, err error) error {
	if errors.Is(err, store.ErrBlobDeleted) {
		return fmt.Errorf("%w: %w", oci.Errorf(oci.CodeBlobUploadInvalid,
			"blob %s was being deleted by garbage collection as it was pushed: push it again", d).WithStatus(http.StatusConflict), err)
	}
	return err
}

// PutManifest records manifest man, putting its body again and reviving it
// when a collection deleted it.
func (m gcAware) PutManifest(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	return m.reviving(ctx, man, func() error { return m.Metadata.PutManifest(ctx, repo, man, tags) })
}

// reviving runs put, a write of manifest man's record, and when a
// collection deleted its body, puts the body again, revives it and runs
// put again.
func (m gcAware) reviving(ctx context.Context, man store.Manifest, put func() error) error {
	err := put()
	if !errors.Is(err, store.ErrBlobDeleted) || man.Body == nil {
		return collected(man.Digest, err)
	}
	if _, perr := m.blobs.Put(ctx, man.Digest, bytes.NewReader(man.Body)); perr != nil {
		return fmt.Errorf("%w (put again: %w)", err, perr)
	}
	_ = m.gc.Revive(ctx, man.Digest)
	return collected(man.Digest, put())
}
