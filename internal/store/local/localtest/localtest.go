// Package localtest opens the embedded backend's stores for tests: one
// place for what every test of the registry, the sites, gc and the HTTP API
// needs first.
package localtest

import (
	"path/filepath"
	"testing"

	"github.com/pier-registry/pier/internal/store/local"
)

// Open opens the local blob and metadata stores in a fresh data directory,
// which it returns with them; the test's end closes the metadata store
// and fails the test if that fails.
func Open(t testing.TB) (dir string, blobs *local.Blobs, meta *local.Metadata) {
	t.Helper()
	dir = t.TempDir()
	blobs, err := local.OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	meta, err = local.OpenMetadata(filepath.Join(dir, "metadata.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := meta.Close(); err != nil {
			t.Errorf("close metadata: %v", err)
		}
	})
	return dir, blobs, meta
}
