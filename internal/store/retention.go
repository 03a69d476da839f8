package store

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrTagMoved: a write that may not move a tag found it naming another
// manifest (an immutable tag). Nothing was written.
var ErrTagMoved = errors.New("tag names another manifest")

// RecordTag is a tag (Record.Tag names Record.Digest, the manifest), as
// ScanRecords returns it besides the kinds of gc.go.
const RecordTag RecordKind = RecordSiteIndex + 1

// Retention is what the retention rules (store.Policy) and the immutable
// tags need of a metadata store besides Metadata: writes whose condition
// is checked in the write itself, so that a push racing them wins.
//
// The times they compare are those a store records (Record.Time): when a
// tag or a manifest was last pushed, when a link was last written. A
// record written before the store kept times has none (zero).
type Retention interface {
	// DeleteTagIf removes tag from repo if it names manifest d; it
	// returns ErrConflict when it names another, ErrNotFound when it does
	// not exist.
	DeleteTagIf(ctx context.Context, repo, tag string, d digest.Digest) error
	// DeleteUntaggedManifest removes manifest d from repo, with its
	// referrer entry, if no tag names it; it returns ErrConflict when a
	// tag names it (one pushed meanwhile too), ErrNotFound when repo does
	// not hold it.
	DeleteUntaggedManifest(ctx context.Context, repo string, d digest.Digest) error
	// UnlinkBlobIf removes repo's link to blob d if it was last written at
	// linked (zero: a link without a time); it returns ErrConflict when
	// it was written again since, ErrNotFound when there is no link.
	UnlinkBlobIf(ctx context.Context, repo string, d digest.Digest, linked time.Time) error
	// PutManifestFixedTags is PutManifest, but writes nothing and returns
	// ErrTagMoved when one of tags names another manifest: the check is
	// part of the write, so of two pushes racing to create one tag for
	// different manifests exactly one succeeds.
	PutManifestFixedTags(ctx context.Context, repo string, m Manifest, tags []string) error
}
