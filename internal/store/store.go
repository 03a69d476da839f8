// Package store defines the narrow interfaces behind which Pier keeps its
// data: Blobs, the content-addressed bytes of blobs and manifests;
// Metadata, the repository-scoped records (tags, manifests, blob links,
// referrers, upload sessions); Identities, the users and robot tokens that
// may log in; Policies, the repository policies; SiteIndexes, the indexes
// of unpacked sites; and GCMetadata and GCBlobs, what garbage collection
// needs besides. Two backends implement them all: local (files and one
// bbolt database, for `pier serve`) and awsstore (S3 and DynamoDB, for
// Lambda and `pier serve --backend=aws`); linkcache wraps a Metadata with
// a per-process cache. The contract every backend must pass is in
// storetest.
//
// Stores know nothing of HTTP or of the OCI rules: the registry package
// checks repository names, digests and manifests before it calls a store,
// and the admin commands of cmd/pier check identity names (auth.CheckName)
// before they put an identity.
package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/opencontainers/go-digest"
)

// Errors a store returns; callers test them with errors.Is.
var (
	// ErrNotFound: the blob, manifest, tag, link, repository or upload
	// asked for does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a conditional write lost to another writer (an upload
	// updated since it was read).
	ErrConflict = errors.New("conflict")
	// ErrDigestMismatch: the bytes given to Blobs.Put do not hash to the
	// digest they were put under. Nothing was stored.
	ErrDigestMismatch = errors.New("digest mismatch")
)

// Blobs holds content-addressed bytes, shared by all repositories: the
// bytes stored under a digest always hash to that digest.
//
// Uploads are staged through WriteChunk, Commit and Abort. A blob store
// keeps no upload bookkeeping of its own: what it needs to find an upload's
// staged bytes it returns as an opaque state, which the caller saves in the
// upload session (Metadata) with a conditional write, or carries signed in
// the upload's Location. A state stays small whatever the number of
// chunks, and what one state staged is never changed by a chunk written
// on another (a writer that lost the conditional write, or a replayed or
// forked state): committing a state gives exactly its bytes.
type Blobs interface {
	// Stat returns the size of blob d, or ErrNotFound.
	Stat(ctx context.Context, d digest.Digest) (int64, error)
	// Open returns blob d for reading, or ErrNotFound.
	Open(ctx context.Context, d digest.Digest) (io.ReadSeekCloser, error)
	// Put stores the bytes of r as blob d and returns their number. It
	// hashes what it reads and stores nothing, returning
	// ErrDigestMismatch, when the bytes do not hash to d. Putting a blob
	// that exists leaves it as it is.
	Put(ctx context.Context, d digest.Digest, r io.Reader) (int64, error)
	// Delete removes blob d. Deleting a missing blob is not an error.
	Delete(ctx context.Context, d digest.Digest) error

	// WriteChunk stages the bytes of r as the bytes of upload id from
	// offset on, after those recorded in state (the state of an upload
	// holding offset bytes; nil for a new upload). It returns the number
	// of bytes read and the state that records them. The staged bytes
	// belong to the upload only once the caller has saved the new state;
	// a chunk whose state is never saved is left for Commit or Abort to
	// remove. On error nothing becomes part of the upload.
	WriteChunk(ctx context.Context, id string, state []byte, offset int64, r io.Reader) ([]byte, int64, error)
	// Commit makes the bytes recorded in state the blob d, and removes the
	// upload's staging. The caller has checked that those bytes hash to d.
	// When blob d exists it is left as it is.
	//
	// It returns where the bytes are: "" for blob d itself, or, when a
	// backend could not move them there in time (a large S3 upload), a
	// backend-specific location holding the same bytes, which the caller
	// records in the blob's link (BlobLink.Location) and passes back to
	// URL. The backend then moves the bytes to blob d in the background.
	Commit(ctx context.Context, id string, state []byte, d digest.Digest) (location string, err error)
	// Abort removes everything staged for upload id.
	Abort(ctx context.Context, id string, state []byte) error
}

// URLer is implemented by blob stores whose clients fetch blobs directly
// from the storage (S3), not through the registry.
type URLer interface {
	// URL returns a short-lived URL that answers GET with the bytes of blob
	// d, kept at location (BlobLink.Location; "" for blob d itself).
	// Making it needs no request to the storage.
	URL(ctx context.Context, d digest.Digest, location string) (string, error)
}

// BlobLink is a repository's link to a blob.
type BlobLink struct {
	// Size is the blob's size in bytes.
	Size int64
	// Location is where the bytes are, when not at the blob's own place
	// (see Blobs.Commit); "" mostly.
	Location string
}

// Manifest is a manifest as a repository holds it.
type Manifest struct {
	Digest    digest.Digest
	MediaType string
	Size      int64
	// ArtifactType and Annotations are what a referrers listing shows.
	ArtifactType string
	Annotations  map[string]string
	// AnnotationsInBody is set by a metadata store that did not keep
	// Annotations because they were too large for its records: they are
	// then read from the manifest's body.
	AnnotationsInBody bool
	// Subject is the digest of the manifest this one refers to, or "".
	Subject digest.Digest
	// Body is the manifest's bytes when the metadata store keeps them
	// inline (small manifests); nil when they are only in Blobs.
	Body []byte
}

// Upload is an upload session.
type Upload struct {
	// ID is the session id: random, unguessable.
	ID string
	// Repository is the repository the upload was started in.
	Repository string
	// Offset is the number of bytes received.
	Offset int64
	// Hash is the marshalled state of the hashes of those bytes (for a
	// direct upload, the registry's record of its finish). Stores keep it
	// as it is.
	Hash []byte
	// State is the blob store's state of the upload (Blobs.WriteChunk).
	State []byte
	// Version counts the updates; UpdateUpload checks it.
	Version int64
	// Expires is when the session is abandoned.
	Expires time.Time
	// Owner is the identity that started the upload ("" without auth);
	// only it may continue the upload.
	Owner string
}

// SameUpload reports whether a and b are the same state of one session:
// the same version, offset, hash and blob-store state (whose staged keys
// are unique to the request that wrote them), repository and owner.
func SameUpload(a, b Upload) bool {
	return a.ID == b.ID && a.Version == b.Version && a.Offset == b.Offset &&
		a.Repository == b.Repository && a.Owner == b.Owner &&
		bytes.Equal(a.Hash, b.Hash) && bytes.Equal(a.State, b.State)
}

// Metadata holds the repository-scoped records of the registry. Every read
// sees every write that finished before it started.
type Metadata interface {
	// PutManifest records manifest m in repository repo and points tags
	// at it, in one atomic write. When m has a subject, it also records
	// m as a referrer of the subject. Putting a manifest again replaces
	// its record.
	PutManifest(ctx context.Context, repo string, m Manifest, tags []string) error
	// Manifest returns manifest d of repo, or ErrNotFound.
	Manifest(ctx context.Context, repo string, d digest.Digest) (Manifest, error)
	// Tag returns the manifest that tag names in repo, or ErrNotFound.
	Tag(ctx context.Context, repo, tag string) (Manifest, error)
	// DeleteManifest removes manifest d from repo, with the tags that name
	// it and its referrer entry; ErrNotFound when repo does not hold it.
	DeleteManifest(ctx context.Context, repo string, d digest.Digest) error
	// DeleteTag removes a tag (not the manifest it names), or ErrNotFound.
	DeleteTag(ctx context.Context, repo, tag string) error
	// Tags returns up to n tags of repo in byte order, those after last
	// when last is not "". It returns ErrNotFound when repo is unknown.
	Tags(ctx context.Context, repo, last string, n int) ([]string, error)
	// Referrers returns up to n manifests of repo whose subject is d, in
	// the order of ReferrerKey; only those of artifactType when it is not
	// "", and only those whose key is after after when it is not "".
	Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, after string, n int) ([]Manifest, error)

	// LinkBlob records that repo holds blob d, replacing any link repo
	// had to it.
	LinkBlob(ctx context.Context, repo string, d digest.Digest, link BlobLink) error
	// Blob returns repo's link to blob d, or ErrNotFound when repo does
	// not link it.
	Blob(ctx context.Context, repo string, d digest.Digest) (BlobLink, error)
	// UnlinkBlob removes repo's link to blob d, or returns ErrNotFound.
	UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error
	// BlobSizes returns the sizes (BlobLink.Size) of the blobs of ds that
	// repo links; a digest repo does not link is not in the map.
	BlobSizes(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest]int64, error)
	// MissingManifests returns those of ds that repo does not hold, in
	// order.
	MissingManifests(ctx context.Context, repo string, ds []digest.Digest) ([]digest.Digest, error)

	// Repositories returns up to n repository names in byte order, those
	// after last when last is not "". A repository exists from its first
	// blob link or manifest on.
	Repositories(ctx context.Context, last string, n int) ([]string, error)

	// CreateUpload records a new upload session, or returns ErrConflict
	// when a session of id u.ID exists; when that session is u already
	// (SameUpload: a retry of a create whose answer was lost), it returns
	// nil.
	CreateUpload(ctx context.Context, u Upload) error
	// Upload returns upload session id, or ErrNotFound when it does not
	// exist or has expired.
	Upload(ctx context.Context, id string) (Upload, error)
	// UpdateUpload replaces the session u.ID with u if the stored session
	// has version u.Version-1, and returns ErrConflict if it has not;
	// ErrNotFound if the session is gone. When the stored session is u
	// already (SameUpload: a retry of an update whose answer was lost
	// after the store applied it), it returns nil.
	UpdateUpload(ctx context.Context, u Upload) error
	// DeleteUpload removes upload session id. Removing a missing session
	// is not an error.
	DeleteUpload(ctx context.Context, id string) error
}

// MaxRecordAnnotations is the most bytes of annotations (keys and values,
// AnnotationsSize) that a metadata store keeps in a referrer record: a
// manifest may have 4 MiB of them, and a referrers listing reads its
// records in batches. Larger annotations are read from the manifest's
// body (Manifest.AnnotationsInBody).
const MaxRecordAnnotations = 64 << 10

// AnnotationsSize is the bytes of the keys and values of a.
func AnnotationsSize(a map[string]string) int {
	n := 0
	for k, v := range a {
		n += len(k) + len(v)
	}
	return n
}

// ReferrerKey is the sort key of a referrer entry: artifact type, then
// digest, so that a listing filtered by artifact type is the key prefix
// ReferrerPrefix(artifactType). The separator '|' cannot occur in a media
// type (RFC 6838), unlike '#'.
func ReferrerKey(artifactType string, d digest.Digest) string {
	return ReferrerPrefix(artifactType) + d.String()
}

// ReferrerPrefix is the prefix of the ReferrerKey of every referrer of
// artifactType.
func ReferrerPrefix(artifactType string) string {
	return artifactType + "|"
}

// ErrTooLarge: an upload would grow past what the store can assemble of
// it (the multipart upload's parts). Nothing of the chunk was kept.
var ErrTooLarge = errors.New("upload too large")

// ErrBadParts: the parts of a direct upload do not make a blob (missing,
// out of order, or of the wrong sizes). Nothing was assembled.
var ErrBadParts = errors.New("bad parts")

// PartLayout is how a direct upload is cut into parts.
type PartLayout struct {
	// PartSize is the size of every part but the last, which has 1 to
	// PartSize bytes.
	PartSize int64
	// MinPartSize is the smallest part the storage takes but the last.
	MinPartSize int64
	// MaxParts is the most parts of an upload; parts are numbered from 1.
	MaxParts int32
}

// DirectInfo is what the state of a direct upload says.
type DirectInfo struct {
	Layout PartLayout
	// Size is the number of bytes assembled (Assemble), or -1 when the
	// state does not record an Assemble.
	Size int64
	// Digest is set for a direct upload in one request (StartDirect with
	// a digest): the blob it was started for. The storage itself checks
	// that the bytes sent hash to it, and puts them straight in the
	// blob's place: Assemble then checks that they are there, and the
	// caller neither reads nor moves them.
	Digest digest.Digest
}

// PartURL is where a client sends the bytes of a part of a direct upload:
// a PUT to URL, with the headers of Header (signed with the URL: a request
// without them is refused), until Expires.
type PartURL struct {
	URL     string
	Header  http.Header
	Expires time.Time
}

// Part is a part of a direct upload that the storage holds.
type Part struct {
	Number int32
	Size   int64
}

// DirectUploader is implemented by blob stores to which clients send an
// upload's bytes themselves, in parts, to short-lived URLs (S3 presigned
// part uploads), so that the bytes never pass through the registry. The
// state it returns is an upload state like WriteChunk's: the caller saves
// it in the session, and Abort drops what it records.
type DirectUploader interface {
	// StartDirect begins direct upload id of a blob of length bytes (-1:
	// unknown) and returns its state and its layout. With d (the blob's
	// digest, "" when unknown), a store that can check d itself as the
	// bytes arrive may make it an upload in one request of length bytes,
	// straight to the blob's place (DirectInfo.Digest).
	StartDirect(ctx context.Context, id string, length int64, d digest.Digest) ([]byte, PartLayout, error)
	// Direct returns what state says of its direct upload, and whether it
	// is the state of a direct upload. It makes no request.
	Direct(state []byte) (DirectInfo, bool)
	// PartURL returns a URL that takes the bytes of part n of direct
	// upload id (PUT), the headers to send with them, and when it
	// expires: a short time from now, and
	// never after notAfter (the session's end; ErrNotFound when that is
	// too close). It makes no request.
	PartURL(ctx context.Context, id string, state []byte, n int32, notAfter time.Time) (PartURL, error)
	// Parts returns the parts the storage holds, by number.
	Parts(ctx context.Context, id string, state []byte) ([]Part, error)
	// Assemble joins the parts into one object, outside the blobs, and
	// returns the upload's new state and its size. Parts that do not
	// make a blob give ErrBadParts; ErrConflict says that a concurrent
	// Assemble is joining them. Assembling an assembled upload returns it
	// as it is.
	Assemble(ctx context.Context, id string, state []byte) ([]byte, int64, error)
	// ReadAssembled returns the assembled bytes from offset on.
	ReadAssembled(ctx context.Context, id string, state []byte, offset int64) (io.ReadCloser, error)
	// CommitDirect makes the assembled bytes blob d, as Commit does (the
	// caller has hashed them), and returns where they are, as Commit does.
	CommitDirect(ctx context.Context, id string, state []byte, d digest.Digest) (location string, err error)
}

// Missing returns those of ds that held does not hold, in order (an empty
// list, not nil, when it holds them all): the answer of MissingManifests
// from the digests a backend found.
func Missing(ds []digest.Digest, held map[digest.Digest]bool) []digest.Digest {
	missing := []digest.Digest{}
	for _, d := range ds {
		if !held[d] {
			missing = append(missing, d)
		}
	}
	return missing
}
