package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// An upload survives a restart of pier serve: the session, its bytes and
// its hash state are on disk.
func TestUploadSurvivesRestart(t *testing.T) {
	data := t.TempDir()
	blob := make([]byte, 3<<20)
	rand.Read(blob)
	digest := fmt.Sprintf("sha256:%x", sha256.Sum256(blob))
	half := len(blob) / 2

	s := startServer(t, data)
	resp, _ := do(t, http.MethodPost, s.url("/v2/restart/app/blobs/uploads/"), nil, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: status %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	resp, _ = do(t, http.MethodPatch, s.url(loc), map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("0-%d", half-1),
	}, blob[:half])
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH first half: status %d", resp.StatusCode)
	}
	s.stop(t)

	s = startServer(t, data)
	resp, _ = do(t, http.MethodGet, s.url(loc), nil, nil)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Range") != fmt.Sprintf("0-%d", half-1) {
		t.Fatalf("GET upload after restart: status %d, Range %q; want 204, 0-%d", resp.StatusCode, resp.Header.Get("Range"), half-1)
	}
	loc = resp.Header.Get("Location")
	resp, _ = do(t, http.MethodPatch, s.url(loc), map[string]string{
		"Content-Type":  "application/octet-stream",
		"Content-Range": fmt.Sprintf("%d-%d", half, len(blob)-1),
	}, blob[half:])
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH second half: status %d", resp.StatusCode)
	}
	loc = resp.Header.Get("Location")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	resp, _ = do(t, http.MethodPut, s.url(loc+sep+"digest="+digest), nil, nil)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT finishing the upload: status %d", resp.StatusCode)
	}
	resp, got := do(t, http.MethodGet, s.url("/v2/restart/app/blobs/"+digest), nil, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, blob) {
		t.Fatalf("GET blob: status %d, %d bytes equal=%v", resp.StatusCode, len(got), bytes.Equal(got, blob))
	}
}
