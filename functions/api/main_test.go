package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func TestLambdaConfig(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		backend  string
		min, max int64
		err      string
	}{
		{name: "aws by default, which needs a bucket", env: map[string]string{}, err: "PIER_BUCKET"},
		{name: "aws, chunks of 1 to 4 MiB", env: map[string]string{"PIER_BUCKET": "b"}, backend: "aws", min: 1 << 20, max: 4 << 20},
		{name: "local", env: map[string]string{"PIER_BACKEND": "local"}, backend: "local", min: 1 << 20, max: 4 << 20},
		{name: "smaller max", env: map[string]string{"PIER_BUCKET": "b", "PIER_CHUNK_MAX_LENGTH": "2097152"},
			backend: "aws", min: 1 << 20, max: 2 << 20},
		{name: "explicit min", env: map[string]string{"PIER_BUCKET": "b", "PIER_CHUNK_MIN_LENGTH": "2097152"}, backend: "aws", min: 2 << 20, max: 4 << 20},
		{name: "explicit 0 min: none advertised", env: map[string]string{"PIER_BUCKET": "b", "PIER_CHUNK_MIN_LENGTH": "0"}, backend: "aws", min: 0, max: 4 << 20},
		{name: "explicit 0 max: no limit", env: map[string]string{"PIER_BUCKET": "b", "PIER_CHUNK_MAX_LENGTH": "0"}, backend: "aws", min: 1 << 20, max: 0},
		{name: "explicit min over explicit max", env: map[string]string{"PIER_BUCKET": "b", "PIER_CHUNK_MIN_LENGTH": "5000000", "PIER_CHUNK_MAX_LENGTH": "4000000"}, err: "above the max"},
		{name: "bad value", env: map[string]string{"PIER_BUCKET": "b", "PIER_PRESIGN_TTL": "soon"}, err: "PIER_PRESIGN_TTL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := lambdaConfig(func(k string) string { return tt.env[k] })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one about %s", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Backend != tt.backend || cfg.ChunkMinLength != tt.min || cfg.ChunkMaxLength != tt.max {
				t.Errorf("backend %s, chunks %d..%d; want %s, %d..%d", cfg.Backend, cfg.ChunkMinLength, cfg.ChunkMaxLength, tt.backend, tt.min, tt.max)
			}
		})
	}
}

// TestAWSColdStart builds the function with its defaults (the aws
// backend, auth on): the cold start makes no request to AWS but for the
// signing key, which in AWS is one Secrets Manager read and here a file.
func TestAWSColdStart(t *testing.T) {
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1") // nothing listens: a request would fail
	env := map[string]string{"PIER_BUCKET": "pier-blobs", "PIER_TABLE_PREFIX": "pier-",
		"PIER_AUTH_KEY_FILE": filepath.Join(t.TempDir(), "auth.key")}
	f, err := newFunction(context.Background(), func(k string) string { return env[k] }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer f.server.Close()
	if f.cfg.Backend != "aws" || f.handler == nil {
		t.Errorf("backend %q, handler %v", f.cfg.Backend, f.handler)
	}
	// A request that needs no storage is answered: auth is on by
	// default, so the ping is a 401 challenge pointing at the token
	// endpoint on the host the client used.
	out, err := f.handler.Invoke(context.Background(), []byte(`{"version":"2.0","rawPath":"/v2/","headers":{"host":"r.example.com","x-forwarded-proto":"https"},"requestContext":{"requestId":"r1","http":{"method":"GET"}}}`))
	if err != nil || !bytes.Contains(out, []byte(`"statusCode":401`)) || !bytes.Contains(out, []byte(`Bearer realm=\"https://r.example.com/v2/token\"`)) {
		t.Errorf("ping: %s, %v", out, err)
	}
}

// TestBodyOverLimit pushes a blob larger than the 4 MiB a request may
// carry on Lambda in one request (PATCH and monolithic POST), through both
// payload formats: the answer is 413 SIZE_INVALID, saying how to push in
// chunks. A chunk of exactly 4 MiB is taken.
func TestBodyOverLimit(t *testing.T) {
	s := seed(t)
	over := bytes.Repeat([]byte{0xa5}, 4<<20+1)
	exact := over[:4<<20]
	tests := []struct {
		name   string
		method string
		path   string
		query  string
		body   []byte
		status int
	}{
		{name: "PATCH over", method: "PATCH", path: "/v2/" + repo + "/blobs/uploads/{id}", body: over, status: 413},
		{name: "monolithic POST over", method: "POST", path: "/v2/" + repo + "/blobs/uploads/", query: "digest=sha256%3A" + strings.Repeat("0", 64), body: over, status: 413},
		{name: "PATCH of 4 MiB", method: "PATCH", path: "/v2/" + repo + "/blobs/uploads/{id}", body: exact, status: 202},
	}
	for _, tt := range tests {
		for _, format := range []string{"v1", "v2"} {
			t.Run(tt.name+"/"+format, func(t *testing.T) {
				u, err := s.f.server.Registry.StartUpload(context.Background(), repo, "")
				if err != nil {
					t.Fatal(err)
				}
				path := strings.ReplaceAll(tt.path, "{id}", u.ID)
				body := base64.StdEncoding.EncodeToString(tt.body)
				var payload []byte
				if format == "v2" {
					payload, _ = json.Marshal(events.APIGatewayV2HTTPRequest{
						Version: "2.0", RawPath: path, RawQueryString: tt.query,
						Headers:         map[string]string{"content-type": "application/octet-stream", "host": "abc123.execute-api.us-east-1.amazonaws.com"},
						Body:            body,
						IsBase64Encoded: true,
						RequestContext: events.APIGatewayV2HTTPRequestContext{Stage: "$default", RequestID: "r-" + format,
							HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: tt.method, Path: path}},
					})
				} else {
					q := map[string][]string{}
					if tt.query != "" {
						q["digest"] = []string{"sha256:" + strings.Repeat("0", 64)}
					}
					payload, _ = json.Marshal(events.APIGatewayProxyRequest{
						Path: path, HTTPMethod: tt.method, MultiValueQueryStringParameters: q,
						MultiValueHeaders: map[string][]string{"Content-Type": {"application/octet-stream"}},
						Body:              body, IsBase64Encoded: true,
						RequestContext: events.APIGatewayProxyRequestContext{Stage: "prod", RequestID: "r-" + format,
							DomainName: "abc123.execute-api.us-east-1.amazonaws.com"},
					})
				}
				a := s.invoke(t, format, payload)
				if a.status != tt.status {
					t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
				}
				if tt.status != 413 {
					return
				}
				var e struct {
					Errors []struct{ Code, Message string }
				}
				if err := json.Unmarshal(a.body, &e); err != nil || len(e.Errors) != 1 || e.Errors[0].Code != "SIZE_INVALID" ||
					!strings.Contains(e.Errors[0].Message, "4194304") || !strings.Contains(e.Errors[0].Message, "chunks") {
					t.Errorf("body %s", a.body)
				}
			})
		}
	}
}
