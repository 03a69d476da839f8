// Package linkcache keeps, per process, the blob links that a
// store.Metadata has just written or read, so that the blob HEADs and GETs
// of a pull and the blob check of a manifest push ask the store nothing
// when the links are known: on the aws backend, a DynamoDB GetItem per
// blob and a BatchGetItem per manifest push saved. CNCF Distribution
// answers the same check from a cache in memory.
//
// The cache sees only what goes through it. A link removed through another
// process (another Lambda instance, `pier serve` on the same table) can
// still be answered by this one until its entry expires: at most the TTL
// after it was cached. A link removed through the cache is dropped at
// once.
//
// Only links whose bytes are at the blob's own place (BlobLink.Location
// "") are kept: another location is an upload being copied in the
// background, which goes away.
package linkcache

import (
	"container/list"
	"context"
	"maps"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// Options configures the cache. A zero TTL or MaxEntries turns it off.
type Options struct {
	// TTL is how long a link is answered from the cache after it was
	// written or read through it.
	TTL time.Duration
	// MaxEntries is the largest number of links kept; the least recently
	// used go first.
	MaxEntries int

	// now is the clock; nil is time.Now. For tests.
	now func() time.Time
}

// New returns meta with the cache of opts in front of its blob links: Blob,
// LinkBlob, UnlinkBlob and BlobSizes go through the cache, every other
// method straight to meta. The result implements store.Identities when
// meta does. When opts.TTL or opts.MaxEntries is not positive, New returns
// meta itself.
func New(meta store.Metadata, opts Options) store.Metadata {
	if opts.TTL <= 0 || opts.MaxEntries <= 0 {
		return meta
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	c := &cache{
		Metadata: meta,
		opts:     opts,
		entries:  map[key]*list.Element{},
		lru:      list.New(),
		flights:  map[key]*flight{},
	}
	if ids, ok := meta.(store.Identities); ok {
		return &cacheIdentities{cache: c, Identities: ids}
	}
	return c
}

// cacheIdentities is a cache whose store also keeps identities.
type cacheIdentities struct {
	*cache
	store.Identities
}

// key names a link: a repository and a digest.
type key struct {
	repo string
	d    digest.Digest
}

// entry is a cached link, an element of cache.lru.
type entry struct {
	key     key
	size    int64
	expires time.Time
}

// flight is what the cache knows of the operations under way on one key.
// Every write (LinkBlob, UnlinkBlob) moves gen on when it starts and when
// it ends; an operation that ends with gen where it found it saw no write
// of the key in between, and may cache what it got.
type flight struct {
	// ops is the number of operations under way; the flight is dropped
	// when it reaches 0.
	ops int
	gen uint64
}

// cache is a store.Metadata with a cache of blob links in front. It is
// safe for concurrent use: one mutex guards all its fields but Metadata
// and opts, and is never held across a call to the store.
type cache struct {
	store.Metadata
	opts Options

	mu      sync.Mutex
	entries map[key]*list.Element // of *entry
	lru     *list.List            // most recently used first
	flights map[key]*flight       // keys with operations under way
}

// Blob returns repo's link to blob d: from the cache when it holds it, else
// from the store, caching what it finds.
func (c *cache) Blob(ctx context.Context, repo string, d digest.Digest) (store.BlobLink, error) {
	k := key{repo, d}
	c.mu.Lock()
	if size, ok := c.lookup(k); ok {
		c.mu.Unlock()
		return store.BlobLink{Size: size}, nil
	}
	f, gen := c.begin(k, false)
	c.mu.Unlock()

	link, err := c.Metadata.Blob(ctx, repo, d)

	c.mu.Lock()
	if err == nil && link.Location == "" && f.gen == gen {
		c.add(k, link.Size)
	}
	c.end(k, f)
	c.mu.Unlock()
	return link, err
}

// LinkBlob links blob d into repo, and caches the link once the store has
// it.
func (c *cache) LinkBlob(ctx context.Context, repo string, d digest.Digest, link store.BlobLink) error {
	k := key{repo, d}
	c.mu.Lock()
	f, gen := c.begin(k, true)
	c.mu.Unlock()

	err := c.Metadata.LinkBlob(ctx, repo, d, link)

	c.mu.Lock()
	// Another write of k that started meanwhile may have reached the store
	// after this one, and a failed write may have reached it or not: then
	// what the store holds is not known. A Blob that started after this
	// write did may have cached what the store held before it.
	if err == nil && link.Location == "" && f.gen == gen {
		c.add(k, link.Size)
	} else {
		c.remove(k)
	}
	f.gen++
	c.end(k, f)
	c.mu.Unlock()
	return err
}

// UnlinkBlob removes repo's link to blob d from the store and the cache.
func (c *cache) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	k := key{repo, d}
	c.mu.Lock()
	f, _ := c.begin(k, true)
	c.mu.Unlock()

	err := c.Metadata.UnlinkBlob(ctx, repo, d)

	c.mu.Lock()
	// A Blob that started meanwhile may have cached the link it read
	// before the store dropped it; one still under way must not cache it.
	c.remove(k)
	f.gen++
	c.end(k, f)
	c.mu.Unlock()
	return err
}

// BlobSizes returns the sizes of the blobs of ds that repo links. Only
// the digests that the cache does not hold are asked of the store; none
// when it holds them all.
func (c *cache) BlobSizes(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest]int64, error) {
	sizes := map[digest.Digest]int64{}
	var unknown []digest.Digest
	c.mu.Lock()
	for _, d := range ds {
		if size, ok := c.lookup(key{repo, d}); ok {
			sizes[d] = size
		} else {
			unknown = append(unknown, d)
		}
	}
	c.mu.Unlock()
	if len(unknown) == 0 {
		return sizes, nil
	}
	stored, err := c.Metadata.BlobSizes(ctx, repo, unknown)
	if err != nil {
		return nil, err
	}
	maps.Copy(sizes, stored)
	return sizes, nil
}

// lookup returns the size of the cached link k when it is fresh, and drops
// it when it has expired. c.mu is held.
func (c *cache) lookup(k key) (int64, bool) {
	el, ok := c.entries[k]
	if !ok {
		return 0, false
	}
	e := el.Value.(*entry)
	if !c.opts.now().Before(e.expires) {
		c.lru.Remove(el)
		delete(c.entries, k)
		return 0, false
	}
	c.lru.MoveToFront(el)
	return e.size, true
}

// add caches link k, of size bytes, for the TTL, evicting the least
// recently used link when the cache is full. c.mu is held.
func (c *cache) add(k key, size int64) {
	expires := c.opts.now().Add(c.opts.TTL)
	if el, ok := c.entries[k]; ok {
		e := el.Value.(*entry)
		e.size, e.expires = size, expires
		c.lru.MoveToFront(el)
		return
	}
	for c.lru.Len() >= c.opts.MaxEntries {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*entry).key)
	}
	c.entries[k] = c.lru.PushFront(&entry{key: k, size: size, expires: expires})
}

// remove drops link k from the cache. c.mu is held.
func (c *cache) remove(k key) {
	if el, ok := c.entries[k]; ok {
		c.lru.Remove(el)
		delete(c.entries, k)
	}
}

// begin records an operation on k, a write when write is set, and returns
// its flight and the generation it starts at. A write drops the cached
// link and moves the generation on, so that operations under way do not
// cache what they read before it. c.mu is held.
func (c *cache) begin(k key, write bool) (*flight, uint64) {
	f, ok := c.flights[k]
	if !ok {
		f = &flight{}
		c.flights[k] = f
	}
	f.ops++
	if write {
		c.remove(k)
		f.gen++
	}
	return f, f.gen
}

// end records the end of an operation on k that begin returned f for.
// c.mu is held.
func (c *cache) end(k key, f *flight) {
	if f.ops--; f.ops == 0 {
		delete(c.flights, k)
	}
}
