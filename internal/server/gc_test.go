package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/local"
)

// TestCollectEvery: pier serve --gc-interval collects garbage in the
// server's process, online: a blob nothing links goes while it serves, a
// pushed one stays.
func TestCollectEvery(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{
		"PIER_DATA_DIR": dir, "PIER_AUTH": "none",
		"PIER_GC_INTERVAL": "20ms", "PIER_GC_GRACE": "1ns", "PIER_GC_SETTLE": "1ns",
	}
	cfg, err := config.FromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := server.New(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), registry.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	blobs, err := local.OpenBlobs(dir) // files: no lock
	if err != nil {
		t.Fatal(err)
	}
	orphan, pushed := []byte("nothing links me"), []byte("pushed")
	if _, err := blobs.Put(ctx, digest.FromBytes(orphan), bytes.NewReader(orphan)); err != nil {
		t.Fatal(err)
	}
	if err := s.Registry.PutBlob(ctx, "r", digest.FromBytes(pushed), bytes.NewReader(pushed)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := blobs.Stat(ctx, digest.FromBytes(orphan))
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the orphan blob is still there after 10 s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := s.Registry.StatBlob(ctx, "r", digest.FromBytes(pushed)); err != nil {
		t.Fatalf("pushed blob: %v", err)
	}
	if _, err := blobs.Stat(ctx, digest.FromBytes(pushed)); err != nil {
		t.Fatalf("pushed blob's bytes: %v", err)
	}
}
