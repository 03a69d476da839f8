// Command api is Pier's Lambda function behind API Gateway (runtime
// provided.al2023, built as "bootstrap"). It serves the /v2 API with the
// same http.Handler as `pier serve`, through internal/apigw, which takes
// the events of an HTTP API (payload 2.0) and of a REST API (payload 1.0).
//
// Everything is built once, at cold start: the configuration (PIER_*
// variables; the backend is aws unless PIER_BACKEND says otherwise), the
// JSON logger, the SDK clients and the handler. The SDK's configuration
// comes from environment variables alone (internal/awsenv), as Lambda
// gives them: the SDK's full chain (profiles, SSO, STS) would add its
// package initialisation to every cold start. Each request also writes
// a CloudWatch Embedded Metric Format line to stdout (internal/metrics),
// which CloudWatch Logs turns into metrics: no request to CloudWatch, no
// time added to the answer (PIER_EMF=false turns it off). On Lambda a request body
// can carry about 4.4 MB of raw bytes (6 MB of base64 in a 6 MB payload),
// so OCI-Chunk-Max-Length is 4 MiB and OCI-Chunk-Min-Length 1 MiB unless
// PIER_CHUNK_MAX_LENGTH or PIER_CHUNK_MIN_LENGTH set them: chunking clients
// pick chunks that fit, and a larger body that reaches Pier gets a 413
// SIZE_INVALID error that says how to push in chunks. The minimum is not
// 4 MiB too: clients (the OCI conformance suite among them) size what they
// push by it, and a monolithic push of a few minimum chunks must still fit
// in one request; Pier merges small chunks into S3 parts anyway.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/pier-registry/pier/internal/apigw"
	"github.com/pier-registry/pier/internal/config"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/server"
)

// Chunk lengths advertised on Lambda. The maximum is the largest power of
// two whose base64 form fits in a 6 MB invocation payload with the event
// around it.
const (
	chunkMaxLength = 4 << 20
	chunkMinLength = 1 << 20
)

func main() {
	start := time.Now()
	f, err := newFunction(context.Background(), config.Getenv, os.Stderr)
	if err != nil {
		slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("cannot start", "error", err.Error())
		os.Exit(1)
	}
	f.log.Info("ready", "backend", f.cfg.Backend, "chunk_min_length", f.cfg.ChunkMinLength,
		"chunk_max_length", f.cfg.ChunkMaxLength, "init_ms", float64(time.Since(start).Microseconds())/1000)
	lambda.Start(f.handler)
}

// function is what the cold start builds.
type function struct {
	cfg     config.Config
	log     *slog.Logger
	server  *server.Server
	handler *apigw.Handler
}

// newFunction reads the configuration from getenv, logs JSON lines to
// logOut and builds the registry and its Lambda handler.
func newFunction(ctx context.Context, getenv func(string) string, logOut io.Writer) (*function, error) {
	cfg, err := lambdaConfig(getenv)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger(logOut)
	slog.SetDefault(log)
	s, err := server.New(ctx, cfg, log, registry.Options{
		ChunkMinLength: cfg.ChunkMinLength,
		ChunkMaxLength: cfg.ChunkMaxLength,
	})
	if err != nil {
		return nil, err
	}
	return &function{cfg: cfg, log: log, server: s, handler: apigw.NewHandler(s.Handler)}, nil
}

// lambdaConfig is config.FromLambdaEnv (the aws backend, a CloudWatch
// EMF line per request on stdout) with chunks of chunkMinLength to
// chunkMaxLength. A variable that is set, to any value, wins.
func lambdaConfig(getenv func(string) string) (config.Config, error) {
	cfg, err := config.FromLambdaEnv(getenv, map[string]string{
		"PIER_CHUNK_MAX_LENGTH": strconv.Itoa(chunkMaxLength),
		"PIER_CHUNK_MIN_LENGTH": strconv.Itoa(chunkMinLength),
	})
	if err != nil {
		return config.Config{}, fmt.Errorf("configuration: %w", err)
	}
	return cfg, nil
}
