package registry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// StatBlob returns the size of blob d of repo.
func (r *Registry) StatBlob(ctx context.Context, repo string, d digest.Digest) (int64, error) {
	link, err := r.blobLink(ctx, repo, d)
	return link.Size, err
}

func (r *Registry) blobLink(ctx context.Context, repo string, d digest.Digest) (store.BlobLink, error) {
	if err := checkName(repo); err != nil {
		return store.BlobLink{}, err
	}
	link, err := r.meta.Blob(ctx, repo, d)
	if err != nil {
		return store.BlobLink{}, notFound(err, oci.CodeBlobUnknown, "blob %s not found in %s", d, repo)
	}
	return link, nil
}

// BlobContent is how a client gets a blob's bytes: from URL, when the
// blob store serves them itself (a presigned S3 URL), or else from Body.
type BlobContent struct {
	URL  string
	Body io.ReadSeekCloser
	Size int64
}

// OpenBlob returns where the bytes of blob d of repo are.
func (r *Registry) OpenBlob(ctx context.Context, repo string, d digest.Digest) (BlobContent, error) {
	link, err := r.blobLink(ctx, repo, d)
	if err != nil {
		return BlobContent{}, err
	}
	if u, ok := r.blobs.(store.URLer); ok {
		url, err := u.URL(ctx, d, link.Location)
		if err != nil {
			return BlobContent{}, fmt.Errorf("blob %s URL: %w", d, err)
		}
		return BlobContent{URL: url, Size: link.Size}, nil
	}
	f, err := r.blobs.Open(ctx, d)
	if err != nil {
		return BlobContent{}, notFound(err, oci.CodeBlobUnknown, "blob %s not found in %s", d, repo)
	}
	return BlobContent{Body: f, Size: link.Size}, nil
}

// DeleteBlob removes repo's link to blob d. The bytes stay while other
// repositories link them.
func (r *Registry) DeleteBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := checkName(repo); err != nil {
		return err
	}
	if err := r.meta.UnlinkBlob(ctx, repo, d); err != nil {
		return notFound(err, oci.CodeBlobUnknown, "blob %s not found in %s", d, repo)
	}
	return nil
}

// PutBlob stores the bytes of body as blob d of repo (a monolithic push).
func (r *Registry) PutBlob(ctx context.Context, repo string, d digest.Digest, body io.Reader) error {
	if err := checkName(repo); err != nil {
		return err
	}
	body, tooLong := r.capChunk(body)
	n, err := r.blobs.Put(ctx, d, body)
	switch {
	case *tooLong:
		return r.chunkTooLarge()
	case errors.Is(err, store.ErrDigestMismatch):
		return oci.Errorf(oci.CodeDigestInvalid, "the bytes pushed do not match digest %s", d)
	case err != nil:
		return fmt.Errorf("store blob %s: %w", d, err)
	}
	if err := r.meta.LinkBlob(ctx, repo, d, store.BlobLink{Size: n}); err != nil {
		return fmt.Errorf("link blob %s: %w", d, err)
	}
	return nil
}

// Mount links blob d into repo from repository from, or, when from is "",
// from wherever the registry holds it. It reports whether the blob was
// mounted; when it was not, the client uploads it.
func (r *Registry) Mount(ctx context.Context, repo string, d digest.Digest, from string) (bool, error) {
	if err := checkName(repo); err != nil {
		return false, err
	}
	var (
		link store.BlobLink
		err  error
	)
	if from != "" {
		if !oci.ValidName(from) {
			return false, nil
		}
		link, err = r.meta.Blob(ctx, from, d)
	} else {
		link.Size, err = r.blobs.Stat(ctx, d)
	}
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("mount blob %s: %w", d, err)
	}
	err = r.meta.LinkBlob(ctx, repo, d, link)
	if errors.Is(err, store.ErrBlobDeleted) {
		return false, nil // garbage collection took it: the client uploads it
	}
	if err != nil {
		return false, fmt.Errorf("link blob %s: %w", d, err)
	}
	return true, nil
}
