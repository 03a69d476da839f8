package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Manifest returns the record and the bytes of manifest ref of repo.
func (r *Registry) Manifest(ctx context.Context, repo string, ref oci.Reference) (store.Manifest, []byte, error) {
	m, err := r.manifest(ctx, repo, ref)
	if err != nil {
		return store.Manifest{}, nil, err
	}
	if m.Body != nil {
		return m, m.Body, nil
	}
	f, err := r.blobs.Open(ctx, m.Digest)
	if err != nil {
		return store.Manifest{}, nil, fmt.Errorf("open manifest %s: %w", m.Digest, err)
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, m.Size+1))
	if err != nil {
		return store.Manifest{}, nil, fmt.Errorf("read manifest %s: %w", m.Digest, err)
	}
	if int64(len(body)) != m.Size {
		return store.Manifest{}, nil, fmt.Errorf("read manifest %s: %d bytes, want %d", m.Digest, len(body), m.Size)
	}
	return m, body, nil
}

// StatManifest returns the record of manifest ref of repo, without its
// bytes when they are not inline.
func (r *Registry) StatManifest(ctx context.Context, repo string, ref oci.Reference) (store.Manifest, error) {
	return r.manifest(ctx, repo, ref)
}

func (r *Registry) manifest(ctx context.Context, repo string, ref oci.Reference) (store.Manifest, error) {
	if err := checkName(repo); err != nil {
		return store.Manifest{}, err
	}
	var (
		m   store.Manifest
		err error
	)
	if ref.Tag != "" {
		m, err = r.meta.Tag(ctx, repo, ref.Tag)
	} else {
		m, err = r.meta.Manifest(ctx, repo, ref.Digest)
	}
	if err != nil {
		return store.Manifest{}, notFound(err, oci.CodeManifestUnknown, "manifest %s not found in %s", ref, repo)
	}
	return m, nil
}

// PutResult is what a manifest push made.
type PutResult struct {
	// Digest is the manifest's digest.
	Digest digest.Digest
	// Subject is the digest of the manifest's subject, or "".
	Subject digest.Digest
	// Tags are the tags now naming the manifest.
	Tags []string
	// Warnings are for the client (Warning headers).
	Warnings []string
}

// MaxTagsPerPush is the largest number of tag parameters of one manifest
// push (the spec asks for at least 10).
const MaxTagsPerPush = 100

// PutManifest stores body, pushed with Content-Type contentType, as
// manifest ref of repo, and points ref (when it is a tag) and tags at it.
func (r *Registry) PutManifest(ctx context.Context, repo string, ref oci.Reference, contentType string, body []byte, tags []string) (PutResult, error) {
	if err := checkName(repo); err != nil {
		return PutResult{}, err
	}
	if len(body) > oci.MaxManifestSize {
		return PutResult{}, ManifestTooLarge()
	}
	if len(tags) > MaxTagsPerPush {
		return PutResult{}, oci.Errorf(oci.CodeManifestInvalid, "%d tag parameters: at most %d in one push", len(tags), MaxTagsPerPush).
			WithStatus(http.StatusRequestURITooLong)
	}
	for _, t := range tags {
		if !oci.ValidTag(t) {
			return PutResult{}, oci.Errorf(oci.CodeManifestInvalid, "invalid tag %q", t)
		}
	}
	if ref.Tag != "" {
		tags = append([]string{ref.Tag}, tags...)
	}

	d := digest.Canonical.FromBytes(body)
	if ref.Digest != "" {
		d = ref.Digest.Algorithm().FromBytes(body)
		if d != ref.Digest {
			return PutResult{}, oci.Errorf(oci.CodeDigestInvalid, "manifest digest is %s, not %s", d, ref.Digest)
		}
	}
	m, err := oci.ParseManifest(contentType, body)
	if err != nil {
		return PutResult{}, err
	}

	res := PutResult{Digest: d, Tags: tags}
	fixed, err := r.checkTagsPush(ctx, repo, d, tags)
	if err != nil {
		return PutResult{}, err
	}
	if err := r.checkReferences(ctx, repo, m, &res); err != nil {
		return PutResult{}, err
	}

	// The bytes first, then the records that point at them.
	if _, err := r.blobs.Put(ctx, d, bytes.NewReader(body)); err != nil {
		return PutResult{}, fmt.Errorf("store manifest %s: %w", d, err)
	}
	rec := store.Manifest{
		Digest:       d,
		MediaType:    m.MediaType,
		Size:         int64(len(body)),
		ArtifactType: m.ArtifactType,
		Annotations:  m.Annotations,
		Body:         body,
	}
	if m.Subject != nil {
		rec.Subject = m.Subject.Digest
		res.Subject = m.Subject.Digest
	}
	if err := r.putManifest(ctx, repo, rec, tags, fixed); err != nil {
		var oe *oci.Error
		if errors.As(err, &oe) {
			return PutResult{}, err
		}
		return PutResult{}, fmt.Errorf("record manifest %s: %w", d, err)
	}
	return res, nil
}

// ManifestTooLarge is the error for a manifest over oci.MaxManifestSize.
func ManifestTooLarge() *oci.Error {
	return oci.Errorf(oci.CodeManifestInvalid, "manifest is larger than the %d bytes (4 MiB) a registry must accept", oci.MaxManifestSize).
		WithStatus(http.StatusRequestEntityTooLarge)
}

// checkReferences checks that what m points to is in repo: the config and
// distributable layers of an image (unless AllowSparse), each blob there
// of the size m gives, and adds warnings for what is accepted without
// being there.
func (r *Registry) checkReferences(ctx context.Context, repo string, m *oci.Manifest, res *PutResult) error {
	blobs, manifests, skipped := m.References()
	// One look-up for every blob named, the non-distributable ones too.
	if all := append(digests(blobs), digests(skipped)...); len(all) > 0 {
		sizes, err := r.meta.BlobSizes(ctx, repo, all)
		if err != nil {
			return fmt.Errorf("check manifest blobs: %w", err)
		}
		absent := make(map[digest.Digest]bool, len(all))
		for _, b := range append(slices.Clone(blobs), skipped...) {
			size, ok := sizes[b.Digest]
			if !ok {
				absent[b.Digest] = true
			} else if size != b.Size {
				return oci.Errorf(oci.CodeManifestInvalid, "blob %s is %d bytes in repository %s, but the manifest gives its size as %d", b.Digest, size, repo, b.Size).
					WithDetail(map[string]any{"digest": b.Digest, "size": size, "manifestSize": b.Size})
			}
		}
		var required []digest.Digest
		for _, b := range blobs {
			if absent[b.Digest] {
				required = append(required, b.Digest)
			}
		}
		if len(required) > 0 {
			if !r.opts.AllowSparse {
				return oci.Errorf(oci.CodeManifestBlobUnknown, "blob %s is not in repository %s: push it before the manifest", required[0], repo).
					WithDetail(map[string]any{"missing": required})
			}
			res.Warnings = append(res.Warnings, fmt.Sprintf("%d blob(s) of this image are not in the repository: it cannot be pulled whole", len(required)))
		}
		for _, l := range skipped {
			if absent[l.Digest] {
				res.Warnings = append(res.Warnings, fmt.Sprintf("layer %s is non-distributable (%s): accepted without its blob, which this registry does not serve", l.Digest, l.MediaType))
			}
		}
	}
	if len(manifests) > 0 {
		missing, err := r.meta.MissingManifests(ctx, repo, digests(manifests))
		if err != nil {
			return fmt.Errorf("check index manifests: %w", err)
		}
		if len(missing) > 0 {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%d manifest(s) of this index are not in the repository", len(missing)))
		}
	}
	return nil
}

func digests(ds []v1.Descriptor) []digest.Digest {
	out := make([]digest.Digest, len(ds))
	for i, d := range ds {
		out[i] = d.Digest
	}
	return out
}

// DeleteManifest deletes ref of repo: a tag alone, or a manifest with the
// tags that name it.
func (r *Registry) DeleteManifest(ctx context.Context, repo string, ref oci.Reference) error {
	if err := checkName(repo); err != nil {
		return err
	}
	if ref.Tag != "" {
		if err := r.checkTagDelete(ctx, repo, ref.Tag); err != nil {
			return err
		}
		if err := r.meta.DeleteTag(ctx, repo, ref.Tag); err != nil {
			return notFound(err, oci.CodeManifestUnknown, "tag %s not found in %s", ref.Tag, repo)
		}
		return nil
	}
	if err := r.deleteManifest(ctx, repo, ref.Digest); err != nil {
		var oe *oci.Error
		if errors.As(err, &oe) {
			return err
		}
		return notFound(err, oci.CodeManifestUnknown, "manifest %s not found in %s", ref.Digest, repo)
	}
	return nil
}
