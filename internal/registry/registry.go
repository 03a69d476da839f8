// Package registry is the Pier service: the rules of pushing, pulling,
// tagging, listing, mounting and deleting of the OCI distribution spec, on
// top of the store interfaces. It knows nothing of HTTP or of AWS;
// every error it returns to a client is an *oci.Error.
package registry

import (
	"errors"
	"fmt"
	"time"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Options tune a Registry. The zero value is usable: every field has a
// documented default.
type Options struct {
	// AllowSparse accepts image manifests whose config or layers are not
	// in the repository. By default they are refused (MANIFEST_BLOB_UNKNOWN):
	// an image that cannot be pulled should not be stored. Indexes whose
	// child manifests are missing are always accepted (partial mirrors of
	// multi-platform images).
	AllowSparse bool
	// UploadTTL is how long an upload session lives. Default 24h.
	UploadTTL time.Duration
	// ChunkMinLength is advertised as OCI-Chunk-Min-Length: the smallest
	// chunk a client should send, but for the last. 0: not advertised.
	ChunkMinLength int64
	// ChunkMaxLength is advertised as OCI-Chunk-Max-Length and enforced:
	// a larger chunk or monolithic body is refused. 0: no limit.
	ChunkMaxLength int64
	// DirectBudget is how long finishing a direct upload may spend reading
	// its bytes back and hashing them before it answers 202 and goes on
	// in the background (docs/direct-upload.md); 0 answers 202 at once.
	DirectBudget time.Duration
	// PageSize is the number of entries of a tag, catalog or referrers
	// page when the client asks for none or for more. Default 1000.
	PageSize int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
	// GC is the garbage collection marks of the metadata store, when the
	// store given to New is a wrapper that hides them (a cache); by
	// default the store's own, if it has them.
	GC store.GCMetadata
	// Policies are the repository policies (immutable tags), when the
	// store given to New hides them; by default the store's own, if any.
	Policies store.Policies
	// UploadKey, when set, signs the state of each upload into its
	// Location (state.go): a chunk then reads and writes no session. It
	// must be secret and the same for every process that serves the
	// registry (the token signing key is). nil keeps the state in the
	// upload's session in the metadata store.
	UploadKey []byte
}

// Registry is the registry service.
type Registry struct {
	blobs store.Blobs
	meta  store.Metadata
	// retention is the store's conditional writes (nil: it has none),
	// for the immutable tags.
	retention store.Retention
	opts      Options
	stateKey  []byte
	policies  *policies // nil: none
}

// New returns a Registry keeping bytes in blobs and records in meta.
func New(blobs store.Blobs, meta store.Metadata, opts Options) *Registry {
	if opts.UploadTTL <= 0 {
		opts.UploadTTL = 24 * time.Hour
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Policies == nil {
		opts.Policies, _ = meta.(store.Policies)
	}
	if opts.GC == nil {
		opts.GC, _ = meta.(store.GCMetadata)
	}
	retention, _ := meta.(store.Retention)
	if opts.GC != nil {
		meta = gcAware{Metadata: meta, gc: opts.GC, blobs: blobs}
	}
	r := &Registry{blobs: blobs, meta: meta, retention: retention, opts: opts, stateKey: stateKey(opts.UploadKey)}
	if opts.Policies != nil {
		r.policies = &policies{src: opts.Policies, now: opts.Now}
	}
	return r
}

// Options returns the registry's options, defaults filled in.
func (r *Registry) Options() Options { return r.opts }

// notFound turns store.ErrNotFound into an OCI error of code, and wraps
// any other error with what was being done.
func notFound(err error, code oci.Code, format string, args ...any) error {
	if errors.Is(err, store.ErrNotFound) {
		return oci.Errorf(code, format, args...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// checkName returns a NAME_INVALID error for an invalid repository name.
func checkName(repo string) error { return oci.CheckName(repo) }

// limit clamps a client's page size n (0 or less: none asked) to PageSize.
func (r *Registry) limit(n int) int {
	if n <= 0 || n > r.opts.PageSize {
		return r.opts.PageSize
	}
	return n
}
