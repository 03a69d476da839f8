// Command gc is Pier's scheduled Lambda function (an EventBridge schedule
// invokes it; runtime provided.al2023, built as "bootstrap"). It reads the
// same PIER_* configuration as the api function (the backend must be aws,
// the default) and builds the aws backend's stores at cold start, with the
// SDK's configuration from environment variables alone (internal/awsenv).
//
// Each invocation is one garbage collection (internal/gc), the same as
// `pier gc`: it deletes the blobs that nothing references (marked by a run,
// deleted by a run at least PIER_GC_SETTLE later), ends expired upload
// sessions, deletes what uploads left under uploads/ and assembled/ and
// their unfinished multipart uploads, and finishes the copies of large
// uploads still under assembled/. The PIER_GC_* variables tune it
// (internal/config). It logs one JSON line per pass and one with the
// report, and fails the invocation when the collection fails (the next
// one finishes the job). Each run writes a CloudWatch Embedded Metric
// Format line to stdout (internal/metrics: GCRuns, GCFailures,
// GCBlobsDeleted, ...; PIER_EMF=false turns it off), which the
// template's gc alarm watches.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/server"
	"github.com/pier-registry/pier/internal/store/awsstore"
)

func main() {
	f, err := newFunction(context.Background(), config.Getenv, os.Stderr)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	lambda.Start(f.run)
}

// function is what the cold start builds.
type function struct {
	cfg   config.Config
	log   *slog.Logger
	blobs *awsstore.Blobs
	meta  *awsstore.Metadata
	gc    *gc.Collector
	// metrics receives each run's outcome (an EMF line on stdout unless
	// PIER_EMF=false); nil: none.
	metrics metrics.Recorder
}

// newFunction reads the configuration from getenv (the backend is aws
// unless PIER_BACKEND says otherwise, and then it must be aws), logs JSON
// lines to logOut and builds the stores.
func newFunction(ctx context.Context, getenv func(string) string, logOut io.Writer) (*function, error) {
	cfg, err := config.FromLambdaEnv(getenv, nil)
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if cfg.Backend != "aws" {
		return nil, fmt.Errorf("the gc function works on the aws backend, not %q (PIER_BACKEND)", cfg.Backend)
	}
	log := cfg.Logger(logOut)
	slog.SetDefault(log)
	rec := server.Recorder(cfg, nil)
	awsCfg := server.AWSConfig(cfg)
	awsCfg.Metrics = rec
	blobs, meta, err := awsstore.Open(ctx, awsCfg)
	if err != nil {
		return nil, err
	}
	opts := server.GCOptions(cfg)
	opts.Log = log
	return &function{cfg: cfg, log: log, blobs: blobs, meta: meta, gc: gc.New(blobs, meta, opts), metrics: rec}, nil
}

// scheduled is the part of an EventBridge event that the log shows; any
// JSON (a manual invoke with {}) is accepted.
type scheduled struct {
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
}

// run is one scheduled invocation: one collection.
func (f *function) run(ctx context.Context, event json.RawMessage) error {
	var e scheduled
	_ = json.Unmarshal(event, &e) // whatever the event, the run is the same
	start := time.Now()
	rep, err := f.gc.Run(ctx)
	if f.metrics != nil {
		f.metrics.GC(rep.Outcome(err, time.Since(start)))
	}
	attrs := []slog.Attr{
		slog.String("event_id", e.ID),
		slog.String("detail_type", e.DetailType),
		slog.String("scheduled_time", e.Time),
		slog.String("bucket", f.cfg.Bucket),
		slog.String("table", f.meta.Table()),
		slog.Any("report", rep),
	}
	if err != nil {
		f.log.LogAttrs(ctx, slog.LevelError, "gc", append(attrs, slog.String("error", err.Error()))...)
		return err
	}
	f.log.LogAttrs(ctx, slog.LevelInfo, "gc", attrs...)
	return nil
}
