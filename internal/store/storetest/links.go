package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

func testLinks(t *testing.T, m store.Metadata) {
	d1 := digestOf(digest.SHA256, []byte("one"))
	d2 := digestOf(digest.SHA512, []byte("two"))
	for _, tt := range []struct {
		repo string
		d    digest.Digest
		link store.BlobLink
	}{
		{"repo", d1, store.BlobLink{Size: 3}},
		{"repo", d2, store.BlobLink{Size: 1 << 40, Location: "uploads/x/data"}},
		{"repo", d1, store.BlobLink{Size: 3}}, // again
		{"other", d1, store.BlobLink{Size: 3, Location: "elsewhere"}},
		{"other", d1, store.BlobLink{Size: 3}}, // replaced
		{"empty", digestOf(digest.SHA256, nil), store.BlobLink{}},
	} {
		if err := m.LinkBlob(ctx, tt.repo, tt.d, tt.link); err != nil {
			t.Fatalf("LinkBlob(%s, %s): %v", tt.repo, tt.d, err)
		}
		link, err := m.Blob(ctx, tt.repo, tt.d)
		if err != nil {
			t.Fatalf("Blob(%s, %s): %v", tt.repo, tt.d, err)
		}
		if link != tt.link {
			t.Fatalf("Blob(%s, %s) = %+v, want %+v", tt.repo, tt.d, link, tt.link)
		}
	}

	wantErr(t, "UnlinkBlob", m.UnlinkBlob(ctx, "repo", d1), nil)
	_, err := m.Blob(ctx, "repo", d1)
	wantErr(t, "Blob after UnlinkBlob", err, store.ErrNotFound)
	if link, err := m.Blob(ctx, "other", d1); err != nil || link.Size != 3 {
		t.Fatalf("Blob(other) after UnlinkBlob(repo) = %+v, %v; want 3", link, err)
	}
	if link, err := m.Blob(ctx, "repo", d2); err != nil || link.Size != 1<<40 || link.Location != "uploads/x/data" {
		t.Fatalf("Blob(repo, d2) = %+v, %v; want size %d at uploads/x/data", link, err, 1<<40)
	}
	for _, tt := range []struct {
		repo string
		d    digest.Digest
	}{
		{"repo", d1},
		{"repo", digestOf(digest.SHA256, []byte("never"))},
		{"unknown", d2},
	} {
		_, err := m.Blob(ctx, tt.repo, tt.d)
		wantErr(t, fmt.Sprintf("Blob(%s, %s)", tt.repo, tt.d), err, store.ErrNotFound)
		err = m.UnlinkBlob(ctx, tt.repo, tt.d)
		wantErr(t, fmt.Sprintf("UnlinkBlob(%s, %s)", tt.repo, tt.d), err, store.ErrNotFound)
	}

	// Linking it again.
	if err := m.LinkBlob(ctx, "repo", d1, store.BlobLink{Size: 3}); err != nil {
		t.Fatal(err)
	}
	if link, err := m.Blob(ctx, "repo", d1); err != nil || link.Size != 3 {
		t.Fatalf("Blob after relinking = %+v, %v; want 3", link, err)
	}
}

func testMissing(t *testing.T, m store.Metadata) {
	b1 := digestOf(digest.SHA256, []byte("b1"))
	b2 := digestOf(digest.SHA256, []byte("b2"))
	b3 := digestOf(digest.SHA512, []byte("b3"))
	m1, m2 := manifest("m1"), manifest("m2")
	for i, d := range []digest.Digest{b1, b3} {
		if err := m.LinkBlob(ctx, "repo", d, store.BlobLink{Size: int64(2 + i)}); err != nil {
			t.Fatal(err)
		}
	}
	putManifest(t, m, "repo", m1)

	for _, tt := range []struct {
		name      string
		manifests bool
		repo      string
		ds, want  []digest.Digest
	}{
		{"blobs: none asked", false, "repo", nil, nil},
		{"blobs: none missing", false, "repo", []digest.Digest{b3, b1}, nil},
		{"blobs: some missing", false, "repo", []digest.Digest{b2, b1, m1.Digest, b3, m2.Digest}, []digest.Digest{b2, m1.Digest, m2.Digest}},
		{"blobs: order kept", false, "repo", []digest.Digest{m2.Digest, b2, b1}, []digest.Digest{m2.Digest, b2}},
		{"blobs: unknown repository", false, "unknown", []digest.Digest{b1, b2}, []digest.Digest{b1, b2}},
		{"manifests: none asked", true, "repo", nil, nil},
		{"manifests: none missing", true, "repo", []digest.Digest{m1.Digest}, nil},
		{"manifests: some missing", true, "repo", []digest.Digest{b1, m2.Digest, m1.Digest}, []digest.Digest{b1, m2.Digest}},
		{"manifests: unknown repository", true, "unknown", []digest.Digest{m1.Digest, m2.Digest}, []digest.Digest{m1.Digest, m2.Digest}},
	} {
		var got []digest.Digest
		var err error
		if tt.manifests {
			got, err = m.MissingManifests(ctx, tt.repo, tt.ds)
		} else {
			var sizes map[digest.Digest]int64
			sizes, err = m.BlobSizes(ctx, tt.repo, tt.ds)
			for _, d := range tt.ds {
				if size, ok := sizes[d]; !ok {
					got = append(got, d)
				} else if want := map[digest.Digest]int64{b1: 2, b3: 3}[d]; size != want {
					t.Errorf("%s: BlobSizes says %s has %d bytes, want %d", tt.name, d, size, want)
				}
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != 0 || len(tt.want) != 0 {
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
			}
		}
	}
}
