package store

import (
	"context"

	"github.com/opencontainers/go-digest"
)

// SiteIndexes is implemented by metadata stores that keep, for each
// manifest whose site was unpacked (package site), the digest of the
// site's index, a blob. The records are keyed by manifest digest alone:
// an index depends only on the manifest's content.
type SiteIndexes interface {
	// SiteIndex returns the index digest recorded for manifest d, or
	// ErrNotFound.
	SiteIndex(ctx context.Context, d digest.Digest) (digest.Digest, error)
	// PutSiteIndex records index as the index of manifest d, replacing
	// any record of d.
	PutSiteIndex(ctx context.Context, d, index digest.Digest) error
}
