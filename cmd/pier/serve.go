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
	"syscall"
	"time"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/server"
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

	if cfg.Stack != "" {
		cf, err := newStackDescriber(context.Background())
		if err != nil {
			return err
		}
		if cfg, err = fromStack(context.Background(), cfg, cf, log); err != nil {
			return err
		}
	}
	s, err := server.New(context.Background(), cfg, log, registry.Options{})
	if err != nil {
		return err
	}
	defer s.Close()
	srv := &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 30 * time.Second,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/v2/",
		"backend", cfg.Backend, "allow_sparse", cfg.AllowSparse, "version", version)

	return serveUntilSignal(srv, ln, log, 30*time.Second)
}

// serveUntilSignal serves srv on ln until SIGINT or SIGTERM, then shuts it
// down, letting requests under way finish for up to grace.
func serveUntilSignal(srv *http.Server, ln net.Listener, log *slog.Logger, grace time.Duration) error {
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
	shutdown, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
