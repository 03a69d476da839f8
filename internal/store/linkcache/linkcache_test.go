package linkcache

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/local"
	"github.com/pier-registry/pier/internal/store/storetest"
)

var ctx = context.Background()

// The cache keeps the identities of the store it wraps.
var _ store.Identities = (*cacheIdentities)(nil)

// on are the options of the tests: links cached for a minute.
var on = Options{TTL: time.Minute, MaxEntries: 100}

func TestMetadata(t *testing.T) {
	storetest.TestMetadata(t, func(t *testing.T) store.Metadata {
		return New(openLocal(t), on)
	})
}

// The identities of the store go through the cache untouched, and do not
// meet the blob links it caches.
func TestIdentities(t *testing.T) {
	storetest.TestIdentities(t, func(t *testing.T) store.Identities {
		ids, ok := New(openLocal(t), on).(store.Identities)
		if !ok {
			t.Fatal("the cache of a store that keeps identities is not a store.Identities")
		}
		return ids
	})
}

func TestOff(t *testing.T) {
	inner := openLocal(t)
	for _, opts := range []Options{{}, {TTL: 0, MaxEntries: 10}, {TTL: time.Minute, MaxEntries: 0}, {TTL: -time.Second, MaxEntries: 10}} {
		if m := New(inner, opts); m != store.Metadata(inner) {
			t.Errorf("New(%+v) = %T, want the store itself", opts, m)
		}
	}
	if _, ok := New(counted(t), on).(store.Identities); ok {
		t.Error("the cache of a store that keeps no identities is a store.Identities")
	}
}

// openLocal returns an empty local metadata store.
func openLocal(t *testing.T) *local.Metadata {
	t.Helper()
	m, err := local.OpenMetadata(filepath.Join(t.TempDir(), "pier.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// counting is a local metadata store that counts the blob link reads that
// reach it, and records the digests BlobSizes is asked about.
type counting struct {
	store.Metadata

	mu      sync.Mutex
	blobs   int
	missing [][]digest.Digest
	// afterBlob, when set, runs after the store answered Blob, before the
	// answer is returned.
	afterBlob func(repo string, d digest.Digest)
	// beforeWrite, when set, runs when LinkBlob or UnlinkBlob is called,
	// before the store is.
	beforeWrite func()
}

// counted returns a counting store on an empty local store.
func counted(t *testing.T) *counting {
	return &counting{Metadata: openLocal(t)}
}

func (c *counting) Blob(ctx context.Context, repo string, d digest.Digest) (store.BlobLink, error) {
	c.mu.Lock()
	c.blobs++
	hook := c.afterBlob
	c.mu.Unlock()
	link, err := c.Metadata.Blob(ctx, repo, d)
	if hook != nil {
		hook(repo, d)
	}
	return link, err
}

func (c *counting) BlobSizes(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest]int64, error) {
	c.mu.Lock()
	c.missing = append(c.missing, slices.Clone(ds))
	c.mu.Unlock()
	return c.Metadata.BlobSizes(ctx, repo, ds)
}

// missing returns those of ds that BlobSizes of m says repo does not
// link, in order, and checks the sizes it gives against Blob of the store.
func missing(t *testing.T, m, inner store.Metadata, repo string, ds []digest.Digest) ([]digest.Digest, error) {
	t.Helper()
	sizes, err := m.BlobSizes(ctx, repo, ds)
	if err != nil {
		return nil, err
	}
	var out []digest.Digest
	for _, d := range ds {
		size, ok := sizes[d]
		if !ok {
			out = append(out, d)
		} else if link, err := inner.Blob(ctx, repo, d); err == nil && link.Size != size {
			t.Errorf("BlobSizes(%s) says %s has %d bytes; the store says %d", repo, d, size, link.Size)
		}
	}
	return out, nil
}

func (c *counting) LinkBlob(ctx context.Context, repo string, d digest.Digest, link store.BlobLink) error {
	c.writing()
	return c.Metadata.LinkBlob(ctx, repo, d, link)
}

func (c *counting) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	c.writing()
	return c.Metadata.UnlinkBlob(ctx, repo, d)
}

func (c *counting) writing() {
	c.mu.Lock()
	hook := c.beforeWrite
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
}

// calls returns the number of Blob and BlobSizes calls so far.
func (c *counting) calls() (blobs, missing int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobs, len(c.missing)
}

// clock is a clock that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a cache on a counting local store, on a clock of its own.
type fixture struct {
	t     *testing.T
	inner *counting
	clock *clock
	m     store.Metadata
}

func newFixture(t *testing.T, maxEntries int) *fixture {
	f := &fixture{t: t, inner: counted(t), clock: &clock{now: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)}}
	f.m = New(f.inner, Options{TTL: time.Minute, MaxEntries: maxEntries, now: f.clock.Now})
	return f
}

func (f *fixture) link(repo string, d digest.Digest, link store.BlobLink) {
	f.t.Helper()
	if err := f.m.LinkBlob(ctx, repo, d, link); err != nil {
		f.t.Fatal(err)
	}
}

// linkBehind links d in the store only, as another process would.
func (f *fixture) linkBehind(repo string, d digest.Digest, link store.BlobLink) {
	f.t.Helper()
	if err := f.inner.Metadata.LinkBlob(ctx, repo, d, link); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fixture) unlink(repo string, d digest.Digest) {
	f.t.Helper()
	if err := f.m.UnlinkBlob(ctx, repo, d); err != nil {
		f.t.Fatal(err)
	}
}

// want checks that Blob(repo, d) answers link.
func (f *fixture) want(repo string, d digest.Digest, link store.BlobLink) {
	f.t.Helper()
	if got, err := f.m.Blob(ctx, repo, d); err != nil || got != link {
		f.t.Fatalf("Blob(%s, %s) = %+v, %v; want %+v", repo, d, got, err, link)
	}
}

// wantNone checks that Blob(repo, d) answers store.ErrNotFound.
func (f *fixture) wantNone(repo string, d digest.Digest) {
	f.t.Helper()
	if got, err := f.m.Blob(ctx, repo, d); !errors.Is(err, store.ErrNotFound) {
		f.t.Fatalf("Blob(%s, %s) = %+v, %v; want not found", repo, d, got, err)
	}
}

// wantMissing checks that BlobSizes(repo, ds) leaves out want.
func (f *fixture) wantMissing(repo string, ds []digest.Digest, want ...digest.Digest) {
	f.t.Helper()
	got, err := missing(f.t, f.m, f.inner.Metadata, repo, ds)
	if err != nil || len(got)+len(want) > 0 && !slices.Equal(got, want) {
		f.t.Fatalf("BlobSizes(%s, %v) leaves out %v, %v; want %v", repo, ds, got, err, want)
	}
}

var (
	d1 = digest.FromString("one")
	d2 = digest.FromString("two")
	d3 = digest.FromString("three")
	d4 = digest.FromString("four")
)

// TestReads checks which link reads reach the store.
func TestReads(t *testing.T) {
	size := func(n int64) store.BlobLink { return store.BlobLink{Size: n} }
	tests := []struct {
		name       string
		maxEntries int
		run        func(f *fixture)
		// blobs and missing are the Blob and BlobSizes calls that
		// reach the store; asked the digests BlobSizes asks it about.
		blobs, missing int
		asked          [][]digest.Digest
	}{
		{name: "hit after LinkBlob", run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.want("r", d1, size(3))
			f.want("r", d1, size(3))
		}},
		{name: "hit after Blob", blobs: 1, run: func(f *fixture) {
			f.linkBehind("r", d1, size(3))
			f.want("r", d1, size(3))
			f.want("r", d1, size(3))
			f.want("r", d1, size(3))
		}},
		{name: "not found is not cached", blobs: 2, run: func(f *fixture) {
			f.wantNone("r", d1)
			f.wantNone("r", d1)
		}},
		{name: "found after not found", blobs: 2, run: func(f *fixture) {
			f.wantNone("r", d1)
			f.linkBehind("r", d1, size(3))
			f.want("r", d1, size(3))
			f.want("r", d1, size(3))
		}},
		{name: "links are per repository", blobs: 1, run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.wantNone("other", d1)
			f.want("r", d1, size(3))
		}},
		{name: "fresh until the TTL", blobs: 1, run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.clock.advance(time.Minute - time.Nanosecond)
			f.want("r", d1, size(3))
			f.clock.advance(time.Nanosecond)
			f.want("r", d1, size(3)) // from the store, and cached again
			f.clock.advance(time.Minute - time.Nanosecond)
			f.want("r", d1, size(3))
		}},
		{name: "stale after the TTL", blobs: 1, run: func(f *fixture) {
			f.link("r", d1, size(3))
			// Unlinked by another process: answered until the TTL.
			if err := f.inner.Metadata.UnlinkBlob(ctx, "r", d1); err != nil {
				f.t.Fatal(err)
			}
			f.want("r", d1, size(3))
			f.clock.advance(time.Minute)
			f.wantNone("r", d1)
		}},
		{name: "a hit does not extend the TTL", blobs: 1, run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.clock.advance(30 * time.Second)
			f.want("r", d1, size(3))
			f.clock.advance(30 * time.Second)
			f.want("r", d1, size(3))
		}},
		{name: "miss after UnlinkBlob", blobs: 2, run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.want("r", d1, size(3))
			f.unlink("r", d1)
			f.wantNone("r", d1)
			f.wantNone("r", d1)
		}},
		{name: "miss after a failed UnlinkBlob", blobs: 1, run: func(f *fixture) {
			f.link("r", d1, size(3))
			if err := f.inner.Metadata.UnlinkBlob(ctx, "r", d1); err != nil {
				f.t.Fatal(err)
			}
			if err := f.m.UnlinkBlob(ctx, "r", d1); !errors.Is(err, store.ErrNotFound) {
				f.t.Fatalf("UnlinkBlob of a link gone: %v, want not found", err)
			}
			f.wantNone("r", d1)
		}},
		{name: "relinked after UnlinkBlob", run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.unlink("r", d1)
			f.link("r", d1, size(3))
			f.want("r", d1, size(3))
		}},
		{name: "a link elsewhere is not cached", blobs: 2, run: func(f *fixture) {
			at := store.BlobLink{Size: 3, Location: "assembled/x"}
			f.link("r", d1, at)
			f.want("r", d1, at)
			f.want("r", d1, at)
		}},
		{name: "a link elsewhere replaces a cached one", blobs: 2, run: func(f *fixture) {
			at := store.BlobLink{Size: 3, Location: "assembled/x"}
			f.link("r", d1, size(3))
			f.link("r", d1, at)
			f.want("r", d1, at)
			f.linkBehind("r", d2, at)
			f.want("r", d2, at)
			f.link("r", d1, size(3)) // copied into place
			f.want("r", d1, size(3))
		}},
		{name: "a link elsewhere found is not cached", blobs: 2, run: func(f *fixture) {
			at := store.BlobLink{Size: 3, Location: "assembled/x"}
			f.linkBehind("r", d1, at)
			f.want("r", d1, at)
			f.want("r", d1, at)
		}},
		{name: "LinkBlob replaces a cached link", run: func(f *fixture) {
			f.link("r", d1, size(3))
			f.link("r", d1, size(4))
			f.want("r", d1, size(4))
		}},
		{name: "BlobSizes all known", run: func(f *fixture) {
			f.link("r", d1, size(1))
			f.linkBehind("r", d2, size(2))
			f.want("r", d2, size(2)) // now known
			f.wantMissing("r", []digest.Digest{d2, d1, d1})
			f.wantMissing("r", nil)
		}, blobs: 1},
		{name: "BlobSizes partial", missing: 1, asked: [][]digest.Digest{{d2, d3, d4}}, run: func(f *fixture) {
			f.link("r", d1, size(1))
			f.linkBehind("r", d3, size(3))
			f.wantMissing("r", []digest.Digest{d2, d1, d3, d4}, d2, d4)
		}},
		{name: "BlobSizes none known", missing: 2, asked: [][]digest.Digest{{d3, d1}, {d3, d1}}, run: func(f *fixture) {
			f.link("other", d1, size(1))
			f.linkBehind("r", d3, size(3))
			f.wantMissing("r", []digest.Digest{d3, d1}, d1)
			f.wantMissing("r", []digest.Digest{d3, d1}, d1) // the answer does not fill the cache
		}},
		{name: "BlobSizes after UnlinkBlob", missing: 1, asked: [][]digest.Digest{{d1}}, run: func(f *fixture) {
			f.link("r", d1, size(1))
			f.link("r", d2, size(2))
			f.unlink("r", d1)
			f.wantMissing("r", []digest.Digest{d1, d2}, d1)
		}},
		{name: "BlobSizes after the TTL", missing: 1, asked: [][]digest.Digest{{d1}}, run: func(f *fixture) {
			f.link("r", d1, size(1))
			f.clock.advance(time.Minute)
			f.wantMissing("r", []digest.Digest{d1})
		}},
		{name: "eviction at MaxEntries", maxEntries: 2, blobs: 2, run: func(f *fixture) {
			f.link("r", d1, size(1))
			f.link("r", d2, size(2))
			f.link("r", d3, size(3)) // evicts d1
			f.want("r", d2, size(2)) // hit: d3 is now the least recently used
			f.want("r", d1, size(1)) // miss; evicts d3
			f.want("r", d2, size(2))
			f.want("r", d1, size(1))
			f.want("r", d3, size(3)) // miss; evicts d2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.maxEntries == 0 {
				tt.maxEntries = 100
			}
			f := newFixture(t, tt.maxEntries)
			tt.run(f)
			blobs, missing := f.inner.calls()
			if blobs != tt.blobs || missing != tt.missing {
				t.Errorf("the store got %d Blob and %d BlobSizes calls, want %d and %d", blobs, missing, tt.blobs, tt.missing)
			}
			if tt.asked != nil && !slices.EqualFunc(f.inner.missing, tt.asked, slices.Equal) {
				t.Errorf("BlobSizes asked the store about %v, want %v", f.inner.missing, tt.asked)
			}
			if n := len(f.m.(*cache).entries); n > tt.maxEntries {
				t.Errorf("%d links cached, more than MaxEntries %d", n, tt.maxEntries)
			}
		})
	}
}

// blockBlob makes the next Blob that reaches f's store wait, once it has
// read the link, until release is called; read is closed when it has.
func (f *fixture) blockBlob() (read <-chan struct{}, release func()) {
	r, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.inner.mu.Lock()
	f.inner.afterBlob = func(string, digest.Digest) {
		once.Do(func() {
			close(r)
			<-rel
		})
	}
	f.inner.mu.Unlock()
	return r, func() { close(rel) }
}

// blockWrite makes the next LinkBlob or UnlinkBlob that reaches f's store
// wait, before the store has it, until release is called; reached is
// closed when it waits.
func (f *fixture) blockWrite() (reached <-chan struct{}, release func()) {
	r, rel := make(chan struct{}), make(chan struct{})
	var once sync.Once
	f.inner.mu.Lock()
	f.inner.beforeWrite = func() {
		once.Do(func() {
			close(r)
			<-rel
		})
	}
	f.inner.mu.Unlock()
	return r, func() { close(rel) }
}

// lookup calls Blob(repo, d) in a goroutine; the channel gets its answer.
func (f *fixture) lookup(repo string, d digest.Digest) <-chan error {
	done := make(chan error, 1)
	go func() {
		_, err := f.m.Blob(ctx, repo, d)
		done <- err
	}()
	return done
}

// A Blob that read a link before a write of it changed the store, and
// ends after, does not cache what it read.
func TestWriteDuringBlob(t *testing.T) {
	at := store.BlobLink{Size: 3, Location: "assembled/x"}
	for _, tt := range []struct {
		name  string
		write func(f *fixture) error
		check func(f *fixture)
	}{
		{"UnlinkBlob", func(f *fixture) error { return f.m.UnlinkBlob(ctx, "r", d1) }, func(f *fixture) { f.wantNone("r", d1) }},
		{"LinkBlob of another size", func(f *fixture) error { return f.m.LinkBlob(ctx, "r", d1, store.BlobLink{Size: 4}) },
			func(f *fixture) { f.want("r", d1, store.BlobLink{Size: 4}) }},
		{"LinkBlob elsewhere", func(f *fixture) error { return f.m.LinkBlob(ctx, "r", d1, at) }, func(f *fixture) { f.want("r", d1, at) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 100)
			f.linkBehind("r", d1, store.BlobLink{Size: 3})
			read, release := f.blockBlob()
			done := f.lookup("r", d1)
			<-read // the lookup has the old link
			if err := tt.write(f); err != nil {
				t.Fatal(err)
			}
			release()
			if err := <-done; err != nil {
				t.Fatalf("the lookup that started before the write: %v", err)
			}
			tt.check(f)
			tt.check(f)
		})
	}
}

// A Blob that starts while a write of the link is under way, and reads
// the store before the write reaches it, does not leave what it read in
// the cache once the write has ended.
func TestBlobDuringWrite(t *testing.T) {
	at := store.BlobLink{Size: 3, Location: "assembled/x"}
	for _, tt := range []struct {
		name  string
		write func(f *fixture) error
		check func(f *fixture)
		// blobs is the number of Blob calls that reach the store: the
		// read during the write, and those of the checks after it.
		blobs int
	}{
		{"UnlinkBlob", func(f *fixture) error { return f.m.UnlinkBlob(ctx, "r", d1) }, func(f *fixture) { f.wantNone("r", d1) }, 3},
		{"LinkBlob elsewhere", func(f *fixture) error { return f.m.LinkBlob(ctx, "r", d1, at) }, func(f *fixture) { f.want("r", d1, at) }, 3},
		{"failed LinkBlob", func(f *fixture) error {
			cctx, cancel := context.WithCancel(ctx)
			cancel()
			if err := f.m.LinkBlob(cctx, "r", d1, store.BlobLink{Size: 4}); err == nil {
				return errors.New("LinkBlob with a canceled context: no error")
			}
			return nil
		}, func(f *fixture) { f.want("r", d1, store.BlobLink{Size: 3}) }, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, 100)
			f.linkBehind("r", d1, store.BlobLink{Size: 3})
			reached, release := f.blockWrite()
			done := make(chan error, 1)
			go func() { done <- tt.write(f) }()
			<-reached                                // the write has begun, the store has the old link
			f.want("r", d1, store.BlobLink{Size: 3}) // read meanwhile
			release()
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			tt.check(f)
			tt.check(f)
			blobs, _ := f.inner.calls()
			if c := f.m.(*cache); len(c.flights) != 0 {
				t.Errorf("%d flights left", len(c.flights))
			}
			if blobs != tt.blobs {
				t.Errorf("%d Blob calls reached the store, want %d", blobs, tt.blobs)
			}
		})
	}
}

// After concurrent reads and writes of a few links have ended, the cache
// answers what the store holds.
func TestConcurrent(t *testing.T) {
	f := newFixture(t, 3)
	ds := []digest.Digest{d1, d2, d3, d4}
	links := []store.BlobLink{{Size: 1}, {Size: 2}, {Size: 2, Location: "assembled/x"}}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			rnd := rand.New(rand.NewPCG(uint64(w), 1))
			for range 300 {
				repo := fmt.Sprint("r", rnd.IntN(2))
				d := ds[rnd.IntN(len(ds))]
				var err error
				switch rnd.IntN(4) {
				case 0:
					err = f.m.LinkBlob(ctx, repo, d, links[rnd.IntN(len(links))])
				case 1:
					err = f.m.UnlinkBlob(ctx, repo, d)
				case 2:
					_, err = f.m.Blob(ctx, repo, d)
				case 3:
					_, err = f.m.BlobSizes(ctx, repo, ds[:rnd.IntN(len(ds)+1)])
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for _, repo := range []string{"r0", "r1"} {
		for _, d := range ds {
			want, werr := f.inner.Metadata.Blob(ctx, repo, d)
			for range 2 { // a miss, then maybe a hit
				got, err := f.m.Blob(ctx, repo, d)
				if got != want || errors.Is(err, store.ErrNotFound) != errors.Is(werr, store.ErrNotFound) {
					t.Errorf("Blob(%s, %s) = %+v, %v; the store holds %+v, %v", repo, d, got, err, want, werr)
				}
			}
		}
		got, err := f.m.BlobSizes(ctx, repo, ds)
		want, werr := f.inner.Metadata.BlobSizes(ctx, repo, ds)
		if err != nil || werr != nil || !maps.Equal(got, want) {
			t.Errorf("BlobSizes(%s) = %v, %v; the store says %v, %v", repo, got, err, want, werr)
		}
	}
	c := f.m.(*cache)
	if len(c.flights) != 0 || len(c.entries) > 3 || len(c.entries) != c.lru.Len() {
		t.Errorf("after the operations: %d flights, %d entries, %d in the list", len(c.flights), len(c.entries), c.lru.Len())
	}
}
