package storetest

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// wantManifest fails t unless got is want. A Body, when got has one, must be
// want's.
func wantManifest(t *testing.T, what string, got, want store.Manifest) {
	t.Helper()
	if got.Digest != want.Digest || got.MediaType != want.MediaType || got.Size != want.Size ||
		got.ArtifactType != want.ArtifactType || got.Subject != want.Subject ||
		!maps.Equal(got.Annotations, want.Annotations) {
		t.Fatalf("%s = %+v, want %+v", what, withoutBody(got), withoutBody(want))
	}
	if got.Body != nil && !bytes.Equal(got.Body, want.Body) {
		t.Fatalf("%s: body %q, want %q", what, got.Body, want.Body)
	}
}

// wantManifestIn fails t unless repo holds want.
func wantManifestIn(t *testing.T, m store.Metadata, repo string, want store.Manifest) {
	t.Helper()
	got, err := m.Manifest(ctx, repo, want.Digest)
	if err != nil {
		t.Fatalf("Manifest(%s, %s): %v", repo, want.Digest, err)
	}
	wantManifest(t, fmt.Sprintf("Manifest(%s, %s)", repo, want.Digest), got, want)
}

// wantNoManifest fails t unless repo does not hold d.
func wantNoManifest(t *testing.T, m store.Metadata, repo string, d digest.Digest) {
	t.Helper()
	_, err := m.Manifest(ctx, repo, d)
	wantErr(t, fmt.Sprintf("Manifest(%s, %s)", repo, d), err, store.ErrNotFound)
}

func testPutManifest(t *testing.T, m store.Metadata) {
	for _, tt := range []struct {
		name string
		man  store.Manifest
		tags []string
	}{
		{"untagged", manifest("untagged"), nil},
		{"one tag", manifest("one tag"), []string{"latest"}},
		{"tags", manifest("tags"), []string{"v1", "v1.0", "v1.0.0"}},
		{"annotated", func() store.Manifest {
			m := manifest("annotated")
			m.ArtifactType = "application/vnd.example.thing"
			m.Annotations = map[string]string{"a": "1", "b": "2"}
			return m
		}(), []string{"annotated"}},
		{"referrer", referrer("referrer", manifest("subject").Digest, "application/vnd.example.sig"), []string{"sig"}},
		{"index", func() store.Manifest {
			m := manifest("index")
			m.MediaType = "application/vnd.oci.image.index.v1+json"
			return m
		}(), []string{"multi"}},
		{"no body", withoutBody(manifest("no body")), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const repo = "repo"
			putManifest(t, m, repo, tt.man, tt.tags...)
			wantManifestIn(t, m, repo, tt.man)
			for _, tag := range tt.tags {
				wantTag(t, m, repo, tag, tt.man)
			}
		})
	}
}

func testPutManifestAgain(t *testing.T, m store.Metadata) {
	subject := manifest("subject").Digest
	man := referrer("again", subject, "application/vnd.example.sig")
	putManifest(t, m, "repo", man, "a")

	// Putting it again replaces the record (and its referrer entry) and
	// adds tags; the tags it had stay.
	man.Annotations = map[string]string{"org.example.name": "again", "new": "yes"}
	putManifest(t, m, "repo", man, "b")
	wantManifestIn(t, m, "repo", man)
	wantTag(t, m, "repo", "a", man)
	wantTag(t, m, "repo", "b", man)
	wantTags(t, m, "repo", "a", "b")
	wantReferrers(t, m, "repo", subject, "", man)

	putManifest(t, m, "repo", man)
	wantTags(t, m, "repo", "a", "b")
	wantReferrers(t, m, "repo", subject, "", man)
}

func testManifestMissing(t *testing.T, m store.Metadata) {
	man := manifest("present")
	wantNoManifest(t, m, "repo", man.Digest)
	wantNoTag(t, m, "repo", "latest")
	putManifest(t, m, "repo", man, "latest")
	wantNoManifest(t, m, "repo", manifest("absent").Digest)
	wantNoTag(t, m, "repo", "other")
	wantNoTag(t, m, "repo", "Latest")
	wantNoManifest(t, m, "unknown", man.Digest)
	wantNoTag(t, m, "unknown", "latest")
}

func testDeleteManifest(t *testing.T, m store.Metadata) {
	subject := manifest("subject")
	doomed := referrer("doomed", subject.Digest, "application/vnd.example.sig")
	other := referrer("other", subject.Digest, "application/vnd.example.sig")
	kept := manifest("kept")
	putManifest(t, m, "repo", subject, "subject")
	putManifest(t, m, "repo", doomed, "a", "b", "z")
	putManifest(t, m, "repo", other)
	putManifest(t, m, "repo", kept, "c", "z2")
	// Moved away from doomed: stays.
	putManifest(t, m, "repo", kept, "b2")

	wantErr(t, "DeleteManifest", m.DeleteManifest(ctx, "repo", doomed.Digest), nil)
	wantNoManifest(t, m, "repo", doomed.Digest)
	for _, tag := range []string{"a", "b", "z"} {
		wantNoTag(t, m, "repo", tag)
	}
	wantTag(t, m, "repo", "c", kept)
	wantTags(t, m, "repo", "b2", "c", "subject", "z2")
	wantReferrers(t, m, "repo", subject.Digest, "", other)
	missing, err := m.MissingManifests(ctx, "repo", []digest.Digest{doomed.Digest, kept.Digest})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(missing, []digest.Digest{doomed.Digest}) {
		t.Fatalf("MissingManifests = %v, want [%s]", missing, doomed.Digest)
	}

	for _, tt := range []struct {
		repo string
		d    digest.Digest
	}{
		{"repo", doomed.Digest},
		{"repo", manifest("never").Digest},
		{"unknown", kept.Digest},
	} {
		err := m.DeleteManifest(ctx, tt.repo, tt.d)
		wantErr(t, fmt.Sprintf("DeleteManifest(%s, %s)", tt.repo, tt.d), err, store.ErrNotFound)
	}

	// The last referrer goes, and the subject, which has none left.
	wantErr(t, "DeleteManifest", m.DeleteManifest(ctx, "repo", other.Digest), nil)
	wantReferrers(t, m, "repo", subject.Digest, "")
	wantErr(t, "DeleteManifest", m.DeleteManifest(ctx, "repo", subject.Digest), nil)
	wantNoTag(t, m, "repo", "subject")
	wantTags(t, m, "repo", "b2", "c", "z2")

	// A deleted manifest can be put again.
	putManifest(t, m, "repo", doomed, "a")
	wantTag(t, m, "repo", "a", doomed)
	wantReferrers(t, m, "repo", subject.Digest, "", doomed)
}
