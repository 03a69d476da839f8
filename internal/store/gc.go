package store

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"
)

// ErrBlobDeleted: a link or manifest record was refused because garbage
// collection is deleting the blob's bytes, or deleted them after the
// caller may have seen them (see GCMetadata). The caller must not record
// anything that names the blob unless its bytes are there now: it may
// check that, Revive the blob and try again.
var ErrBlobDeleted = errors.New("blob deleted by garbage collection")

// MarkState is the state of a blob's garbage collection mark.
type MarkState string

// The states of a mark, in the order a collection moves through them.
const (
	// MarkPending: the blob was unreferenced when marked. A LinkBlob or
	// PutManifest of the blob removes the mark, in the same atomic write.
	MarkPending MarkState = "pending"
	// MarkDeleting: a collection claimed the blob and is deleting its
	// bytes; LinkBlob and PutManifest of the blob fail with ErrBlobDeleted.
	MarkDeleting MarkState = "deleting"
	// MarkDeleted: the bytes were deleted (a tombstone, kept for a while);
	// LinkBlob and PutManifest of the blob fail with ErrBlobDeleted until
	// Revive removes it.
	MarkDeleted MarkState = "deleted"
)

// BlobMark is a blob's garbage collection mark.
type BlobMark struct {
	Digest digest.Digest
	State  MarkState
	// Since is when the mark entered its state (to the second on the aws
	// backend).
	Since time.Time
}

// RecordKind says what a Record is.
type RecordKind int

// Kinds of records.
const (
	// RecordLink is a repository's blob link.
	RecordLink RecordKind = iota + 1
	// RecordManifest is a manifest of a repository.
	RecordManifest
	// RecordUpload is an upload session.
	RecordUpload
	// RecordMark is a garbage collection mark.
	RecordMark
	// RecordSiteIndex is a site index record (SiteIndexes): Digest is the
	// index's blob, which it keeps.
	RecordSiteIndex
)

// Record is one record that names a blob, as a scan of the metadata store
// returns it.
type Record struct {
	Kind RecordKind
	// Repository holds the link or manifest ("" for an upload).
	Repository string
	// Digest is the blob linked or the manifest's digest.
	Digest digest.Digest
	// Link is the link of a RecordLink.
	Link BlobLink
	// Manifest is the manifest of a RecordManifest (Body nil when the
	// store does not keep it inline).
	Manifest Manifest
	// Upload is the session of a RecordUpload, expired ones too.
	Upload Upload
	// Mark is the mark of a RecordMark (Digest is its blob).
	Mark BlobMark
	// Tag is the name of a RecordTag (Digest is the manifest it names).
	Tag string
	// Time is when a tag or manifest was last pushed, or a link last
	// written; zero for a record written before the store kept times.
	Time time.Time
}

// GCMetadata is what garbage collection needs of a metadata store besides
// Metadata. The marks make collection safe against writes racing it: a
// mark is made only for a blob nothing named, LinkBlob and PutManifest of
// a marked blob remove a pending mark in the write itself, and fail with
// ErrBlobDeleted once a collection has claimed it; so either the write
// comes first (the claim fails) or the claim does (the write fails).
type GCMetadata interface {
	// ScanRecords returns a page of about n records (links, manifests,
	// upload sessions, marks, site indexes) from cursor ("" for the first page), and
	// the cursor of the next page ("" after the last). Every record
	// written before the scan started and not removed is in some page.
	ScanRecords(ctx context.Context, cursor string, n int) ([]Record, string, error)
	// Mark records m (Since to the second) unless blob m.Digest has a
	// mark, in which case it returns ErrConflict; a MarkDeleted mark may
	// be replaced.
	Mark(ctx context.Context, m BlobMark) error
	// MoveMark replaces mark old with next (same digest), or returns
	// ErrConflict when the stored mark is not old any more.
	MoveMark(ctx context.Context, old, next BlobMark) error
	// Unmark removes mark old, or returns ErrConflict when the stored
	// mark is not old any more.
	Unmark(ctx context.Context, old BlobMark) error
	// Revive removes blob d's MarkDeleted mark: the caller saw the bytes
	// of d after the deletion. It returns ErrConflict when d's mark is in
	// another state, and nil when d has none.
	Revive(ctx context.Context, d digest.Digest) error
}

// StoredBlob is a blob as a listing of a blob store shows it.
type StoredBlob struct {
	Digest   digest.Digest
	Size     int64
	Modified time.Time
}

// Leftover is what an upload left in a blob store: its staged chunks, an
// assembled copy, an unfinished multipart upload, or a temporary file.
type Leftover struct {
	// Key names it for DeleteLeftover.
	Key string
	// Upload is the id of the upload it belongs to ("" for none).
	Upload   string
	Size     int64
	Modified time.Time
}

// GCBlobs is what garbage collection needs of a blob store besides Blobs.
type GCBlobs interface {
	// ListBlobs returns a page of up to n blobs after cursor ("" for the
	// first page), and the next cursor ("" after the last).
	ListBlobs(ctx context.Context, cursor string, n int) ([]StoredBlob, string, error)
	// Leftovers returns a page of up to n leftovers after cursor, and the
	// next cursor ("" after the last).
	Leftovers(ctx context.Context, cursor string, n int) ([]Leftover, string, error)
	// DeleteLeftover removes l. Removing a missing one is not an error.
	DeleteLeftover(ctx context.Context, l Leftover) error
	// Settle makes the bytes at location (a BlobLink.Location) blob d,
	// unless blob d exists, and reports their size. The location stays.
	Settle(ctx context.Context, d digest.Digest, location string) (int64, error)
}
