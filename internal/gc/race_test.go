package gc_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
)

// TestCollectRace: pushes, mounts and manifest pushes race gc runs that
// keep deleting what the pushers drop. Layers come from a small pool, so
// that a blob some pusher just unlinked (and gc marked or claimed) is
// pushed or mounted again elsewhere. Afterwards every image the registry
// accepted and nobody removed pulls whole.
func TestCollectRace(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		// The pushes pause after each look at the bytes (a slow request),
		// so that gc runs between the look and the link that relies on it.
		reg := registry.New(slowBlobs{b.blobs}, b.meta, registry.Options{})
		workers, rounds := 4, 30
		if b.name == "aws" {
			rounds = 8
		}
		pool := make([][]byte, 3)
		for i := range pool {
			pool[i] = []byte(fmt.Sprintf("pool layer %d", i))
		}
		var (
			mu       sync.Mutex
			accepted []image
			refused  atomic.Int64
		)
		ctx, stop := context.WithCancel(ctx)
		defer stop()
		var collected, runs atomic.Int64
		gcDone := make(chan error, 1)
		go func() {
			opts := testOptions()
			opts.LeftoverGrace = time.Hour // uploads under way are not garbage
			c := gc.New(b.blobs, b.meta, opts)
			for ctx.Err() == nil {
				rep, err := c.Run(ctx)
				if err != nil && ctx.Err() == nil {
					gcDone <- err
					return
				}
				runs.Add(1)
				collected.Add(int64(len(rep.Deleted)))
			}
			gcDone <- nil
		}()

		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(uint64(w), 7))
				for r := range rounds {
					repo := fmt.Sprintf("w%d/r%d", w, r)
					layers := [][]byte{[]byte(fmt.Sprintf(`{"worker":%d,"round":%d}`, w, r))}
					for range 2 {
						l := pool[rnd.IntN(len(pool))]
						if rnd.IntN(2) == 0 {
							// Mount from wherever the registry has it; the
							// push below links it again either way.
							reg.Mount(ctx, repo, digest.FromBytes(l), "")
						}
						layers = append(layers, l)
					}
					im, err := pushImage(ctx, reg, repo, "v1", layers...)
					if err != nil {
						if _, ok := oci.AsError(err); !ok {
							t.Errorf("push %s: %v", repo, err)
						}
						refused.Add(1)
						continue
					}
					if rnd.IntN(4) != 0 {
						// Drop the image: its manifest, then its links.
						if err := reg.DeleteManifest(ctx, repo, oci.Reference{Digest: im.digest}); err != nil {
							t.Errorf("delete %s: %v", repo, err)
						}
						for _, l := range layers {
							reg.DeleteBlob(ctx, repo, digest.FromBytes(l))
						}
						continue
					}
					mu.Lock()
					accepted = append(accepted, im)
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		stop()
		if err := <-gcDone; err != nil {
			t.Fatalf("gc run: %v", err)
		}
		if _, err := gc.New(b.blobs, b.meta, testOptions()).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, im := range accepted {
			wantWhole(t, reg, b.blobs, im)
		}
		t.Logf("%d images accepted and kept, %d pushes refused, %d gc runs deleted %d blobs", len(accepted), refused.Load(), runs.Load(), collected.Load())
		if len(accepted) == 0 || collected.Load() == 0 {
			t.Errorf("nothing raced: %d images kept, %d blobs collected", len(accepted), collected.Load())
		}
	})
}

// slowBlobs pauses after Put and Stat.
type slowBlobs struct{ gc.Blobs }

func pause() { time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond) }

func (s slowBlobs) Put(ctx context.Context, d digest.Digest, r io.Reader) (int64, error) {
	defer pause()
	return s.Blobs.Put(ctx, d, r)
}

func (s slowBlobs) Stat(ctx context.Context, d digest.Digest) (int64, error) {
	defer pause()
	return s.Blobs.Stat(ctx, d)
}
