package gc_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
)

// names returns the names of items, sorted.
func names(items []gc.Item) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.Name)
	}
	slices.Sort(out)
	return out
}

func digestNames(bs ...[]byte) []string {
	var out []string
	for _, b := range bs {
		out = append(out, digest.FromBytes(b).String())
	}
	slices.Sort(out)
	return out
}

// TestCollect: gc frees exactly the bytes nothing references, once the
// grace has passed, and a second run frees nothing; a blob shared by two
// repositories stays while one links it; a dry run deletes nothing.
func TestCollect(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		reg := registry.New(b.blobs, b.meta, registry.Options{})
		shared := []byte("a layer both images have")
		a, err := pushImage(ctx, reg, "team/a", "v1", []byte(`{"config":"a"}`), []byte("layer of a"), shared)
		if err != nil {
			t.Fatal(err)
		}
		bi, err := pushImage(ctx, reg, "team/b", "v1", []byte(`{"config":"b"}`), []byte("layer of b"), shared)
		if err != nil {
			t.Fatal(err)
		}
		orphan := []byte("bytes no repository links")
		if _, err := b.blobs.Put(ctx, digest.FromBytes(orphan), bytes.NewReader(orphan)); err != nil {
			t.Fatal(err)
		}

		young := testOptions()
		young.Grace = time.Hour
		rep, err := gc.New(b.blobs, b.meta, young).Run(ctx)
		if err != nil || len(rep.Deleted) != 0 || len(rep.Marked) != 0 {
			t.Fatalf("within the grace period: deleted %v, marked %v, %v", rep.Deleted, rep.Marked, err)
		}

		dry := testOptions()
		dry.DryRun = true
		rep, err = gc.New(b.blobs, b.meta, dry).Run(ctx)
		if err != nil || !slices.Equal(names(rep.Deleted), digestNames(orphan)) || rep.Freed != int64(len(orphan)) {
			t.Fatalf("dry run: would delete %v (%d bytes), %v; want the orphan", rep.Deleted, rep.Freed, err)
		}
		if _, err := b.blobs.Stat(ctx, digest.FromBytes(orphan)); err != nil {
			t.Fatalf("the dry run deleted: %v", err)
		}

		collector := gc.New(b.blobs, b.meta, testOptions())
		rep, err = collector.Run(ctx)
		if err != nil || !slices.Equal(names(rep.Deleted), digestNames(orphan)) || rep.Freed != int64(len(orphan)) {
			t.Fatalf("run: deleted %v (%d bytes), %v; want the orphan", rep.Deleted, rep.Freed, err)
		}
		wantGone(t, b.blobs, digest.FromBytes(orphan))

		// Remove image a: its manifest, then its links.
		if err := reg.DeleteManifest(ctx, "team/a", oci.Reference{Digest: a.digest}); err != nil {
			t.Fatal(err)
		}
		for _, blob := range a.blobs {
			if err := reg.DeleteBlob(ctx, "team/a", digest.FromBytes(blob)); err != nil {
				t.Fatal(err)
			}
		}
		rep, err = collector.Run(ctx)
		want := digestNames(a.blobs[0], a.blobs[1], a.body)
		freed := int64(len(a.blobs[0]) + len(a.blobs[1]) + len(a.body))
		if err != nil || !slices.Equal(names(rep.Deleted), want) || rep.Freed != freed {
			t.Fatalf("after image a went: deleted %v (%d bytes), %v; want %v (%d bytes)", names(rep.Deleted), rep.Freed, err, want, freed)
		}
		for _, blob := range [][]byte{a.blobs[0], a.blobs[1], a.body} {
			wantGone(t, b.blobs, digest.FromBytes(blob))
		}
		wantWhole(t, reg, b.blobs, bi)

		rep, err = collector.Run(ctx)
		if err != nil || len(rep.Deleted) != 0 || rep.Freed != 0 || len(rep.Marked) != 0 {
			t.Fatalf("second run: deleted %v, marked %v, %v; want nothing", rep.Deleted, rep.Marked, err)
		}
		wantWhole(t, reg, b.blobs, bi)

		// The shared layer goes with the last link to it.
		if err := reg.DeleteManifest(ctx, "team/b", oci.Reference{Digest: bi.digest}); err != nil {
			t.Fatal(err)
		}
		for _, blob := range bi.blobs {
			reg.DeleteBlob(ctx, "team/b", digest.FromBytes(blob))
		}
		rep, err = collector.Run(ctx)
		if want := digestNames(append(bi.blobs, bi.body)...); err != nil || !slices.Equal(names(rep.Deleted), want) {
			t.Fatalf("after image b went: deleted %v, %v; want %v", names(rep.Deleted), err, want)
		}
	})
}

// TestCollectUploads: gc ends expired upload sessions with their staging,
// and deletes staging that no session owns.
func TestCollectUploads(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		reg := registry.New(b.blobs, b.meta, registry.Options{})
		live, err := reg.StartUpload(ctx, "r", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := reg.WriteChunk(ctx, registry.UploadRef{Repo: "r", ID: live.ID}, 0, bytes.NewReader([]byte("live chunk"))); err != nil {
			t.Fatal(err)
		}
		expired := store.Upload{ID: randomHex(16), Repository: "r", Version: 1, Expires: time.Now().Add(-time.Minute)}
		state, _, err := b.blobs.WriteChunk(ctx, expired.ID, nil, 0, bytes.NewReader([]byte("expired chunk")))
		if err != nil {
			t.Fatal(err)
		}
		expired.State = state
		if err := b.meta.CreateUpload(ctx, expired); err != nil {
			t.Fatal(err)
		}
		stray := randomHex(16)
		if _, _, err := b.blobs.WriteChunk(ctx, stray, nil, 0, bytes.NewReader([]byte("stray chunk"))); err != nil {
			t.Fatal(err)
		}

		rep, err := gc.New(b.blobs, b.meta, testOptions()).Run(ctx)
		if err != nil || !slices.Equal(rep.Expired, []string{expired.ID}) {
			t.Fatalf("expired sessions ended: %v, %v; want %s", rep.Expired, err, expired.ID)
		}
		var strays int
		for _, l := range rep.Leftovers {
			if l.Name == live.ID || bytes.Contains([]byte(l.Name), []byte(live.ID)) {
				t.Errorf("leftover of the live upload deleted: %s", l.Name)
			}
			if bytes.Contains([]byte(l.Name), []byte(stray)) {
				strays++
			}
		}
		if strays == 0 {
			t.Errorf("leftovers deleted %v: want the stray upload's", names(rep.Leftovers))
		}
		if _, err := b.meta.Upload(ctx, expired.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("expired session: %v", err)
		}
		// The live upload goes on and finishes.
		u, err := reg.WriteChunk(ctx, registry.UploadRef{Repo: "r", ID: live.ID}, -1, bytes.NewReader([]byte(" and more")))
		if err != nil {
			t.Fatal(err)
		}
		d := digest.FromString("live chunk and more")
		if err := reg.FinishUpload(ctx, registry.UploadRef{Repo: "r", ID: u.ID}, d, -1, nil); err != nil {
			t.Fatal(err)
		}
		rep, err = gc.New(b.blobs, b.meta, testOptions()).Run(ctx)
		if err != nil || len(rep.Expired) != 0 || len(rep.Leftovers) != 0 || len(rep.Deleted) != 0 {
			t.Fatalf("second run: expired %v, leftovers %v, deleted %v, %v", rep.Expired, rep.Leftovers, rep.Deleted, err)
		}
	})
}

// faultyBlobs fails every Delete after the first ok ones.
type faultyBlobs struct {
	gc.Blobs
	mu sync.Mutex
	ok int
}

var errFault = errors.New("injected fault")

func (f *faultyBlobs) Delete(ctx context.Context, d digest.Digest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ok == 0 {
		return errFault
	}
	f.ok--
	return f.Blobs.Delete(ctx, d)
}

// TestCollectStopped: a run stopped midway (a fault after some deletions)
// loses nothing referenced, and the next run finishes the job.
func TestCollectStopped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		reg := registry.New(b.blobs, b.meta, registry.Options{})
		kept, err := pushImage(ctx, reg, "kept", "v1", []byte(`{"config":"kept"}`), []byte("kept layer"))
		if err != nil {
			t.Fatal(err)
		}
		var garbage [][]byte
		for i := range 6 {
			g := []byte("garbage " + string(rune('a'+i)))
			garbage = append(garbage, g)
			if _, err := b.blobs.Put(ctx, digest.FromBytes(g), bytes.NewReader(g)); err != nil {
				t.Fatal(err)
			}
		}
		rep, err := gc.New(&faultyBlobs{Blobs: b.blobs, ok: 2}, b.meta, testOptions()).Run(ctx)
		if !errors.Is(err, errFault) || len(rep.Deleted) != 2 {
			t.Fatalf("faulty run: deleted %v, %v; want 2 deleted and the fault", names(rep.Deleted), err)
		}
		wantWhole(t, reg, b.blobs, kept)

		rep2, err := gc.New(b.blobs, b.meta, testOptions()).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := append(names(rep.Deleted), names(rep2.Deleted)...); !slices.Equal(sorted(got), digestNames(garbage...)) {
			t.Fatalf("deleted %v then %v; want the garbage %v", names(rep.Deleted), names(rep2.Deleted), digestNames(garbage...))
		}
		for _, g := range garbage {
			wantGone(t, b.blobs, digest.FromBytes(g))
		}
		wantWhole(t, reg, b.blobs, kept)
		rep3, err := gc.New(b.blobs, b.meta, testOptions()).Run(ctx)
		if err != nil || len(rep3.Deleted) != 0 || len(rep3.Marked) != 0 {
			t.Fatalf("third run: deleted %v, marked %v, %v", rep3.Deleted, rep3.Marked, err)
		}
	})
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
