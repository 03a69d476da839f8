package main

import (
	"net/http"
	"strings"
	"testing"
)

// TestLongListCursor: a last= cursor longer than any tag or repository
// name (or referrers cursor, or artifactType filter) gets a clear 400 on both backends (DynamoDB refuses sort keys over
// 1 KB: it was a 500 on the aws backend), and a real cursor still works.
func TestLongListCursor(t *testing.T) {
	for _, backend := range []string{"local", "aws"} {
		t.Run(backend, func(t *testing.T) {
			var s *instance
			if backend == "aws" {
				s = awsServer(t)
			} else {
				s = startServer(t, t.TempDir())
			}
			blob := []byte("cursor test")
			if resp, body := do(t, http.MethodPost, s.url("/v2/team/app/blobs/uploads/?digest="+digestOf(blob)), nil, blob); resp.StatusCode != http.StatusCreated {
				t.Fatalf("push blob: %s %s", resp.Status, body)
			}
			long := strings.Repeat("a", 2048)
			for _, path := range []string{
				"/v2/team/app/tags/list?last=" + long,
				"/v2/team/app/tags/list?n=10&last=" + long,
				"/v2/_catalog?last=" + long,
				"/v2/_catalog?n=10&last=" + long,
				"/v2/team/app/tags/list?last=%ff%fe",
				"/v2/_catalog?last=%ff%fe",
				"/v2/team/app/referrers/" + digestOf(blob) + "?last=" + long,
				"/v2/team/app/referrers/" + digestOf(blob) + "?artifactType=" + long,
			} {
				resp, body := do(t, http.MethodGet, s.url(path), nil, nil)
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), `"code":"UNSUPPORTED"`) {
					t.Errorf("GET %.60s...: %s %.300s; want 400 UNSUPPORTED", path, resp.Status, body)
				}
			}
			resp, body := do(t, http.MethodGet, s.url("/v2/_catalog?n=10&last=team/a"), nil, nil)
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"team/app"`) {
				t.Errorf("catalog after team/a: %s %s", resp.Status, body)
			}
		})
	}
}
