package storetest

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// TestMetadata runs the contract tests of store.Metadata against the stores
// that open returns.
func TestMetadata(t *testing.T, open func(t *testing.T) store.Metadata) {
	tests := []struct {
		name string
		fn   func(t *testing.T, m store.Metadata)
	}{
		{"PutManifest", testPutManifest},
		{"PutManifestAgain", testPutManifestAgain},
		{"ManifestMissing", testManifestMissing},
		{"Retag", testRetag},
		{"DeleteTag", testDeleteTag},
		{"DeleteManifest", testDeleteManifest},
		{"Referrers", testReferrers},
		{"ReferrersPaging", testReferrersPaging},
		{"Tags", testTags},
		{"TagsRepository", testTagsRepository},
		{"Links", testLinks},
		{"Missing", testMissing},
		{"Repositories", testRepositories},
		{"Uploads", testUploads},
		{"UploadVersions", testUploadVersions},
		{"UploadExpiry", testUploadExpiry},
		{"UploadRace", testUploadRace},
		{"Isolation", testIsolation},
		{"Canceled", testMetadataCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// manifest returns a manifest record for a body made from name.
func manifest(name string) store.Manifest {
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","name":%q}`, name))
	return store.Manifest{
		Digest:    digest.FromBytes(body),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size:      int64(len(body)),
		Body:      body,
	}
}

// referrer returns a manifest made from name that refers to subject.
func referrer(name string, subject digest.Digest, artifactType string) store.Manifest {
	m := manifest(name)
	m.Subject = subject
	m.ArtifactType = artifactType
	m.Annotations = map[string]string{"org.example.name": name}
	return m
}

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

func withoutBody(m store.Manifest) store.Manifest {
	m.Body = nil
	return m
}

func putManifest(t *testing.T, m store.Metadata, repo string, man store.Manifest, tags ...string) {
	t.Helper()
	if err := m.PutManifest(ctx, repo, man, tags); err != nil {
		t.Fatalf("PutManifest(%s, %s, %q): %v", repo, man.Digest, tags, err)
	}
}

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

// wantReferrers fails t unless the referrers of subject in repo (all of
// them, of artifactType when it is not "") are want, in order.
func wantReferrers(t *testing.T, m store.Metadata, repo string, subject digest.Digest, artifactType string, want ...store.Manifest) {
	t.Helper()
	got, err := m.Referrers(ctx, repo, subject, artifactType, "", 1000)
	if err != nil {
		t.Fatalf("Referrers(%s, %s, %q): %v", repo, subject, artifactType, err)
	}
	wantReferrerList(t, fmt.Sprintf("Referrers(%s, %s, %q)", repo, subject, artifactType), got, want)
}

func wantReferrerList(t *testing.T, what string, got, want []store.Manifest) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %d manifests %v, want %d %v", what, len(got), digests(got), len(want), digests(want))
	}
	for i := range got {
		wantManifest(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i])
	}
}

func digests(ms []store.Manifest) []digest.Digest {
	var ds []digest.Digest
	for _, m := range ms {
		ds = append(ds, m.Digest)
	}
	return ds
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

// sortByReferrerKey sorts ms in the order of store.ReferrerKey.
func sortByReferrerKey(ms []store.Manifest) []store.Manifest {
	ms = slices.Clone(ms)
	sort.Slice(ms, func(i, j int) bool {
		return store.ReferrerKey(ms[i].ArtifactType, ms[i].Digest) < store.ReferrerKey(ms[j].ArtifactType, ms[j].Digest)
	})
	return ms
}

// ofType returns those of ms of artifactType.
func ofType(ms []store.Manifest, artifactType string) []store.Manifest {
	var out []store.Manifest
	for _, m := range ms {
		if m.ArtifactType == artifactType {
			out = append(out, m)
		}
	}
	return out
}

// referrerSet puts, in repo, referrers of subject of several artifact
// types (including one whose type extends another's, and none), and
// returns them in the order of store.ReferrerKey.
func referrerSet(t *testing.T, m store.Metadata, repo string, subject digest.Digest) []store.Manifest {
	var refs []store.Manifest
	for i, at := range []string{
		"application/vnd.example.sig", "application/vnd.example.sbom", "application/vnd.example.sig",
		"application/vnd.example.sig+json", "", "application/vnd.example.sbom", "application/vnd.example.sig",
		"application/vnd.example.si",
	} {
		r := referrer(fmt.Sprintf("%s/ref-%d", repo, i), subject, at)
		putManifest(t, m, repo, r)
		refs = append(refs, r)
	}
	// A referrer of another subject.
	putManifest(t, m, repo, referrer(repo+"/elsewhere", manifest("other subject").Digest, "application/vnd.example.sig"))
	return sortByReferrerKey(refs)
}

func testReferrers(t *testing.T, m store.Metadata) {
	subject := manifest("subject")
	// Referrers may come before their subject.
	refs := referrerSet(t, m, "repo", subject.Digest)
	putManifest(t, m, "repo", subject, "latest")

	for _, at := range []string{
		"", "application/vnd.example.sig", "application/vnd.example.sbom",
		"application/vnd.example.sig+json", "application/vnd.example.si",
		"application/vnd.example", "application/vnd.example.unknown",
	} {
		want := refs
		if at != "" {
			want = ofType(refs, at)
		}
		wantReferrers(t, m, "repo", subject.Digest, at, want...)
	}
	for _, tt := range []struct {
		name, repo string
		subject    digest.Digest
	}{
		{"subject without referrers", "repo", manifest("lonely").Digest},
		{"unknown repository", "unknown", subject.Digest},
	} {
		got, err := m.Referrers(ctx, tt.repo, tt.subject, "", "", 100)
		if err != nil {
			t.Fatalf("%s: Referrers: %v", tt.name, err)
		}
		if len(got) != 0 {
			t.Fatalf("%s: Referrers = %v, want none", tt.name, digests(got))
		}
	}
}

func testReferrersPaging(t *testing.T, m store.Metadata) {
	subject := manifest("subject").Digest
	refs := referrerSet(t, m, "repo", subject)
	for _, at := range []string{"", "application/vnd.example.sig", "application/vnd.example.sbom"} {
		want := refs
		if at != "" {
			want = ofType(refs, at)
		}
		for _, n := range []int{1, 2, 3, len(want), len(want) + 1} {
			t.Run(fmt.Sprintf("%q/%d", at, n), func(t *testing.T) {
				var got []store.Manifest
				after := ""
				for pages := 0; ; pages++ {
					if pages > len(want)+1 {
						t.Fatalf("more than %d pages", pages)
					}
					page, err := m.Referrers(ctx, "repo", subject, at, after, n)
					if err != nil {
						t.Fatal(err)
					}
					if len(page) > n {
						t.Fatalf("page of %d, want at most %d", len(page), n)
					}
					if len(page) == 0 {
						break
					}
					got = append(got, page...)
					last := page[len(page)-1]
					after = store.ReferrerKey(last.ArtifactType, last.Digest)
				}
				wantReferrerList(t, "pages", got, want)
			})
		}
	}

	// after need not be the key of a referrer, nor of artifactType.
	for _, tt := range []struct {
		artifactType, after string
	}{
		{"", "~"},
		{"", "!"},
		{"", "|"},
		{"", store.ReferrerPrefix("application/vnd.example.sig") + "~"},
		{"", store.ReferrerPrefix("application/vnd.example.sig")},
		{"", store.ReferrerPrefix("application/vnd.example.sig+json") + "~"},
		{"application/vnd.example.sbom", store.ReferrerPrefix("application/vnd.example.sbom") + "~"},
		{"application/vnd.example.sig", store.ReferrerPrefix("application/vnd.example.sbom") + "~"},
		{"application/vnd.example.sig", store.ReferrerPrefix("application/vnd.example.sig")},
		{"application/vnd.example.sig", "application/vnd.example.sig"},
		{"application/vnd.example.sbom", store.ReferrerPrefix("application/vnd.example.sig")},
		{"application/vnd.example.sig", store.ReferrerKey("application/vnd.example.sig", refs[0].Digest)},
		{"", store.ReferrerKey("application/vnd.example.sig", "sha256:8")},
	} {
		var want []store.Manifest
		for _, r := range refs {
			key := store.ReferrerKey(r.ArtifactType, r.Digest)
			if key > tt.after && (tt.artifactType == "" || r.ArtifactType == tt.artifactType) {
				want = append(want, r)
			}
		}
		got, err := m.Referrers(ctx, "repo", subject, tt.artifactType, tt.after, 100)
		if err != nil {
			t.Fatalf("Referrers(%q, after %q): %v", tt.artifactType, tt.after, err)
		}
		wantReferrerList(t, fmt.Sprintf("Referrers(%q, after %q)", tt.artifactType, tt.after), got, want)
	}

	got, err := m.Referrers(ctx, "repo", subject, "", "", 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("Referrers(n=0) = %v, %v; want none", digests(got), err)
	}
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
		var want []string
		for _, tag := range all {
			if tag > tt.last && len(want) < tt.n {
				want = append(want, tag)
			}
		}
		got, err := m.Tags(ctx, "repo", tt.last, tt.n)
		if err != nil {
			t.Fatalf("Tags(last=%q, n=%d): %v", tt.last, tt.n, err)
		}
		if len(got) != 0 || len(want) != 0 {
			if !slices.Equal(got, want) {
				t.Errorf("Tags(last=%q, n=%d) = %q, want %q", tt.last, tt.n, got, want)
			}
		}
	}

	for _, n := range []int{1, 2, 3, 7} {
		var got []string
		last := ""
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatalf("n=%d: more than %d pages", n, pages)
			}
			page, err := m.Tags(ctx, "repo", last, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > n {
				t.Fatalf("n=%d: page of %d", n, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			last = page[len(page)-1]
		}
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
		var want []string
		for _, name := range all {
			if name > tt.last && len(want) < tt.n {
				want = append(want, name)
			}
		}
		got, err := m.Repositories(ctx, tt.last, tt.n)
		if err != nil {
			t.Fatalf("Repositories(%q, %d): %v", tt.last, tt.n, err)
		}
		if len(got) != 0 || len(want) != 0 {
			if !slices.Equal(got, want) {
				t.Errorf("Repositories(%q, %d) = %q, want %q", tt.last, tt.n, got, want)
			}
		}
	}

	for _, n := range []int{1, 4} {
		var got []string
		last := ""
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatalf("n=%d: more than %d pages", n, pages)
			}
			page, err := m.Repositories(ctx, last, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) > n {
				t.Fatalf("n=%d: page of %d", n, len(page))
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			last = page[len(page)-1]
		}
		if !slices.Equal(got, all) {
			t.Errorf("n=%d: pages = %q, want %q", n, got, all)
		}
	}
}

// testUpload returns an upload session with every field set.
func testUpload(repo string) store.Upload {
	return store.Upload{
		ID:         newID(),
		Repository: repo,
		Offset:     0,
		Hash:       []byte("hash state\x00\x01\xff"),
		State:      []byte(`{"opaque":true}`),
		Version:    0,
		Expires:    time.Now().Add(time.Hour).Truncate(time.Second),
		Owner:      "alice",
	}
}

// wantUpload fails t unless session u.ID is u.
func wantUpload(t *testing.T, m store.Metadata, u store.Upload) {
	t.Helper()
	got, err := m.Upload(ctx, u.ID)
	if err != nil {
		t.Fatalf("Upload(%s): %v", u.ID, err)
	}
	if got.ID != u.ID || got.Repository != u.Repository || got.Offset != u.Offset ||
		!bytes.Equal(got.Hash, u.Hash) || !bytes.Equal(got.State, u.State) ||
		got.Version != u.Version || !got.Expires.Equal(u.Expires) || got.Owner != u.Owner {
		t.Fatalf("Upload(%s) = %+v, want %+v", u.ID, got, u)
	}
}

func wantNoUpload(t *testing.T, m store.Metadata, id string) {
	t.Helper()
	_, err := m.Upload(ctx, id)
	wantErr(t, fmt.Sprintf("Upload(%s)", id), err, store.ErrNotFound)
}

func testUploads(t *testing.T, m store.Metadata) {
	u := testUpload("repo")
	wantNoUpload(t, m, u.ID)
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
	wantUpload(t, m, u)

	// Another session is another record.
	v := testUpload("other")
	v.Hash, v.State, v.Owner = nil, nil, ""
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, v), nil)
	wantUpload(t, m, v)
	wantUpload(t, m, u)

	// A session id is used once.
	dup := testUpload("repo")
	dup.ID = u.ID
	dup.Owner = "mallory"
	err := m.CreateUpload(ctx, dup)
	wantErr(t, "CreateUpload of an existing id", err, store.ErrConflict)
	wantUpload(t, m, u)

	wantErr(t, "DeleteUpload", m.DeleteUpload(ctx, u.ID), nil)
	wantNoUpload(t, m, u.ID)
	wantUpload(t, m, v)
	wantErr(t, "DeleteUpload again", m.DeleteUpload(ctx, u.ID), nil)
	wantErr(t, "DeleteUpload of an unknown id", m.DeleteUpload(ctx, newID()), nil)
	u.Version = 1
	wantErr(t, "UpdateUpload after DeleteUpload", m.UpdateUpload(ctx, u), store.ErrNotFound)
	wantNoUpload(t, m, newID())
}

func testUploadVersions(t *testing.T, m store.Metadata) {
	u := testUpload("repo")
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)

	next := func(u store.Upload, chunk string) store.Upload {
		u.Offset += int64(len(chunk))
		u.Hash = append(slices.Clone(u.Hash), chunk...)
		u.State = append(slices.Clone(u.State), chunk...)
		u.Version++
		return u
	}
	u1 := next(u, "first")
	wantErr(t, "UpdateUpload to version 1", m.UpdateUpload(ctx, u1), nil)
	wantUpload(t, m, u1)
	// A retry of that update (its answer lost after the store applied it)
	// succeeds and changes nothing; another update from version 0 (the
	// "from version 0" case below) still conflicts.
	wantErr(t, "UpdateUpload to version 1 again", m.UpdateUpload(ctx, u1), nil)
	wantUpload(t, m, u1)

	for _, tt := range []struct {
		name    string
		version int64 // the stored version is 1
	}{
		{"from version 0", 1}, // another writer that read version 0
		{"unchanged", 0},
		{"skipping", 3},
		{"far ahead", 99},
		{"negative", -1},
	} {
		bad := next(u1, "bad")
		bad.Version = tt.version
		err := m.UpdateUpload(ctx, bad)
		wantErr(t, fmt.Sprintf("UpdateUpload %s (version %d)", tt.name, bad.Version), err, store.ErrConflict)
		wantUpload(t, m, u1)
	}

	u2 := next(u1, "second")
	u2.Expires = u2.Expires.Add(time.Hour)
	wantErr(t, "UpdateUpload to version 2", m.UpdateUpload(ctx, u2), nil)
	wantUpload(t, m, u2)
}

func testUploadExpiry(t *testing.T, m store.Metadata) {
	for _, tt := range []struct {
		name    string
		expires time.Time
		found   bool
	}{
		{"past", time.Now().Add(-time.Minute).Truncate(time.Second), false},
		{"long past", time.Unix(1e9, 0), false},
		{"future", time.Now().Add(time.Hour).Truncate(time.Second), true},
		{"never", time.Time{}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u := testUpload("repo")
			u.Expires = tt.expires
			wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
			u1 := u
			u1.Version++
			u1.Offset = 10
			if tt.found {
				wantUpload(t, m, u)
				wantErr(t, "UpdateUpload", m.UpdateUpload(ctx, u1), nil)
				wantUpload(t, m, u1)
			} else {
				wantNoUpload(t, m, u.ID)
				wantErr(t, "UpdateUpload of an expired session", m.UpdateUpload(ctx, u1), store.ErrNotFound)
				wantNoUpload(t, m, u.ID)
			}
			wantErr(t, "DeleteUpload", m.DeleteUpload(ctx, u.ID), nil)
			wantNoUpload(t, m, u.ID)
		})
	}

	// A session updated with a past expiry is gone.
	u := testUpload("repo")
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
	u.Version++
	u.Expires = time.Now().Add(-time.Second).Truncate(time.Second)
	wantErr(t, "UpdateUpload", m.UpdateUpload(ctx, u), nil)
	wantNoUpload(t, m, u.ID)
}

// testUploadRace has 8 writers race to update one session from one
// version: exactly one wins.
func testUploadRace(t *testing.T, m store.Metadata) {
	const writers = 8
	u := testUpload("repo")
	wantErr(t, "CreateUpload", m.CreateUpload(ctx, u), nil)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Go(func() {
			v := u
			v.Version = 1
			v.Offset = int64(100 + i)
			errs[i] = m.UpdateUpload(ctx, v)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, fmt.Sprintf("writer %d", i), err, store.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	w := u
	w.Version = 1
	w.Offset = int64(100 + winner)
	wantUpload(t, m, w)
}

// testIsolation checks that what one repository holds, another does not.
func testIsolation(t *testing.T, m store.Metadata) {
	blob := digestOf(digest.SHA256, []byte("blob of a"))
	subject := manifest("subject")
	ref := referrer("ref", subject.Digest, "application/vnd.example.sig")
	if err := m.LinkBlob(ctx, "a", blob, store.BlobLink{Size: 9}); err != nil {
		t.Fatal(err)
	}
	putManifest(t, m, "a", subject, "latest")
	putManifest(t, m, "a", ref)
	putManifest(t, m, "b", manifest("b's own"), "own")

	_, err := m.Blob(ctx, "b", blob)
	wantErr(t, "Blob(b)", err, store.ErrNotFound)
	wantErr(t, "UnlinkBlob(b)", m.UnlinkBlob(ctx, "b", blob), store.ErrNotFound)
	if sizes, err := m.BlobSizes(ctx, "b", []digest.Digest{blob}); err != nil || len(sizes) != 0 {
		t.Fatalf("BlobSizes(b) = %v, %v; want none", sizes, err)
	}
	if missing, err := m.MissingManifests(ctx, "b", []digest.Digest{subject.Digest}); err != nil || len(missing) != 1 {
		t.Fatalf("MissingManifests(b) = %v, %v; want [%s]", missing, err, subject.Digest)
	}
	wantNoManifest(t, m, "b", subject.Digest)
	wantNoTag(t, m, "b", "latest")
	wantNoTag(t, m, "a", "own")
	wantTags(t, m, "b", "own")
	wantReferrers(t, m, "b", subject.Digest, "")
	wantErr(t, "DeleteManifest(b)", m.DeleteManifest(ctx, "b", subject.Digest), store.ErrNotFound)
	wantErr(t, "DeleteTag(b)", m.DeleteTag(ctx, "b", "latest"), store.ErrNotFound)

	// A prefix of a name is another repository.
	_, err = m.Tags(ctx, "a/", "", 10)
	wantErr(t, "Tags(a/)", err, store.ErrNotFound)
	wantNoManifest(t, m, "a/b", subject.Digest)

	// The same manifest in two repositories is two records.
	putManifest(t, m, "b", subject, "b-latest")
	putManifest(t, m, "b", ref)
	wantErr(t, "DeleteManifest(a)", m.DeleteManifest(ctx, "a", subject.Digest), nil)
	wantErr(t, "DeleteManifest(a, ref)", m.DeleteManifest(ctx, "a", ref.Digest), nil)
	wantManifestIn(t, m, "b", subject)
	wantTag(t, m, "b", "b-latest", subject)
	wantReferrers(t, m, "b", subject.Digest, "", ref)
	wantReferrers(t, m, "a", subject.Digest, "")
	wantTags(t, m, "a")
	if link, err := m.Blob(ctx, "a", blob); err != nil || link.Size != 9 {
		t.Fatalf("Blob(a) = %+v, %v; want 9", link, err)
	}
}

// testMetadataCanceled checks that a write with a canceled context fails
// and leaves nothing.
func testMetadataCanceled(t *testing.T, m store.Metadata) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	blob := digestOf(digest.SHA256, []byte("canceled"))
	if err := m.LinkBlob(cctx, "repo", blob, store.BlobLink{Size: 8}); err == nil {
		t.Fatal("LinkBlob with a canceled context: no error")
	}
	man := manifest("canceled")
	if err := m.PutManifest(cctx, "repo", man, []string{"latest"}); err == nil {
		t.Fatal("PutManifest with a canceled context: no error")
	}
	_, err := m.Tags(ctx, "repo", "", 10)
	wantErr(t, "Tags", err, store.ErrNotFound)
	_, err = m.Blob(ctx, "repo", blob)
	wantErr(t, "Blob", err, store.ErrNotFound)
}
