package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/server"
)

// serve runs the registry until SIGINT or SIGTERM, then shuts down
// gracefully: requests under way may finish.
func serve(args []string) error {
	fs := flag.NewFlagSet("pier serve", flag.ContinueOnError)
	cfg, err := parseConfig(fs, args, config.Getenv)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	log := cfg.Logger(os.Stderr)
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
	if cfg.Auth == "token" && cfg.AuthSecret == "" && cfg.AuthKeyFile == "" {
		// One server: a key file of its own, as with the local backend
		// (servers that share a table share a key: --auth-secret).
		cfg.AuthKeyFile = filepath.Join(cfg.DataDir, "auth.key")
	}
	s, err := server.New(context.Background(), cfg, log, registry.Options{})
	if errors.Is(err, bolt.ErrTimeout) {
		return fmt.Errorf("the data directory %s is in use by another process, most likely another pier serve: stop it, or give this one another --data (%w)", cfg.DataDir, err)
	}
	if err != nil {
		return err
	}
	defer s.Close()
	srv := &http.Server{
		Handler:           readDeadlines(s.Handler, cfg.ReadTimeout),
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("serving", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/v2/",
		"backend", cfg.Backend, "allow_sparse", cfg.AllowSparse, "version", version)
	if s.Metrics != nil {
		stop, err := serveMetrics(cfg.MetricsAddr, s.Metrics, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stop()
	}

	return server.ServeUntilSignal(srv, ln, log, 30*time.Second)
}

// serveMetrics answers Prometheus scrapes of m at /metrics on addr, a
// listener of its own, apart from the registry's API; stop closes it.
func serveMetrics(addr string, m http.Handler, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics address: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", m)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("metrics", "addr", ln.Addr().String(), "url", "http://"+ln.Addr().String()+"/metrics")
	return func() { srv.Close() }, nil
}

// readDeadlines wraps next so that each read of a request body must get
// bytes within d: the connection's read deadline is moved on before each
// read, so a body dripped slowly or stalled is cut off, while a large
// upload may take any time as long as its bytes keep coming. The deadline
// is lifted at the body's end, so that a handler may then work as long
// as it needs (no read deadline may expire under the server's background
// read, which would cancel the request); after a timeout it stays, so
// that the server closes the connection rather than wait for the rest.
func readDeadlines(next http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &deadlineBody{ReadCloser: r.Body, rc: http.NewResponseController(w), d: d}
		}
		next.ServeHTTP(w, r)
	})
}

// deadlineBody is a request body whose every read has a deadline d away.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	d    time.Duration
	done bool // the body has ended: no more deadlines
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	if b.done {
		return b.ReadCloser.Read(p)
	}
	b.rc.SetReadDeadline(time.Now().Add(b.d))
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.done = true
		b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}
