package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/local"
)

// serve runs the registry until SIGINT or SIGTERM, then shuts down
// gracefully: requests under way may finish.
func serve(args []string) error {
	fs := flag.NewFlagSet("pier serve", flag.ContinueOnError)
	cfg, err := config.Parse(fs, args, config.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	level, _ := cfg.Level()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	blobs, meta, closeStore, err := openStore(context.Background(), cfg)
	if err != nil {
		return err
	}
	defer closeStore()

	reg := registry.New(blobs, meta, registry.Options{
		AllowSparse:    cfg.AllowSparse,
		ChunkMinLength: cfg.ChunkMinLength,
		ChunkMaxLength: cfg.ChunkMaxLength,
	})
	srv := &http.Server{
		Handler:           httpapi.New(reg, httpapi.Options{Logger: log}),
		ReadHeaderTimeout: 30 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/v2/",
		"backend", cfg.Backend, "allow_sparse", cfg.AllowSparse, "version", version)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// openStore opens the blob and metadata stores of cfg's backend; the
// function it returns releases them.
func openStore(ctx context.Context, cfg config.Config) (store.Blobs, store.Metadata, func(), error) {
	switch cfg.Backend {
	case "aws":
		blobs, meta, err := awsstore.Open(ctx, awsstore.Config{
			Bucket:          cfg.Bucket,
			TablePrefix:     cfg.TablePrefix,
			PresignTTL:      cfg.PresignTTL,
			CopyBudget:      cfg.CopyBudget,
			CreateResources: cfg.CreateResources,
		})
		if err != nil {
			return nil, nil, nil, err
		}
		slog.Info("aws backend", "bucket", cfg.Bucket, "table", awsstore.TableName(cfg.TablePrefix))
		return blobs, meta, blobs.Wait, nil
	default:
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, nil, nil, fmt.Errorf("data directory: %w", err)
		}
		blobs, err := local.OpenBlobs(cfg.DataDir)
		if err != nil {
			return nil, nil, nil, err
		}
		meta, err := local.OpenMetadata(filepath.Join(cfg.DataDir, "metadata.db"))
		if err != nil {
			return nil, nil, nil, err
		}
		slog.Info("local backend", "data", cfg.DataDir)
		return blobs, meta, func() { meta.Close() }, nil
	}
}
