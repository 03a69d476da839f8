package httpapi_test

import (
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store/local/localtest"
	"github.com/pier-registry/pier/internal/syncbuf"
)

// TestClientAbortLogged: a client that goes away in the middle of a
// request body is logged as a client abort (status 499, the body's
// error), not as a server error (500 and an ERROR line).
func TestClientAbortLogged(t *testing.T) {
	_, blobs, meta := localtest.Open(t)
	var logs syncbuf.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ts := httptest.NewServer(httpapi.New(registry.New(blobs, meta, registry.Options{}), httpapi.Options{Logger: log}))
	t.Cleanup(ts.Close)
	addr := strings.TrimPrefix(ts.URL, "http://")

	for _, tc := range []struct{ name, request string }{
		{"monolithic upload", "POST /v2/team/app/blobs/uploads/?digest=" + digest.FromString("x").String() + " HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n0123456789"},
		{"chunked upload", "POST /v2/team/app/blobs/uploads/?digest=" + digest.FromString("y").String() + " HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n0123456789"},
		{"manifest", "PUT /v2/team/app/manifests/v1 HTTP/1.1\r\nHost: h\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: 1000\r\n\r\n{\"schemaVersion\":2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := len(logs.String())
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprint(conn, tc.request)
			time.Sleep(50 * time.Millisecond)
			conn.Close()
			var line string
			for deadline := time.Now().Add(5 * time.Second); line == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
				for l := range strings.SplitSeq(logs.String()[start:], "\n") {
					if strings.Contains(l, `"msg":"request"`) {
						line = l
					}
				}
			}
			if line == "" {
				t.Fatalf("no request log line:\n%s", logs.String()[start:])
			}
			if !strings.Contains(line, `"status":499`) || !strings.Contains(line, `"client_abort":`) {
				t.Errorf("request line %s: want status 499 and client_abort", line)
			}
			if got := logs.String()[start:]; strings.Contains(got, `"level":"ERROR"`) {
				t.Errorf("a client abort is logged as an error:\n%s", got)
			}
		})
	}
}
