package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"

	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/store"
)

// OpenIdentities opens the identity store of cfg's backend, as New would
// (the bbolt file of the local backend, the DynamoDB table of the aws
// backend, made first with cfg.CreateResources), for the admin commands
// (pier user, pier token). The function it returns releases the stores.
//
// The local backend's file is locked by the process that has it open: while
// `pier serve` runs on the same data directory, OpenIdentities fails after
// a few seconds with an error that says to stop the server first.
func OpenIdentities(ctx context.Context, cfg config.Config) (store.Identities, func(), error) {
	return openMetadata[store.Identities](ctx, cfg, "identities")
}

// openMetadata opens the metadata store of cfg's backend as a T for an
// admin command (openAdmin), or fails saying that the backend keeps no
// what; the function it returns releases the stores.
func openMetadata[T any](ctx context.Context, cfg config.Config, what string) (T, func(), error) {
	var none T
	_, meta, closeStore, err := openAdmin(ctx, cfg)
	if err != nil {
		return none, nil, err
	}
	t, ok := meta.(T)
	if !ok {
		closeStore()
		return none, nil, fmt.Errorf("the %s backend keeps no %s", cfg.Backend, what)
	}
	return t, closeStore, nil
}

// openAdmin opens the stores of cfg's backend for an admin command, with an
// error that says what to do when `pier serve` has the local backend's
// file locked.
func openAdmin(ctx context.Context, cfg config.Config) (store.Blobs, store.Metadata, func(), error) {
	blobs, meta, closeStore, err := openStore(ctx, cfg, slog.New(slog.DiscardHandler), nil)
	if errors.Is(err, bolt.ErrTimeout) {
		return nil, nil, nil, fmt.Errorf("%s is locked by another process, most likely `pier serve` on --data %s: stop the server first, then try again (%w)",
			filepath.Join(cfg.DataDir, "metadata.db"), cfg.DataDir, err)
	}
	return blobs, meta, closeStore, err
}
