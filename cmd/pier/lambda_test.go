package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pier-registry/pier/internal/awstest"
)

// startLocalAPI runs scripts/local-api.sh (the Lambda function under the
// Runtime Interface Emulator behind the local API Gateway front) of kind
// http or rest on a free port, on the local AWS servers of the test run.
// env (VAR=VALUE) is more of the script's and the function's settings, and
// overrides the defaults here (PIER_BUCKET, PIER_TABLE_PREFIX): e.g.
// PIER_AUTH=token.
func startLocalAPI(t *testing.T, kind string, env ...string) *instance {
	t.Helper()
	awstest.Require(t)
	addr := freeAddr(t)
	cmd := exec.Command("../../scripts/local-api.sh")
	cmd.Env = append(os.Environ(), "PIER_LOCAL_API_KIND="+kind, "PIER_LOCAL_API_ADDR="+addr,
		"PIER_LOCAL_API_DIR="+t.TempDir(), "PIER_BUCKET=lambda-"+kind, "PIER_TABLE_PREFIX=lambda-"+kind+"-")
	cmd.Env = append(cmd.Env, env...) // the last value of a variable is the one used
	return launch(t, cmd, addr, "local-api.sh", syscall.SIGTERM, 120*time.Second, func(s *instance) bool {
		return strings.Contains(s.log.String(), "Pier on Lambda")
	})
}

// A layer pushed in one request larger than the Lambda path takes gets a
// quick answer that says it failed — what the front door answers beyond
// its limits, Pier's own 413 below them — and the same layer pushed in
// chunks round-trips byte-exact.
func TestLambdaPayloadLimit(t *testing.T) {
	// What each front door answers over its body limit: API Gateway's
	// fixed 413 (a REST API's REQUEST_TOO_LARGE cannot be customised),
	// Lambda's own 413 before a function URL.
	tooLarge := map[string]string{"http": "Request Entity Too Large", "rest": "Request Entity Too Large", "url": "Request must be smaller than"}
	// What it answers when it took the body but Lambda refuses the event
	// (over 6 MB once base64-encoded): API Gateway's 500 for an
	// invocation the Lambda API rejected, Lambda's 413 before a function
	// URL.
	refused := map[string]struct {
		status int
		body   string
	}{
		"http": {http.StatusInternalServerError, "Internal Server Error"},
		"rest": {http.StatusInternalServerError, "Internal server error"},
		"url":  {http.StatusRequestEntityTooLarge, "Request must be smaller than"},
	}
	for _, kind := range []string{"http", "rest", "url"} {
		t.Run(kind, func(t *testing.T) {
			s := startLocalAPI(t, kind)
			for _, tc := range []struct {
				name   string
				size   int
				status int
				// inBody is a piece of the answer's body.
				inBody string
			}{
				// Over API Gateway's 10 MiB.
				{"12 MiB", 12 << 20, http.StatusRequestEntityTooLarge, tooLarge[kind]},
				// Under 10 MiB, but over Lambda's 6 MB once base64-encoded.
				{"5 MiB", 5 << 20, refused[kind].status, refused[kind].body},
				// Reaches Pier, which takes at most 4 MiB in one request,
				// and says what to do.
				{"4 MiB + 1 KiB", 4<<20 + 1024, http.StatusRequestEntityTooLarge, "push with `pier push`"},
			} {
				blob := make([]byte, tc.size)
				rand.Read(blob)
				d := digestOf(blob)
				start := time.Now()
				req, _ := http.NewRequest("POST", s.url("/v2/limits/app/blobs/uploads/?digest="+d), bytes.NewReader(blob))
				req.Header.Set("Content-Type", "application/octet-stream")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.inBody) || !json.Valid(body) {
					t.Errorf("%s in one request: %s %s; want %d with %q in a JSON body", tc.name, resp.Status, body, tc.status, tc.inBody)
				}
				if took := time.Since(start); took > 10*time.Second {
					t.Errorf("%s: the answer took %s", tc.name, took)
				}

				got := pullRedirected(t, s, "limits/app", pushChunked(t, s, "limits/app", blob, 4<<20))
				if !bytes.Equal(got, blob) {
					t.Errorf("%s in 4 MiB chunks: %d bytes back, equal %v", tc.name, len(got), bytes.Equal(got, blob))
				}
			}
			resp := call(t, "POST", s.url("/v2/limits/app/blobs/uploads/"), nil)
			if min, max := resp.Header.Get("OCI-Chunk-Min-Length"), resp.Header.Get("OCI-Chunk-Max-Length"); max != fmt.Sprint(4<<20) || min == "" {
				t.Errorf("upload start advertises OCI-Chunk-Min-Length %q, OCI-Chunk-Max-Length %q; want a minimum and a 4 MiB maximum", min, max)
			}
		})
	}
}
