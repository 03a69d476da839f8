package storetest

import (
	"slices"
	"sort"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

func testRepositories(t *testing.T, m store.Metadata) {
	got, err := m.Repositories(ctx, "", 10)
	if err != nil || len(got) != 0 {
		t.Fatalf("Repositories of an empty store = %q, %v; want none", got, err)
	}

	names := []string{"z", "library/alpine", "a/b", "a", "a-b", "a/b/c", "A", "ab", "library/ubuntu", "0"}
	for i, name := range names {
		if i%2 == 0 {
			putManifest(t, m, name, manifest(name), "latest")
		} else {
			if err := m.LinkBlob(ctx, name, digestOf(digest.SHA256, []byte(name)), store.BlobLink{Size: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// More records in a repository do not repeat it.
	putManifest(t, m, "a", manifest("a again"), "v2")
	// An upload does not make a repository.
	if err := m.CreateUpload(ctx, store.Upload{ID: newID(), Repository: "uploading"}); err != nil {
		t.Fatal(err)
	}
	all := slices.Clone(names)
	sort.Strings(all)

	for _, tt := range []struct {
		last string
		n    int
	}{
		{"", 100},
		{"", len(all)},
		{"", 3},
		{"", 0},
		{"a", 100},
		{"a/b", 2},
		{"a/", 2},
		{"b", 100},
		{"library", 1},
		{"z", 10},
		{"zz", 10},
	} {
		got, err := m.Repositories(ctx, tt.last, tt.n)
		if err != nil {
			t.Fatalf("Repositories(%q, %d): %v", tt.last, tt.n, err)
		}
		wantPage(t, "Repositories", got, all, tt.last, tt.n)
	}

	list := func(last string, n int) ([]string, error) { return m.Repositories(ctx, last, n) }
	for _, n := range []int{1, 4} {
		got := allPages(t, "Repositories", n, len(all), list, itself)
		if !slices.Equal(got, all) {
			t.Errorf("n=%d: pages = %q, want %q", n, got, all)
		}
	}
}
