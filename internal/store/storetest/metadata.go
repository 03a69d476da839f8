package storetest

import (
	"context"
	"fmt"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// TestMetadata runs the contract tests of store.Metadata against the stores
// that open returns.
func TestMetadata(t *testing.T, open func(t *testing.T) store.Metadata) {
	tests := []subtest[store.Metadata]{
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
	runSubtests(t, open, tests)
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

func digests(ms []store.Manifest) []digest.Digest {
	var ds []digest.Digest
	for _, m := range ms {
		ds = append(ds, m.Digest)
	}
	return ds
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
