// Command gc is Pier's scheduled Lambda function (an EventBridge schedule
// invokes it; runtime provided.al2023, built as "bootstrap"). It reads the
// same PIER_* configuration as the api function (the backend must be aws,
// the default) and builds the aws backend's stores at cold start.
//
// Its work comes in a later issue: deleting blobs that no repository links
// any more (after a grace period), expired upload sessions and their
// staging under uploads/, and finishing the background copies of
// completed uploads still under assembled/. Until then each invocation
// logs one JSON line that says what it would do, and returns.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pier-registry/pier/internal/config"
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
}

// newFunction reads the configuration from getenv (the backend is aws
// unless PIER_BACKEND says otherwise, and then it must be aws), logs JSON
// lines to logOut and builds the stores.
func newFunction(ctx context.Context, getenv func(string) string, logOut io.Writer) (*function, error) {
	cfg, err := config.FromEnv(func(key string) string {
		if v := getenv(key); v != "" || key != "PIER_BACKEND" {
			return v
		}
		return "aws"
	})
	if err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	if cfg.Backend != "aws" {
		return nil, fmt.Errorf("the gc function works on the aws backend, not %q (PIER_BACKEND)", cfg.Backend)
	}
	level, _ := cfg.Level()
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)
	blobs, meta, err := awsstore.Open(ctx, server.AWSConfig(cfg))
	if err != nil {
		return nil, err
	}
	return &function{cfg: cfg, log: log, blobs: blobs, meta: meta}, nil
}

// scheduled is the part of an EventBridge event that the log shows; any
// JSON (a manual invoke with {}) is accepted.
type scheduled struct {
	ID         string `json:"id"`
	DetailType string `json:"detail-type"`
	Time       string `json:"time"`
}

// plan is what a run will do once garbage collection exists.
var plan = []string{
	"delete blobs under blobs/ that no repository links, after a grace period",
	"delete expired upload sessions and their staging under uploads/",
	"finish the background copies of completed uploads under assembled/ and move their blob records",
}

// run is one scheduled invocation: for now it logs what it would do.
func (f *function) run(ctx context.Context, event json.RawMessage) error {
	var e scheduled
	_ = json.Unmarshal(event, &e) // whatever the event, the run is the same
	f.log.LogAttrs(ctx, slog.LevelInfo, "gc",
		slog.String("event_id", e.ID),
		slog.String("detail_type", e.DetailType),
		slog.String("scheduled_time", e.Time),
		slog.String("bucket", f.cfg.Bucket),
		slog.String("table", f.meta.Table()),
		slog.Bool("dry_run", true),
		slog.Any("would", plan),
		slog.String("status", "garbage collection is not implemented yet: nothing was deleted or copied"),
	)
	return nil
}
