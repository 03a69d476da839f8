package storetest

import (
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// wantTag fails t unless tag names want in repo.
func wantTag(t *testing.T, m store.Metadata, repo, tag string, want store.Manifest) {
	t.Helper()
	got, err := m.Tag(ctx, repo, tag)
	if err != nil {
		t.Fatalf("Tag(%s, %s): %v", repo, tag, err)
	}
	wantManifest(t, fmt.Sprintf("Tag(%s, %s)", repo, tag), got, want)
}

// wantNoTag fails t unless tag is not in repo.
func wantNoTag(t *testing.T, m store.Metadata, repo, tag string) {
	t.Helper()
	_, err := m.Tag(ctx, repo, tag)
	wantErr(t, fmt.Sprintf("Tag(%s, %s)", repo, tag), err, store.ErrNotFound)
}

// wantTags fails t unless repo has exactly the tags want.
func wantTags(t *testing.T, m store.Metadata, repo string, want ...string) {
	t.Helper()
	got, err := m.Tags(ctx, repo, "", 1000)
	if err != nil {
		t.Fatalf("Tags(%s): %v", repo, err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Tags(%s) = %q, want %q", repo, got, want)
	}
}

func testRetag(t *testing.T, m store.Metadata) {
	m1, m2 := manifest("one"), manifest("two")
	putManifest(t, m, "repo", m1, "latest", "v1")
	wantTag(t, m, "repo", "latest", m1)
	putManifest(t, m, "repo", m2, "latest", "v2")
	wantTag(t, m, "repo", "latest", m2)
	wantTag(t, m, "repo", "v1", m1)
	wantTag(t, m, "repo", "v2", m2)
	wantManifestIn(t, m, "repo", m1)
	wantTags(t, m, "repo", "latest", "v1", "v2")

	// Moving a tag back to a manifest that is already there.
	putManifest(t, m, "repo", m1, "latest")
	wantTag(t, m, "repo", "latest", m1)
	wantTags(t, m, "repo", "latest", "v1", "v2")
}

func testDeleteTag(t *testing.T, m store.Metadata) {
	man := manifest("tagged")
	putManifest(t, m, "repo", man, "a", "b")
	for _, tt := range []struct {
		repo, tag string
		err       error
	}{
		{"repo", "a", nil},
		{"repo", "a", store.ErrNotFound},
		{"repo", "c", store.ErrNotFound},
		{"unknown", "b", store.ErrNotFound},
	} {
		err := m.DeleteTag(ctx, tt.repo, tt.tag)
		wantErr(t, fmt.Sprintf("DeleteTag(%s, %s)", tt.repo, tt.tag), err, tt.err)
	}
	wantNoTag(t, m, "repo", "a")
	wantTag(t, m, "repo", "b", man)
	wantManifestIn(t, m, "repo", man)
	wantTags(t, m, "repo", "b")
}

// byteOrderTags are tags whose byte order is not their case-insensitive
// or numeric order.
var byteOrderTags = []string{
	"v1", "V1", "latest", "1.0", "10.0", "9.0", "a", "_x", "b-1", "b.1", "b_1", "Z", "z", "v1.0", "v1-rc", "v10", "v2",
}

func testTags(t *testing.T, m store.Metadata) {
	man := manifest("tagged")
	putManifest(t, m, "repo", man, byteOrderTags...)
	all := slices.Clone(byteOrderTags)
	sort.Strings(all)
	wantTags(t, m, "repo", all...)

	for _, tt := range []struct {
		last string
		n    int
	}{
		{"", 0},
		{"", 1},
		{"", 5},
		{"", len(all)},
		{"", len(all) + 10},
		{"latest", 3},
		{"latest", 100},
		{"latest", 0},
		{"b", 2},   // not a tag
		{"V", 100}, // not a tag
		{all[len(all)-1], 10},
		{"~", 10}, // after every tag
		{"0", 100},
	} {
		got, err := m.Tags(ctx, "repo", tt.last, tt.n)
		if err != nil {
			t.Fatalf("Tags(last=%q, n=%d): %v", tt.last, tt.n, err)
		}
		wantPage(t, "Tags", got, all, tt.last, tt.n)
	}

	list := func(last string, n int) ([]string, error) { return m.Tags(ctx, "repo", last, n) }
	for _, n := range []int{1, 2, 3, 7} {
		got := allPages(t, "Tags", n, len(all), list, itself)
		if !slices.Equal(got, all) {
			t.Errorf("n=%d: pages = %q, want %q", n, got, all)
		}
	}
}

// testTagsRepository checks that Tags tells an unknown repository from one
// without tags.
func testTagsRepository(t *testing.T, m store.Metadata) {
	_, err := m.Tags(ctx, "unknown", "", 10)
	wantErr(t, "Tags of an unknown repository", err, store.ErrNotFound)
	_, err = m.Tags(ctx, "unknown", "", 0)
	wantErr(t, "Tags(n=0) of an unknown repository", err, store.ErrNotFound)

	// A repository exists from its first blob link on.
	if err := m.LinkBlob(ctx, "linked", digestOf(digest.SHA256, []byte("layer")), store.BlobLink{Size: 5}); err != nil {
		t.Fatal(err)
	}
	wantTags(t, m, "linked")

	// Or from its first manifest on, tagged or not.
	putManifest(t, m, "untagged", manifest("untagged"))
	wantTags(t, m, "untagged")

	// And stays when its tags go.
	putManifest(t, m, "tagged", manifest("tagged"), "t")
	if err := m.DeleteTag(ctx, "tagged", "t"); err != nil {
		t.Fatal(err)
	}
	wantTags(t, m, "tagged")

	// An upload does not make a repository.
	if err := m.CreateUpload(ctx, store.Upload{ID: newID(), Repository: "uploading"}); err != nil {
		t.Fatal(err)
	}
	_, err = m.Tags(ctx, "uploading", "", 10)
	wantErr(t, "Tags of a repository with only an upload", err, store.ErrNotFound)
}
