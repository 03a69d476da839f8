package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
)

// credCache remembers verified credentials for a short time, so that
// Basic credentials sent with every request of a pull cost one bcrypt, not
// one per request. It is keyed by an HMAC of the name and password under a
// random key of the process: what it holds is of no use outside it. It
// holds at most size entries: when full, expired entries go first, then
// any.
type credCache struct {
	ttl  time.Duration
	size int
	hkey [32]byte

	mu      sync.Mutex
	entries map[[sha256.Size]byte]credEntry
}

// credEntry is a verified credential's identity, and until when it may be
// used.
type credEntry struct {
	id    store.Identity
	until time.Time
}

// newCredCache returns a cache whose entries live ttl (none are kept if
// ttl is negative), at most size of them.
func newCredCache(ttl time.Duration, size int) *credCache {
	c := &credCache{ttl: ttl, size: size, entries: map[[sha256.Size]byte]credEntry{}}
	copy(c.hkey[:], randid.Bytes(len(c.hkey)))
	return c
}

// key is the cache key of a name and password: HMAC-SHA256 of both, the
// name's length first so that no two pairs run together.
func (c *credCache) key(name, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.hkey[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(name)))
	m.Write(n[:])
	m.Write([]byte(name))
	m.Write([]byte(password))
	var k [sha256.Size]byte
	m.Sum(k[:0])
	return k
}

// get returns a copy of the identity of key if it is cached and still
// valid at now.
func (c *credCache) get(key [sha256.Size]byte, now time.Time) (*store.Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.until) {
		delete(c.entries, key)
		return nil, false
	}
	return cloneIdentity(e.id), true
}

// put remembers id under key from now for the cache's TTL, or until id
// expires if that is sooner.
func (c *credCache) put(key [sha256.Size]byte, id store.Identity, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	until := now.Add(c.ttl)
	if !id.Expires.IsZero() && id.Expires.Before(until) {
		until = id.Expires
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		evict(c.entries, c.size, func(e credEntry) bool { return !now.Before(e.until) })
	}
	c.entries[key] = credEntry{id: *cloneIdentity(id), until: until}
}

// evict makes room for one entry in m, which holds at most size: it
// drops the entries that are stale, and if that leaves m full, one entry
// (the map's order: any). The credential cache and the limiter bound
// their maps with it.
func evict[K comparable, V any](m map[K]V, size int, stale func(V) bool) {
	for k, v := range m {
		if stale(v) {
			delete(m, k)
		}
	}
	if len(m) < size {
		return
	}
	for k := range m {
		delete(m, k)
		return
	}
}

// count returns the number of entries, for tests.
func (c *credCache) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
