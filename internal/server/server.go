// Package server assembles Pier from its configuration: the stores of the
// chosen backend, the registry service and the HTTP handler. `pier serve`
// and the Lambda function build the same thing through it.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/site"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/linkcache"
	"github.com/pier-registry/pier/internal/store/local"
)

// Server is an assembled registry.
type Server struct {
	// Handler serves the /v2 API.
	Handler http.Handler
	// Registry is the service behind Handler.
	Registry *registry.Registry
	// Metrics counts requests, upload copies and gc runs for Prometheus
	// scrapes: set when cfg.MetricsAddr is.
	Metrics *metrics.Prometheus
	close   func()
}

// Close releases the stores: it waits for background copies (aws) or
// closes the database (local).
func (s *Server) Close() {
	if s.close != nil {
		s.close()
	}
}

// New builds the registry that cfg describes, logging to log. opts are
// the registry options that cfg does not hold; cfg's settings are put
// into them. The registry reads blob links through a cache of the process
// (internal/store/linkcache) unless cfg turns it off.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, opts registry.Options) (*Server, error) {
	cfg.LoadAWS = loadOnce(cfg.LoadAWS)
	var prom *metrics.Prometheus
	if cfg.MetricsAddr != "" {
		prom = metrics.NewPrometheus()
	}
	rec := Recorder(cfg, prom)
	blobs, meta, closeStore, err := openStore(ctx, cfg, log, rec)
	if err != nil {
		return nil, err
	}
	closeStore = collectEvery(cfg, blobs, meta, log, rec, closeStore)
	opts.GC, _ = meta.(store.GCMetadata) // the cache hides them
	opts.Policies, _ = meta.(store.Policies)
	records, _ := meta.(site.Records)
	meta = linkcache.New(meta, linkcache.Options{
		TTL:        cfg.BlobLinkCacheTTL,
		MaxEntries: int(min(cfg.BlobLinkCacheEntries, math.MaxInt32)),
	})
	if cfg.BlobLinkCacheTTL > 0 && cfg.BlobLinkCacheEntries > 0 {
		log.Info("blob link cache", "ttl", cfg.BlobLinkCacheTTL.String(), "entries", cfg.BlobLinkCacheEntries)
	}
	opts.AllowSparse = cfg.AllowSparse
	if cfg.ChunkMinLength > 0 {
		opts.ChunkMinLength = cfg.ChunkMinLength
	}
	if cfg.ChunkMaxLength > 0 {
		opts.ChunkMaxLength = cfg.ChunkMaxLength
	}
	opts.DirectBudget = cfg.CopyBudget
	ids, _ := meta.(store.Identities)
	a, err := newAuth(ctx, cfg, ids, log)
	if err != nil {
		closeStore()
		return nil, err
	}
	if a != nil {
		// With access control, an upload's state travels signed in its
		// Location (a capability for that upload alone); an open
		// registry keeps it in the upload's session.
		opts.UploadKey = a.Signer.UploadKey()
	}
	reg := registry.New(blobs, meta, opts)
	return &Server{
		Handler: httpapi.New(reg, httpapi.Options{Logger: log, Auth: a, UploadURL: cfg.UploadURL, Metrics: rec,
			Sites: site.New(reg, blobs, records, site.Options{Logger: log})}),
		Registry: reg,
		Metrics:  prom,
		close:    closeStore,
	}, nil
}

// Recorder returns the metrics recorder of cfg: EMF lines on stdout when
// cfg.EMF is set, and prom when not nil; nil when neither.
func Recorder(cfg config.Config, prom *metrics.Prometheus) metrics.Recorder {
	var rs []metrics.Recorder
	if prom != nil {
		rs = append(rs, prom)
	}
	if cfg.EMF {
		rs = append(rs, metrics.NewEMF(os.Stdout, cfg.MetricsNamespace))
	}
	return metrics.Multi(rs...)
}

// AWSConfig is the configuration of the aws backend that cfg gives.
func AWSConfig(cfg config.Config) awsstore.Config {
	return awsstore.Config{
		LoadAWS:         cfg.LoadAWS,
		Bucket:          cfg.Bucket,
		TablePrefix:     cfg.TablePrefix,
		PresignTTL:      cfg.PresignTTL,
		CopyBudget:      cfg.CopyBudget,
		PartURLTTL:      cfg.PartURLTTL,
		CreateResources: cfg.CreateResources,
		// With access control, upload states travel signed (New).
		SignedUploadStates: cfg.Auth != "none",
		// Lambda freezes the environment when the handler returns: a copy
		// left unfinished there is finished by garbage collection.
		NoBackgroundCopy: os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "",
	}
}

// openStore opens the blob and metadata stores of cfg's backend, which
// report to rec (nil: nowhere); the function it returns releases them.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger, rec metrics.Recorder) (store.Blobs, store.Metadata, func(), error) {
	switch cfg.Backend {
	case "aws":
		awsCfg := AWSConfig(cfg)
		awsCfg.Metrics = rec
		blobs, meta, err := awsstore.Open(ctx, awsCfg)
		if err != nil {
			return nil, nil, nil, err
		}
		log.Info("aws backend", "bucket", cfg.Bucket, "table", awsstore.TableName(cfg.TablePrefix))
		return blobs, meta, blobs.Wait, nil
	case "local":
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
		log.Info("local backend", "data", cfg.DataDir)
		return blobs, meta, func() { meta.Close() }, nil
	default:
		return nil, nil, nil, fmt.Errorf("unknown backend %q", cfg.Backend)
	}
}
