package server

import (
	"context"
	"fmt"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/gc"
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
	_, meta, closeStore, err := openAdmin(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	ps, ok := meta.(store.Policies)
	if !ok {
		closeStore()
		return nil, nil, fmt.Errorf("the %s backend keeps no policies", cfg.Backend)
	}
	return ps, closeStore, nil
}
