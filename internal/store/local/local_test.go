package local_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/local"
	"github.com/pier-registry/pier/internal/store/storetest"
)

var ctx = context.Background()

func TestBlobs(t *testing.T) {
	storetest.TestBlobs(t, func(t *testing.T) store.Blobs {
		return openBlobs(t, t.TempDir())
	})
}

func TestMetadata(t *testing.T) {
	storetest.TestMetadata(t, func(t *testing.T) store.Metadata {
		return openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	})
}

func TestIdentities(t *testing.T) {
	storetest.TestIdentities(t, func(t *testing.T) store.Identities {
		return openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	})
}

func TestSiteIndexes(t *testing.T) {
	storetest.TestSiteIndexes(t, func(t *testing.T) store.SiteIndexes {
		return openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	})
}

func openBlobs(t *testing.T, dir string) *local.Blobs {
	t.Helper()
	b, err := local.OpenBlobs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openMetadata(t *testing.T, path string) *local.Metadata {
	t.Helper()
	m, err := local.OpenMetadata(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// dirNames returns the names in dir, or nil when it does not exist.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// TestReopen checks that what the stores hold, an unfinished upload
// included, survives closing and opening them again.
func TestReopen(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "pier.db")
	m, err := local.OpenMetadata(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	b := openBlobs(t, dir)

	layer := []byte("layer bytes")
	ld := digest.FromBytes(layer)
	if _, err := b.Put(ctx, ld, bytes.NewReader(layer)); err != nil {
		t.Fatal(err)
	}
	if err := m.LinkBlob(ctx, "repo", ld, store.BlobLink{Size: int64(len(layer))}); err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"schemaVersion":2}`)
	man := store.Manifest{Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(len(body)), Body: body}
	if err := m.PutManifest(ctx, "repo", man, []string{"latest"}); err != nil {
		t.Fatal(err)
	}
	state, _, err := b.WriteChunk(ctx, "abc12300000000000000000000000000", nil, 0, strings.NewReader("first,"))
	if err != nil {
		t.Fatal(err)
	}
	u := store.Upload{ID: "abc12300000000000000000000000000", Repository: "repo", Offset: 6, State: state, Version: 1, Expires: time.Now().Add(time.Hour)}
	if err := m.CreateUpload(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m = openMetadata(t, dbPath)
	b = openBlobs(t, dir)
	if got, err := m.Tag(ctx, "repo", "latest"); err != nil || got.Digest != man.Digest || !bytes.Equal(got.Body, body) {
		t.Fatalf("Tag after reopen = %+v, %v", got, err)
	}
	if link, err := m.Blob(ctx, "repo", ld); err != nil || link.Size != int64(len(layer)) {
		t.Fatalf("Blob after reopen = %+v, %v", link, err)
	}
	if repos, err := m.Repositories(ctx, "", 10); err != nil || len(repos) != 1 || repos[0] != "repo" {
		t.Fatalf("Repositories after reopen = %q, %v", repos, err)
	}
	got, err := m.Upload(ctx, "abc12300000000000000000000000000")
	if err != nil {
		t.Fatalf("Upload after reopen: %v", err)
	}
	if got.Offset != 6 || got.Version != 1 || !bytes.Equal(got.State, state) {
		t.Fatalf("Upload after reopen = %+v", got)
	}

	// The upload goes on where it was.
	state, _, err = b.WriteChunk(ctx, got.ID, got.State, got.Offset, strings.NewReader("second"))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("first,second")
	d := digest.FromBytes(want)
	if _, err := b.Commit(ctx, got.ID, state, d); err != nil {
		t.Fatal(err)
	}
	r, err := b.Open(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if data, _ := io.ReadAll(r); !bytes.Equal(data, want) {
		t.Fatalf("blob = %q, want %q", data, want)
	}
}

// TestLayout checks where blobs and staged chunks are, and that Commit and
// Abort leave no staging behind.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	b := openBlobs(t, dir)
	data := []byte("laid out")
	for _, alg := range []digest.Algorithm{digest.SHA256, digest.SHA512} {
		d := alg.FromBytes(data)
		if _, err := b.Put(ctx, d, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, "blobs", alg.String(), d.Encoded()))
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("blob file of %s = %q, %v", d, got, err)
		}
	}
	if names := dirNames(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Fatalf("tmp holds %q after Put", names)
	}
	// A failed Put leaves nothing behind.
	if _, err := b.Put(ctx, digest.FromString("x"), strings.NewReader("y")); !errors.Is(err, store.ErrDigestMismatch) {
		t.Fatalf("Put of wrong bytes: %v", err)
	}
	if names := dirNames(t, filepath.Join(dir, "tmp")); len(names) != 0 {
		t.Fatalf("tmp holds %q after a failed Put", names)
	}

	// A chunk that fails, or is empty, leaves no file.
	if _, _, err := b.WriteChunk(ctx, "fa11ed00000000000000000000000000", nil, 0, io.MultiReader(strings.NewReader("some"), iotest.ErrReader(errors.New("boom")))); err == nil {
		t.Fatal("WriteChunk of a failing reader: no error")
	}
	if _, _, err := b.WriteChunk(ctx, "fa11ed00000000000000000000000000", nil, 0, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, filepath.Join(dir, "uploads", "fa11ed00000000000000000000000000")); len(names) != 0 {
		t.Fatalf("uploads/failed holds %q", names)
	}

	for _, tt := range []struct {
		name   string
		chunks []string
		abort  bool
	}{
		{"commit one", []string{"one"}, false},
		{"commit two", []string{"one,", "two"}, false},
		{"commit none", nil, false},
		{"abort", []string{"one,", "two"}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := store.NewUploadID()
			uploadDir := filepath.Join(dir, "uploads", id)
			var state []byte
			var off int64
			for _, c := range tt.chunks {
				var err error
				// A loser's chunk at every offset.
				if _, _, err = b.WriteChunk(ctx, id, state, off, strings.NewReader("lost")); err != nil {
					t.Fatal(err)
				}
				if state, _, err = b.WriteChunk(ctx, id, state, off, strings.NewReader(c)); err != nil {
					t.Fatal(err)
				}
				off += int64(len(c))
			}
			if got := len(dirNames(t, uploadDir)); got != 2*len(tt.chunks) {
				t.Fatalf("%d staged files, want %d", got, 2*len(tt.chunks))
			}
			var err error
			if tt.abort {
				err = b.Abort(ctx, id, state)
			} else {
				_, err = b.Commit(ctx, id, state, digest.FromString(strings.Join(tt.chunks, "")))
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(uploadDir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("%s left behind: %v", uploadDir, err)
			}
		})
	}
}

// TestUploadIDs checks that an id that is not an upload id
// (store.CheckUploadID) is refused before it reaches a path.
func TestUploadIDs(t *testing.T) {
	dir := t.TempDir()
	b := openBlobs(t, filepath.Join(dir, "store"))
	for _, id := range []string{"", ".", "..", "../x", "a/b", "/abs", `a\b`, "a.b", "a b", "a\x00", strings.Repeat("a", 129),
		"a", "A-b_C", strings.Repeat("a", 128), "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcde/"} {
		if _, _, err := b.WriteChunk(ctx, id, nil, 0, strings.NewReader("x")); err == nil {
			t.Errorf("WriteChunk(%q): no error", id)
		}
		if _, err := b.Commit(ctx, id, nil, digest.FromString("")); err == nil {
			t.Errorf("Commit(%q): no error", id)
		}
		if err := b.Abort(ctx, id, nil); err == nil {
			t.Errorf("Abort(%q): no error", id)
		}
	}
	for _, id := range []string{"0123456789abcdef0123456789abcdef", store.NewUploadID()} {
		if _, _, err := b.WriteChunk(ctx, id, nil, 0, strings.NewReader("x")); err != nil {
			t.Errorf("WriteChunk(%q): %v", id, err)
		}
		if err := b.Abort(ctx, id, nil); err != nil {
			t.Errorf("Abort(%q): %v", id, err)
		}
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Fatalf("%s holds %q", dir, names)
	}
}

// TestBadState checks that a state that does not come from WriteChunk, or
// does not match the offset, is refused.
func TestBadState(t *testing.T) {
	dir := t.TempDir()
	b := openBlobs(t, dir)
	// A file the states below try to reach.
	secret := filepath.Join(dir, "uploads", "secret")
	if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	good, _, err := b.WriteChunk(ctx, "1d000000000000000000000000000000", nil, 0, strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	zeros := `"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="`
	for _, tt := range []struct {
		name   string
		state  string
		offset int64
	}{
		{"not JSON", "{", 0},
		{"an older form naming a file", `{"chunks":[{"name":"../secret","size":6}]}`, 6},
		{"negative size", `{"s":-1}`, -1},
		{"negative chunks", `{"s":6,"n":-1}`, 6},
		{"chunks without a chain", `{"s":6,"n":1}`, 6},
		{"a short chain", `{"s":6,"n":1,"c":"AAAA"}`, 6},
		{"unknown field", `{"s":6,"n":1,"c":` + zeros + `,"x":1}`, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := b.WriteChunk(ctx, "1d000000000000000000000000000000", []byte(tt.state), tt.offset, strings.NewReader("x")); err == nil {
				t.Error("WriteChunk: no error")
			}
			d := digest.FromString("secret")
			if _, err := b.Commit(ctx, "1d000000000000000000000000000000", []byte(tt.state), d); err == nil {
				t.Error("Commit: no error")
			}
			if _, err := b.Stat(ctx, d); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("Stat after Commit: %v", err)
			}
		})
	}

	// An offset that is not the size of the state.
	for _, off := range []int64{0, 2, 4} {
		if _, _, err := b.WriteChunk(ctx, "1d000000000000000000000000000000", good, off, strings.NewReader("x")); err == nil {
			t.Errorf("WriteChunk at %d after 3 bytes: no error", off)
		}
	}
	if _, _, err := b.WriteChunk(ctx, "1d000000000000000000000000000000", nil, 3, strings.NewReader("x")); err == nil {
		t.Error("WriteChunk at 3 of a new upload: no error")
	}

	// A missing chunk is store.ErrNotFound.
	if err := os.RemoveAll(filepath.Join(dir, "uploads", "1d000000000000000000000000000000")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Commit(ctx, "1d000000000000000000000000000000", good, digest.FromString("abc")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Commit of a removed chunk: %v, want ErrNotFound", err)
	}
	if data, err := os.ReadFile(secret); err != nil || string(data) != "secret" {
		t.Fatalf("secret = %q, %v", data, err)
	}
}

// TestInlineBody checks that bodies up to MaxInlineBody bytes are kept and
// longer ones dropped.
func TestInlineBody(t *testing.T) {
	m := openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	for _, size := range []int{1, local.MaxInlineBody, local.MaxInlineBody + 1, 4 << 20} {
		body := bytes.Repeat([]byte{'x'}, size)
		man := store.Manifest{Digest: digest.FromBytes(body), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: int64(size), Body: body}
		if err := m.PutManifest(ctx, "repo", man, []string{"t"}); err != nil {
			t.Fatal(err)
		}
		for _, get := range []func() (store.Manifest, error){
			func() (store.Manifest, error) { return m.Manifest(ctx, "repo", man.Digest) },
			func() (store.Manifest, error) { return m.Tag(ctx, "repo", "t") },
		} {
			got, err := get()
			if err != nil {
				t.Fatal(err)
			}
			if size <= local.MaxInlineBody && !bytes.Equal(got.Body, body) {
				t.Errorf("body of %d bytes: got %d bytes", size, len(got.Body))
			}
			if size > local.MaxInlineBody && got.Body != nil {
				t.Errorf("body of %d bytes: got %d bytes, want nil", size, len(got.Body))
			}
			if got.Size != int64(size) {
				t.Errorf("size %d, want %d", got.Size, size)
			}
		}
	}
}

// TestOpenLocked checks that a second OpenMetadata of an open file fails
// rather than waiting for ever.
func TestOpenLocked(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the lock timeout")
	}
	path := filepath.Join(t.TempDir(), "pier.db")
	openMetadata(t, path)
	start := time.Now()
	if m, err := local.OpenMetadata(path); err == nil {
		m.Close()
		t.Fatal("second OpenMetadata: no error")
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("second OpenMetadata took %s", d)
	}
}

// TestReplaceReferrer checks that putting a manifest again with another
// artifact type or subject moves its referrer entry.
func TestReplaceReferrer(t *testing.T) {
	m := openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	s1, s2 := digest.FromString("subject 1"), digest.FromString("subject 2")
	man := store.Manifest{Digest: digest.FromString("referrer"), MediaType: "application/vnd.oci.image.manifest.v1+json", Size: 8, Subject: s1, ArtifactType: "application/a"}
	if err := m.PutManifest(ctx, "repo", man, nil); err != nil {
		t.Fatal(err)
	}
	man.ArtifactType = "application/b"
	if err := m.PutManifest(ctx, "repo", man, nil); err != nil {
		t.Fatal(err)
	}
	if refs, err := m.Referrers(ctx, "repo", s1, "", "", 10); err != nil || len(refs) != 1 || refs[0].ArtifactType != "application/b" {
		t.Fatalf("Referrers(s1) = %+v, %v", refs, err)
	}
	man.Subject = s2
	if err := m.PutManifest(ctx, "repo", man, nil); err != nil {
		t.Fatal(err)
	}
	if refs, err := m.Referrers(ctx, "repo", s1, "", "", 10); err != nil || len(refs) != 0 {
		t.Fatalf("Referrers(s1) = %+v, %v", refs, err)
	}
	if refs, err := m.Referrers(ctx, "repo", s2, "", "", 10); err != nil || len(refs) != 1 {
		t.Fatalf("Referrers(s2) = %+v, %v", refs, err)
	}
}

func TestGCMetadata(t *testing.T) {
	storetest.TestGCMetadata(t, func(t *testing.T) store.Metadata {
		return openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	})
}

func TestGCBlobs(t *testing.T) {
	storetest.TestGCBlobs(t, func(t *testing.T) store.Blobs {
		return openBlobs(t, t.TempDir())
	})
}

func TestPolicies(t *testing.T) {
	storetest.TestPolicies(t, func(t *testing.T) store.Metadata {
		return openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	})
}

func TestRetention(t *testing.T) {
	storetest.TestRetention(t, func(t *testing.T) store.Metadata {
		return openMetadata(t, filepath.Join(t.TempDir(), "pier.db"))
	})
}

func TestRetentionLegacy(t *testing.T) {
	storetest.TestRetentionLegacy(t, func(t *testing.T) (store.Metadata, func() store.Metadata) {
		path := filepath.Join(t.TempDir(), "pier.db")
		m, err := local.OpenMetadata(path)
		if err != nil {
			t.Fatal(err)
		}
		forget := func() store.Metadata {
			// What an older Pier wrote: no times bucket in any repository.
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			db, err := bolt.Open(path, 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			err = db.Update(func(tx *bolt.Tx) error {
				repos := tx.Bucket([]byte("repositories"))
				return repos.ForEachBucket(func(k []byte) error {
					if repos.Bucket(k).Bucket([]byte("times")) == nil {
						return nil
					}
					return repos.Bucket(k).DeleteBucket([]byte("times"))
				})
			})
			if cerr := db.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				t.Fatal(err)
			}
			return openMetadata(t, path)
		}
		return m, forget
	})
}
