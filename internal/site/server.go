package site

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
)

// Records keeps the digest of the index of each unpacked site: a
// metadata store's store.SiteIndexes.
type Records = store.SiteIndexes

// Options tune a Server. The zero value is usable.
type Options struct {
	// InlineMax is the size of the largest file served through the
	// registry on a blob store that hands out URLs; larger files are a
	// redirect. Default 1 MiB (Lambda answers at most 6 MB, base64 and
	// JSON escapes included).
	InlineMax int64
	// MaxEntries is the largest number of files of an unpacked site.
	// Default 10,000.
	MaxEntries int
	// MaxUnpacked is the largest number of bytes of an unpacked site.
	// Default 1 GiB.
	MaxUnpacked int64
	// CacheEntries is the number of site indexes kept in memory.
	// Default 256.
	CacheEntries int
	// Logger receives what goes wrong. Default slog.Default().
	Logger *slog.Logger
}

// Server serves sites.
type Server struct {
	reg     *registry.Registry
	blobs   store.Blobs
	records Records
	opts    Options

	mu sync.Mutex
	// cache holds indexes by repository@manifest digest.
	cache map[string]*index
	// unpacking is held while a site is unpacked, so that the requests of
	// a first page view unpack it once.
	unpacking sync.Mutex
}

// New returns a Server of the sites of reg, whose bytes are in blobs;
// records may be nil (each process then unpacks a site again).
func New(reg *registry.Registry, blobs store.Blobs, records Records, opts Options) *Server {
	if opts.InlineMax <= 0 {
		opts.InlineMax = 1 << 20
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 10000
	}
	if opts.MaxUnpacked <= 0 {
		opts.MaxUnpacked = 1 << 30
	}
	if opts.CacheEntries <= 0 {
		opts.CacheEntries = 256
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Server{reg: reg, blobs: blobs, records: records, opts: opts, cache: map[string]*index{}}
}

// errNotSite: the manifest is not a site (an index, or no titled layer).
var errNotSite = errors.New("not a site")

// maxIndex bounds the size of a stored index that is read back.
const maxIndex = 64 << 20

// index returns the index of the site of manifest d of repo, whose bytes
// are body: from memory, from the recorded index, or made now. Indexes are
// cached per repository, because each repository's link to the archives
// is checked once before its first use of them (with --allow-sparse,
// a manifest may name blobs its repository does not hold).
func (s *Server) index(ctx context.Context, repo string, d digest.Digest, mediaType string, body []byte) (*index, error) {
	key := repo + "@" + d.String()
	if x := s.cached(key); x != nil {
		return x, nil
	}
	m, err := oci.ParseManifest(mediaType, body)
	if err != nil || m.IsIndex() {
		return nil, errNotSite
	}
	files, archives, ok := layout(m)
	if !ok {
		return nil, errNotSite
	}
	if len(archives) == 0 {
		return s.keep(key, newIndex(files)), nil
	}
	s.unpacking.Lock()
	defer s.unpacking.Unlock()
	if x := s.cached(key); x != nil {
		return x, nil
	}
	for _, a := range archives {
		// The archive is the repository's: the registry checks its link.
		if _, err := s.reg.StatBlob(ctx, repo, a.layer.Digest); err != nil {
			return nil, err
		}
	}
	if x, err := s.recorded(ctx, d); err != nil || x != nil {
		return s.keep(key, x), err
	}
	var total int64
	for _, a := range archives {
		if err := s.unpack(ctx, a, files, &total); err != nil {
			return nil, err
		}
	}
	x := newIndex(files)
	if err := s.record(ctx, d, x); err != nil {
		return nil, err
	}
	s.opts.Logger.InfoContext(ctx, "site unpacked", "repository", repo, "manifest", d.String(), "files", len(files), "bytes", total)
	return s.keep(key, x), nil
}

// recorded returns the index recorded for manifest d, or nil.
func (s *Server) recorded(ctx context.Context, d digest.Digest) (*index, error) {
	if s.records == nil {
		return nil, nil
	}
	xd, err := s.records.SiteIndex(ctx, d)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("site index of %s: %w", d, err)
	}
	rc, err := s.blobs.Open(ctx, xd)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // gone: unpack again
	}
	if err != nil {
		return nil, fmt.Errorf("site index %s: %w", xd, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, maxIndex))
	if err != nil {
		return nil, fmt.Errorf("site index %s: %w", xd, err)
	}
	x, err := parseIndex(b)
	if err != nil {
		return nil, fmt.Errorf("site index %s: %w", xd, err)
	}
	return x, nil
}

// record stores x as a blob and records it as the index of manifest d.
func (s *Server) record(ctx context.Context, d digest.Digest, x *index) error {
	if s.records == nil {
		return nil
	}
	b, err := x.marshal()
	if err != nil {
		return fmt.Errorf("site index of %s: %w", d, err)
	}
	xd, err := s.store(ctx, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return fmt.Errorf("site index of %s: %w", d, err)
	}
	if err := s.records.PutSiteIndex(ctx, d, xd); err != nil {
		return fmt.Errorf("site index of %s: %w", d, err)
	}
	return nil
}

func (s *Server) cached(key string) *index {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cache[key]
}

// keep caches x under key, dropping another index when the cache is
// full, and returns x.
func (s *Server) keep(key string, x *index) *index {
	if x == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= s.opts.CacheEntries {
		for k := range s.cache {
			delete(s.cache, k)
			break
		}
	}
	s.cache[key] = x
	return x
}
