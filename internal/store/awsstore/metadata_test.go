package awsstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/awstest"
	"github.com/pier-registry/pier/internal/randid"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/awsstore"
	"github.com/pier-registry/pier/internal/store/storetest"
)

// newMetadata returns a Metadata on a fresh table of the local DynamoDB
// server, deleted when t ends.
func newMetadata(t *testing.T) *awsstore.Metadata {
	t.Helper()
	awstest.Require(t)
	ctx := context.Background()
	c, err := awsstore.NewClients(ctx, awsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	m := awsstore.NewMetadata(c.DynamoDB, "pier-test-"+randid.Hex(6))
	if err := m.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.DeleteTable(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	return m
}

func TestMetadataContract(t *testing.T) {
	storetest.TestMetadata(t, func(t *testing.T) store.Metadata {
		return newMetadata(t)
	})
}

func TestIdentitiesContract(t *testing.T) {
	storetest.TestIdentities(t, func(t *testing.T) store.Identities {
		return newMetadata(t)
	})
}

func TestSiteIndexesContract(t *testing.T) {
	storetest.TestSiteIndexes(t, func(t *testing.T) store.SiteIndexes {
		return newMetadata(t)
	})
}

// TestIdentitiesRequests checks the number of DynamoDB requests of each
// method of store.Identities, as their documentation gives it.
func TestIdentitiesRequests(t *testing.T) {
	m := newMetadata(t)
	one := func(op string) map[string]int { return map[string]int{"dynamodb." + op: 1} }
	id := store.Identity{
		Name: "ci@example.com", Kind: store.KindRobot, Secret: "ab12",
		Grants:  []store.Grant{{Pattern: "team/*", Actions: []string{"pull", "push"}}},
		Created: time.Now(), Expires: time.Now().Add(time.Hour),
	}
	counted(t, "PutIdentity", one("PutItem"), func(ctx context.Context) error {
		return m.PutIdentity(ctx, id)
	})
	counted(t, "PutIdentity again", one("PutItem"), func(ctx context.Context) error {
		return m.PutIdentity(ctx, id)
	})
	counted(t, "Identity", one("GetItem"), func(ctx context.Context) error {
		got, err := m.Identity(ctx, id.Name)
		if err == nil && (got.Name != id.Name || len(got.Grants) != 1) {
			t.Errorf("Identity = %+v", got)
		}
		return err
	})
	counted(t, "Identity of a missing name", one("GetItem"), func(ctx context.Context) error {
		if _, err := m.Identity(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("error %v, want ErrNotFound", err)
		}
		return nil
	})
	counted(t, "ListIdentities", one("Query"), func(ctx context.Context) error {
		ids, err := m.ListIdentities(ctx)
		if err == nil && len(ids) != 1 {
			t.Errorf("ListIdentities = %d identities, want 1", len(ids))
		}
		return err
	})
	counted(t, "DeleteIdentity", one("DeleteItem"), func(ctx context.Context) error {
		return m.DeleteIdentity(ctx, id.Name)
	})
	counted(t, "DeleteIdentity of a missing name", one("DeleteItem"), func(ctx context.Context) error {
		if err := m.DeleteIdentity(ctx, id.Name); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("error %v, want ErrNotFound", err)
		}
		return nil
	})
	counted(t, "ListIdentities of none", one("Query"), func(ctx context.Context) error {
		ids, err := m.ListIdentities(ctx)
		if err == nil && len(ids) != 0 {
			t.Errorf("ListIdentities = %d identities, want none", len(ids))
		}
		return err
	})
}

// TestIdentitiesNotTTL checks that a robot's expiry is not kept in the
// table's TTL attribute, so that DynamoDB never deletes an identity.
func TestIdentitiesNotTTL(t *testing.T) {
	m := newMetadata(t)
	ctx := context.Background()
	id := store.Identity{Name: "old-robot", Kind: store.KindRobot, Secret: "ab12", Expires: time.Now().Add(-time.Hour)}
	if err := m.PutIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	c, err := awsstore.NewClients(ctx, awsstore.Config{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.DynamoDB.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(m.Table()),
		Key:            map[string]ddbtypes.AttributeValue{"pk": &ddbtypes.AttributeValueMemberS{Value: "identities"}, "sk": &ddbtypes.AttributeValueMemberS{Value: id.Name}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) == 0 {
		t.Fatal("no item at pk=identities, sk=old-robot")
	}
	if _, ok := out.Item["expires"]; ok {
		t.Fatal("the identity item has the TTL attribute expires")
	}
	got, err := m.Identity(ctx, id.Name)
	if err != nil || !got.Expires.Equal(id.Expires.Truncate(time.Second)) {
		t.Fatalf("Identity = %v (expires %s), %v; want expires %s", got.Name, got.Expires, err, id.Expires.Truncate(time.Second))
	}
}

// testManifest returns a manifest record whose body is made from name and
// padded to at least size bytes.
func testManifest(name string, size int) store.Manifest {
	body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","name":%q}`, name))
	if len(body) < size {
		body = append(body[:len(body)-1], fmt.Sprintf(`,"pad":%q}`, bytes.Repeat([]byte("x"), size-len(body)-9))...)
	}
	return store.Manifest{
		Digest:    digest.FromBytes(body),
		MediaType: "application/vnd.oci.image.manifest.v1+json",
		Size:      int64(len(body)),
		Body:      body,
	}
}

// mustPut puts man in repo with tags.
func mustPut(t *testing.T, m store.Metadata, repo string, man store.Manifest, tags ...string) {
	t.Helper()
	if err := m.PutManifest(context.Background(), repo, man, tags); err != nil {
		t.Fatalf("PutManifest(%s, %s, %d tags): %v", repo, man.Digest, len(tags), err)
	}
}

// sameManifest fails t unless got is want, with the body when wantBody.
func sameManifest(t *testing.T, what string, got, want store.Manifest, wantBody bool) {
	t.Helper()
	if got.Digest != want.Digest || got.MediaType != want.MediaType || got.Size != want.Size ||
		got.ArtifactType != want.ArtifactType || got.Subject != want.Subject ||
		!maps.Equal(got.Annotations, want.Annotations) {
		t.Fatalf("%s = %+v, want %+v", what, got.Digest, want.Digest)
	}
	if wantBody && !bytes.Equal(got.Body, want.Body) || !wantBody && got.Body != nil {
		t.Fatalf("%s: body of %d bytes, want %d (inline %v)", what, len(got.Body), len(want.Body), wantBody)
	}
}

// counted runs fn with a context that counts requests and fails t unless
// fn made exactly the requests want ("dynamodb.GetItem": 1, ...).
func counted(t *testing.T, what string, want map[string]int, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, reqs := store.WithRequests(context.Background())
	if err := fn(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if got := reqs.Counts(); !maps.Equal(got, want) {
		t.Errorf("%s made requests %v, want %v", what, got, want)
	}
}

// TestMetadataRequests checks the number of DynamoDB requests of each
// method, as their documentation gives it.
func TestMetadataRequests(t *testing.T) {
	m := newMetadata(t)
	const repo = "library/alpine"
	subject := testManifest("subject", 0)
	sig := testManifest("signature", 0)
	sig.Subject, sig.ArtifactType = subject.Digest, "application/vnd.example.sig"
	sig.Annotations = map[string]string{"org.example": "yes"}
	blob := digest.FromString("layer")
	one := func(op string) map[string]int { return map[string]int{"dynamodb." + op: 1} }

	counted(t, "LinkBlob", one("TransactWriteItems"), func(ctx context.Context) error {
		return m.LinkBlob(ctx, repo, blob, store.BlobLink{Size: 5})
	})
	counted(t, "Blob", one("GetItem"), func(ctx context.Context) error {
		_, err := m.Blob(ctx, repo, blob)
		return err
	})
	counted(t, "Tags of a repository without tags", map[string]int{"dynamodb.Query": 1, "dynamodb.GetItem": 1}, func(ctx context.Context) error {
		_, err := m.Tags(ctx, repo, "", 10)
		return err
	})
	counted(t, "PutManifest", one("TransactWriteItems"), func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, subject, []string{"latest"})
	})
	counted(t, "PutManifest with 2 tags and a subject", one("TransactWriteItems"), func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, sig, []string{"sig", "sig-v1"})
	})
	counted(t, "PutManifest of the same record again", one("TransactWriteItems"), func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, sig, []string{"sig-v2"})
	})
	counted(t, "Tag", one("GetItem"), func(ctx context.Context) error {
		got, err := m.Tag(ctx, repo, "sig")
		sameManifest(t, "Tag", got, sig, true)
		return err
	})
	counted(t, "Manifest", one("GetItem"), func(ctx context.Context) error {
		got, err := m.Manifest(ctx, repo, sig.Digest)
		sameManifest(t, "Manifest", got, sig, true)
		return err
	})
	counted(t, "Tags", one("Query"), func(ctx context.Context) error {
		tags, err := m.Tags(ctx, repo, "", 10)
		if !slices.Equal(tags, []string{"latest", "sig", "sig-v1", "sig-v2"}) {
			t.Errorf("Tags = %q", tags)
		}
		return err
	})
	counted(t, "Tags after last", one("Query"), func(ctx context.Context) error {
		tags, err := m.Tags(ctx, repo, "sig", 2)
		if !slices.Equal(tags, []string{"sig-v1", "sig-v2"}) {
			t.Errorf("Tags = %q", tags)
		}
		return err
	})
	counted(t, "Referrers", one("Query"), func(ctx context.Context) error {
		refs, err := m.Referrers(ctx, repo, subject.Digest, "", "", 10)
		if len(refs) != 1 {
			t.Errorf("Referrers = %d manifests", len(refs))
		}
		return err
	})
	counted(t, "Referrers of a type", one("Query"), func(ctx context.Context) error {
		refs, err := m.Referrers(ctx, repo, subject.Digest, sig.ArtifactType, "", 10)
		if len(refs) != 1 {
			t.Errorf("Referrers = %d manifests", len(refs))
		}
		return err
	})
	counted(t, "Repositories", one("Query"), func(ctx context.Context) error {
		_, err := m.Repositories(ctx, "", 10)
		return err
	})
	counted(t, "BlobSizes", one("BatchGetItem"), func(ctx context.Context) error {
		_, err := m.BlobSizes(ctx, repo, []digest.Digest{blob, subject.Digest, blob})
		return err
	})
	counted(t, "MissingManifests of none", map[string]int{}, func(ctx context.Context) error {
		_, err := m.MissingManifests(ctx, repo, nil)
		return err
	})

	changed := sig
	changed.Annotations = map[string]string{"org.example": "changed"}
	// The first try fails on its condition and returns the manifest item;
	// its refs are read; the copies are rewritten with the manifest item.
	counted(t, "PutManifest of a changed record", map[string]int{
		"dynamodb.TransactWriteItems": 2, "dynamodb.Query": 1,
	}, func(ctx context.Context) error {
		return m.PutManifest(ctx, repo, changed, nil)
	})
	// The tag item, then its ref.
	counted(t, "DeleteTag", map[string]int{"dynamodb.DeleteItem": 1, "dynamodb.TransactWriteItems": 1}, func(ctx context.Context) error {
		return m.DeleteTag(ctx, repo, "sig-v2")
	})
	counted(t, "DeleteManifest", map[string]int{
		"dynamodb.GetItem": 1, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1,
	}, func(ctx context.Context) error {
		return m.DeleteManifest(ctx, repo, sig.Digest)
	})
	untagged := testManifest("untagged", 0)
	mustPut(t, m, repo, untagged)
	counted(t, "DeleteManifest of an untagged manifest", map[string]int{
		"dynamodb.GetItem": 1, "dynamodb.DeleteItem": 1,
	}, func(ctx context.Context) error {
		return m.DeleteManifest(ctx, repo, untagged.Digest)
	})
	counted(t, "UnlinkBlob", one("DeleteItem"), func(ctx context.Context) error {
		return m.UnlinkBlob(ctx, repo, blob)
	})

	u := store.Upload{ID: store.NewUploadID(), Repository: repo, Expires: time.Now().Add(time.Hour)}
	counted(t, "CreateUpload", one("PutItem"), func(ctx context.Context) error {
		return m.CreateUpload(ctx, u)
	})
	u.Version, u.Offset = 1, 10
	counted(t, "UpdateUpload", one("PutItem"), func(ctx context.Context) error {
		return m.UpdateUpload(ctx, u)
	})
	counted(t, "UpdateUpload retried after a lost answer", one("PutItem"), func(ctx context.Context) error {
		return m.UpdateUpload(ctx, u)
	})
	racer := u
	racer.Offset = 20 // another writer that read version 0
	counted(t, "UpdateUpload that conflicts", one("PutItem"), func(ctx context.Context) error {
		if err := m.UpdateUpload(ctx, racer); !errors.Is(err, store.ErrConflict) {
			return fmt.Errorf("error %v, want ErrConflict", err)
		}
		return nil
	})
	counted(t, "Upload", one("GetItem"), func(ctx context.Context) error {
		_, err := m.Upload(ctx, u.ID)
		return err
	})
	counted(t, "DeleteUpload", one("DeleteItem"), func(ctx context.Context) error {
		return m.DeleteUpload(ctx, u.ID)
	})
	counted(t, "UpdateUpload of a deleted session", one("PutItem"), func(ctx context.Context) error {
		u.Version++
		if err := m.UpdateUpload(ctx, u); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("error %v, want ErrNotFound", err)
		}
		return nil
	})
}

// TestMetadataInlineBody checks that bodies up to MaxInlineBody are kept
// in the items and longer ones are not.
func TestMetadataInlineBody(t *testing.T) {
	m := newMetadata(t)
	ctx := context.Background()
	for _, size := range []int{awsstore.MaxInlineBody, awsstore.MaxInlineBody + 1, 300 << 10} {
		man := testManifest(fmt.Sprint(size), size)
		if len(man.Body) != size {
			t.Fatalf("body of %d bytes, want %d", len(man.Body), size)
		}
		mustPut(t, m, "repo", man, fmt.Sprint("size-", size))
		inline := size <= awsstore.MaxInlineBody
		got, err := m.Manifest(ctx, "repo", man.Digest)
		if err != nil {
			t.Fatal(err)
		}
		sameManifest(t, fmt.Sprintf("Manifest of %d bytes", size), got, man, inline)
		got, err = m.Tag(ctx, "repo", fmt.Sprint("size-", size))
		if err != nil {
			t.Fatal(err)
		}
		sameManifest(t, fmt.Sprintf("Tag of %d bytes", size), got, man, inline)
	}
}

// TestMetadataManyTags checks the writes that do not fit in one
// transaction (100 actions) and listings longer than one Query response
// (1 MB).
func TestMetadataManyTags(t *testing.T) {
	m := newMetadata(t)
	ctx := context.Background()
	const n = 250
	man := testManifest("many", awsstore.MaxInlineBody) // 250 tags of 6 KiB: 1.5 MB
	man.Annotations = map[string]string{"v": "1"}
	var tags []string
	for i := range n {
		tags = append(tags, fmt.Sprintf("tag-%03d", i))
	}
	// The manifest and the first 49 tags (two actions each: the tag and
	// its ref), then five transactions of up to 49 tags.
	counted(t, "PutManifest of 250 tags", map[string]int{"dynamodb.TransactWriteItems": 6}, func(ctx context.Context) error {
		return m.PutManifest(ctx, "repo", man, tags)
	})
	var got []string
	counted(t, "Tags of 1.5 MB", map[string]int{"dynamodb.Query": 2}, func(ctx context.Context) error {
		var err error
		got, err = m.Tags(ctx, "repo", "", 1000)
		return err
	})
	if !slices.Equal(got, tags) {
		t.Fatalf("Tags = %d tags, want %d", len(got), len(tags))
	}
	got, err := m.Tags(ctx, "repo", "tag-009", 200)
	if err != nil || len(got) != 200 || got[0] != "tag-010" || got[199] != "tag-209" {
		t.Fatalf("Tags(after tag-009, 200) = %d tags (%v), want tag-010..tag-209", len(got), err)
	}

	// Half the tags move to another manifest; the record of the first
	// changes, so the copies in the tags that still name it are rewritten.
	other := testManifest("other", 0)
	mustPut(t, m, "repo", other, tags[:n/2]...)
	man.Annotations = map[string]string{"v": "2"}
	// The first try fails on its condition and returns the manifest item;
	// its refs are read (125: the moves deleted the others); the 125
	// copies are rewritten in two transactions, then the manifest item.
	counted(t, "PutManifest of a changed record with 125 tags", map[string]int{
		"dynamodb.TransactWriteItems": 4, "dynamodb.Query": 1,
	}, func(ctx context.Context) error {
		return m.PutManifest(ctx, "repo", man, []string{"new"})
	})
	for _, tag := range []string{tags[n/2], tags[n-1], "new"} {
		got, err := m.Tag(ctx, "repo", tag)
		if err != nil {
			t.Fatal(err)
		}
		sameManifest(t, "Tag("+tag+")", got, man, true)
	}
	if got, err := m.Tag(ctx, "repo", tags[0]); err != nil || got.Digest != other.Digest {
		t.Fatalf("Tag(%s) = %s, %v; want %s", tags[0], got.Digest, err, other.Digest)
	}

	// Deleting it removes the tags that still name it, and no other: the
	// manifest item, its refs (one Query), then 252 deletes (a tag and
	// its ref each) in three transactions.
	counted(t, "DeleteManifest of 126 tags", map[string]int{
		"dynamodb.GetItem": 1, "dynamodb.Query": 1, "dynamodb.TransactWriteItems": 3,
	}, func(ctx context.Context) error {
		return m.DeleteManifest(ctx, "repo", man.Digest)
	})
	got, err = m.Tags(ctx, "repo", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, tags[:n/2]) {
		t.Fatalf("Tags after DeleteManifest = %d tags, want %d", len(got), n/2)
	}
}

// TestMetadataSubjectChange checks that putting a manifest again with
// another subject and artifact type moves its referrer entry.
func TestMetadataSubjectChange(t *testing.T) {
	m := newMetadata(t)
	ctx := context.Background()
	s1, s2 := testManifest("s1", 0).Digest, testManifest("s2", 0).Digest
	ref := testManifest("ref", 0)
	ref.Subject, ref.ArtifactType = s1, "application/vnd.example.a"
	mustPut(t, m, "repo", ref, "ref")
	ref.Subject, ref.ArtifactType = s2, "application/vnd.example.b"
	mustPut(t, m, "repo", ref)
	for _, tt := range []struct {
		subject digest.Digest
		want    int
	}{{s1, 0}, {s2, 1}} {
		refs, err := m.Referrers(ctx, "repo", tt.subject, "", "", 10)
		if err != nil || len(refs) != tt.want {
			t.Fatalf("Referrers(%s) = %d, %v; want %d", tt.subject, len(refs), err, tt.want)
		}
	}
	got, err := m.Tag(ctx, "repo", "ref")
	if err != nil {
		t.Fatal(err)
	}
	sameManifest(t, "Tag(ref)", got, ref, true)
	if err := m.DeleteManifest(ctx, "repo", ref.Digest); err != nil {
		t.Fatal(err)
	}
	if refs, err := m.Referrers(ctx, "repo", s2, "", "", 10); err != nil || len(refs) != 0 {
		t.Fatalf("Referrers after DeleteManifest = %d, %v; want none", len(refs), err)
	}
}

// TestMetadataDeleteRace moves the tags of a manifest to another, and puts
// the manifest again with new tags, while the manifest is deleted: however
// the writes interleave, every moved tag ends up naming the other manifest,
// and a new tag is either gone or names the manifest, which then exists.
func TestMetadataDeleteRace(t *testing.T) {
	m := newMetadata(t)
	ctx := context.Background()
	for round := range 3 {
		a, b := testManifest(fmt.Sprint("a", round), 0), testManifest(fmt.Sprint("b", round), 0)
		tags := []string{"t0", "t1", "t2", "t3", "t4", "t5"}
		again := []string{"n0", "n1", "n2"}
		mustPut(t, m, "repo", a, tags...)
		var wg sync.WaitGroup
		errs := make([]error, len(tags)+len(again)+1)
		for i, tag := range tags {
			wg.Go(func() { errs[i] = m.PutManifest(ctx, "repo", b, []string{tag}) })
		}
		for i, tag := range again {
			wg.Go(func() { errs[len(tags)+i] = m.PutManifest(ctx, "repo", a, []string{tag}) })
		}
		wg.Go(func() { errs[len(errs)-1] = m.DeleteManifest(ctx, "repo", a.Digest) })
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: writer %d: %v", round, i, err)
			}
		}
		for _, tag := range tags {
			got, err := m.Tag(ctx, "repo", tag)
			if err != nil || got.Digest != b.Digest {
				t.Fatalf("round %d: Tag(%s) = %s, %v; want %s", round, tag, got.Digest, err, b.Digest)
			}
		}
		_, err := m.Manifest(ctx, "repo", a.Digest)
		aExists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		for _, tag := range again {
			got, err := m.Tag(ctx, "repo", tag)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				t.Fatal(err)
			case got.Digest != a.Digest || !aExists:
				t.Fatalf("round %d: Tag(%s) = %s; manifest a exists: %v", round, tag, got.Digest, aExists)
			}
		}
		for _, d := range []digest.Digest{a.Digest, b.Digest} {
			if err := m.DeleteManifest(ctx, "repo", d); err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		}
	}
}

// TestMetadataCreateTableAgain checks that CreateTable on a table that
// exists leaves it and what it holds.
func TestMetadataCreateTableAgain(t *testing.T) {
	m := newMetadata(t)
	ctx := context.Background()
	mustPut(t, m, "repo", testManifest("kept", 0), "kept")
	if err := m.CreateTable(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Tag(ctx, "repo", "kept"); err != nil {
		t.Fatal(err)
	}
}
