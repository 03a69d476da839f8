package server

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/store"
)

// GCOptions returns the garbage collection settings of cfg.
func GCOptions(cfg config.Config) gc.Options {
	return gc.Options{Grace: cfg.GCGrace, LeftoverGrace: cfg.GCLeftoverGrace, Settle: cfg.GCSettle, Tombstone: cfg.GCTombstone}
}

// Collector returns the garbage collector of cfg's backend, with opts, for
// `pier gc`; the function it returns releases the stores. On the local
// backend it fails, as OpenIdentities does, while `pier serve` has the
// data directory open.
func Collector(ctx context.Context, cfg config.Config, opts gc.Options) (*gc.Collector, func(), error) {
	blobs, meta, closeStore, err := openAdmin(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	gb, ok := blobs.(gc.Blobs)
	gm, ok2 := meta.(gc.Metadata)
	if !ok || !ok2 {
		closeStore()
		return nil, nil, fmt.Errorf("the %s backend cannot be garbage collected", cfg.Backend)
	}
	return gc.New(gb, gm, opts), closeStore, nil
}

// OpenPolicies opens the repository policies of cfg's backend, for `pier
// policy`; the function it returns releases the stores. On the local
// backend it fails while `pier serve` has the data directory open.
func OpenPolicies(ctx context.Context, cfg config.Config) (store.Policies, func(), error) {
	return openMetadata[store.Policies](ctx, cfg, "policies")
}

// collectEvery starts garbage collection every cfg.GCInterval (when it is
// positive) in this process, for `pier serve` on the local backend, whose
// file no other process may open while it serves, each run reported to
// rec (nil: nowhere); and returns the close
// function that stops it (waiting for a run under way) before closeStore.
func collectEvery(cfg config.Config, blobs store.Blobs, meta store.Metadata, log *slog.Logger, rec metrics.Recorder, closeStore func()) func() {
	gb, ok := blobs.(gc.Blobs)
	gm, ok2 := meta.(gc.Metadata)
	if cfg.GCInterval <= 0 || !ok || !ok2 {
		return closeStore
	}
	opts := GCOptions(cfg)
	opts.Log = log
	c := gc.New(gb, gm, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(cfg.GCInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			start := time.Now()
			rep, err := c.Run(ctx)
			if err != nil && ctx.Err() == nil {
				log.Error("gc", "error", err.Error())
			}
			if rec != nil && ctx.Err() == nil {
				rec.GC(rep.Outcome(err, time.Since(start)))
			}
		}
	}()
	log.Info("garbage collection", "every", cfg.GCInterval.String())
	return func() {
		cancel()
		<-done
		closeStore()
	}
}
