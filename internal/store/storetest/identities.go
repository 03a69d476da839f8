package storetest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// TestIdentities runs the contract tests of store.Identities against the
// stores that open returns: each subtest calls open for a store of its own,
// which must hold no identities. When that store is also a store.Metadata
// (both backends keep identities with the other metadata), the Isolation
// subtest checks that the two do not meet; otherwise it is skipped.
//
// Times are compared to the second: a backend may keep no more.
func TestIdentities(t *testing.T, open func(t *testing.T) store.Identities) {
	tests := []subtest[store.Identities]{
		{"RoundTrip", testIdentityRoundTrip},
		{"Replace", testIdentityReplace},
		{"Missing", testIdentityMissing},
		{"Delete", testIdentityDelete},
		{"List", testIdentityList},
		{"Names", testIdentityNames},
		{"Concurrent", testIdentityConcurrent},
		{"Isolation", testIdentityIsolation},
		{"Canceled", testIdentityCanceled},
	}
	runSubtests(t, open, tests)
}

// testIdentityRoundTrip checks that an identity comes back as it was put,
// and that neither changing what was put nor what was got changes what is
// stored.
func testIdentityRoundTrip(t *testing.T, s store.Identities) {
	tests := []struct {
		name string
		id   store.Identity
	}{
		{"user", user("alice", grant("team/*", "pull", "push"), grant("library/alpine", "pull"))},
		{"user without grants", user("bob")},
		{"user who may do everything", user("root", grant("*", "pull", "push", "delete"))},
		{"robot", robot("ci-42", grant("team/app", "push", "pull"))},
		{"robot that never expires", func() store.Identity {
			r := robot("forever", grant("*", "pull"))
			r.Expires = time.Time{}
			return r
		}()},
		{"robot far in the future", func() store.Identity {
			r := robot("far")
			r.Expires = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)
			return r
		}()},
		{"grant without actions", user("carol", grant("nothing/*"))},
		{"many grants", func() store.Identity {
			var gs []store.Grant
			for i := range 50 {
				gs = append(gs, grant(fmt.Sprintf("team-%02d/*", i), "delete", "pull"))
			}
			return robot("many", gs...)
		}()},
		{"no secret, no times", store.Identity{Name: "bare", Kind: store.KindUser}},
		{"long secret", func() store.Identity {
			u := user("long")
			u.Secret = strings.Repeat("ab", 2048)
			return u
		}()},
	}
	var all []store.Identity
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := cloneIdentity(tt.id)
			put := cloneIdentity(tt.id)
			putIdentity(t, s, put)
			for i := range put.Grants {
				put.Grants[i].Pattern = "changed"
				if len(put.Grants[i].Actions) > 0 {
					put.Grants[i].Actions[0] = "changed"
				}
			}
			wantStored(t, s, want)
			got, err := s.Identity(ctx, want.Name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range got.Grants {
				got.Grants[i].Pattern = "changed"
			}
			wantStored(t, s, want)
		})
		all = append(all, cloneIdentity(tt.id))
	}
	// Each is kept apart from the others.
	for _, want := range all {
		wantStored(t, s, want)
	}
	sort.Slice(all, func(i, j int) bool { return all[i].Name < all[j].Name })
	wantList(t, s, all...)
}

// testIdentityReplace checks that putting an identity again replaces all
// of it: nothing of the old record is left.
func testIdentityReplace(t *testing.T, s store.Identities) {
	first := robot("deploy", grant("team/*", "pull", "push"), grant("other", "delete"))
	tests := []struct {
		name string
		id   store.Identity
	}{
		{"same again", first},
		{"other secret", func() store.Identity {
			r := cloneIdentity(first)
			r.Secret = string(digest.FromString("rotated").Encoded())
			return r
		}()},
		{"fewer grants, other actions", func() store.Identity {
			r := cloneIdentity(first)
			r.Grants = []store.Grant{grant("team/*", "pull")}
			return r
		}()},
		{"later expiry", func() store.Identity {
			r := cloneIdentity(first)
			r.Expires = expires.Add(48 * time.Hour)
			return r
		}()},
		{"kind, no grants, no times", store.Identity{Name: "deploy", Kind: store.KindUser, Secret: "$2a$10$other"}},
		{"back to the first", first},
	}
	other := user("deploy2", grant("*", "pull"))
	putIdentity(t, s, other)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			putIdentity(t, s, tt.id)
			wantStored(t, s, tt.id)
			wantList(t, s, tt.id, other)
		})
	}
	wantStored(t, s, other)
}

// testIdentityMissing checks the reads of identities that do not exist.
func testIdentityMissing(t *testing.T, s store.Identities) {
	wantList(t, s)
	putIdentity(t, s, user("alice"))
	for _, name := range []string{"bob", "alic", "alice2", "Alice", "alice.", "", "alice/x"} {
		wantNoIdentity(t, s, name)
	}
}

// testIdentityDelete checks that DeleteIdentity removes the one identity,
// and returns store.ErrNotFound for one that does not exist.
func testIdentityDelete(t *testing.T, s store.Identities) {
	ids := []store.Identity{user("bo"), user("bob"), robot("bob2"), user("bob@example.com")}
	for _, id := range ids {
		putIdentity(t, s, id)
	}
	tests := []struct {
		name    string
		err     error
		remains []store.Identity
	}{
		{"bob", nil, []store.Identity{ids[0], ids[2], ids[3]}},
		{"bob", store.ErrNotFound, []store.Identity{ids[0], ids[2], ids[3]}},
		{"never", store.ErrNotFound, []store.Identity{ids[0], ids[2], ids[3]}},
		{"", store.ErrNotFound, []store.Identity{ids[0], ids[2], ids[3]}},
		{"bob2", nil, []store.Identity{ids[0], ids[3]}},
		{"bo", nil, []store.Identity{ids[3]}},
		{"bob@example.com", nil, nil},
		{"bob@example.com", store.ErrNotFound, nil},
	}
	for i, tt := range tests {
		wantErr(t, fmt.Sprintf("%d: DeleteIdentity(%q)", i, tt.name), s.DeleteIdentity(ctx, tt.name), tt.err)
		wantNoIdentity(t, s, tt.name)
		wantList(t, s, tt.remains...)
	}
	// A deleted identity may be put again.
	putIdentity(t, s, ids[1])
	wantStored(t, s, ids[1])
	wantList(t, s, ids[1])
}

// testIdentityList checks that ListIdentities returns every identity, in
// byte order of name, however they were put.
func testIdentityList(t *testing.T, s store.Identities) {
	// In byte order: '-' < '.' < digits < '@' < upper case < '_' < lower case.
	names := []string{"-x", ".x", "0", "9z", "@", "A", "Zed", "_", "a", "a-b", "a.b", "a0", "a@b", "aB", "a_b", "ab", "b"}
	if !sort.StringsAreSorted(names) {
		t.Fatal("names not sorted")
	}
	want := make([]store.Identity, len(names))
	for i, name := range names {
		if i%2 == 0 {
			want[i] = user(name, grant(name+"/*", "pull"))
		} else {
			want[i] = robot(name, grant("*", "pull", "push"))
		}
	}
	// Put in an order other than the listing's.
	for _, i := range []int{16, 3, 0, 11, 7, 5, 14, 1, 9, 13, 2, 15, 6, 10, 4, 12, 8} {
		putIdentity(t, s, want[i])
	}
	wantList(t, s, want...)
	// Replacing one keeps its place.
	want[5] = user(names[5])
	putIdentity(t, s, want[5])
	wantList(t, s, want...)
}

// testIdentityNames checks names made of every kind of character that a
// name may have: letters, digits, '.', '-', '_' and '@'.
func testIdentityNames(t *testing.T, s store.Identities) {
	names := []string{
		"a", "Z", "7", ".", "..", "-", "_", "@", "@@",
		"alice@example.com", "ci-bot_1.2", "first.last", "UPPER.lower-Mixed_09",
		"-leading-dash", ".leading.dot", "trailing.", "x@y@z", "robot_0123456789abcdef",
		strings.Repeat("long.", 50) + "name",
	}
	var want []store.Identity
	for i, name := range names {
		id := user(name, grant(fmt.Sprintf("repo-%d", i), "pull"))
		putIdentity(t, s, id)
		want = append(want, id)
	}
	for _, id := range want {
		wantStored(t, s, id)
	}
	sort.Slice(want, func(i, j int) bool { return want[i].Name < want[j].Name })
	wantList(t, s, want...)
	for _, id := range want {
		wantErr(t, fmt.Sprintf("DeleteIdentity(%q)", id.Name), s.DeleteIdentity(ctx, id.Name), nil)
		wantNoIdentity(t, s, id.Name)
	}
	wantList(t, s)
}

// testIdentityConcurrent puts and replaces identities from many goroutines:
// every write is seen by the reads that start after it finished.
func testIdentityConcurrent(t *testing.T, s store.Identities) {
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("robot-%02d", i)
			if errs[i] = s.PutIdentity(ctx, robot(name)); errs[i] != nil {
				return
			}
			if _, errs[i] = s.Identity(ctx, name); errs[i] != nil {
				return
			}
			errs[i] = s.PutIdentity(ctx, robot(name, grant(name, "pull")))
		})
	}
	wg.Wait()
	var want []store.Identity
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		name := fmt.Sprintf("robot-%02d", i)
		want = append(want, robot(name, grant(name, "pull")))
	}
	wantList(t, s, want...)
}

// testIdentityIsolation checks that identities and the other metadata of
// the same store do not meet, whatever their names: identities named like
// repositories, upload sessions and the names a backend might use for its
// own records.
func testIdentityIsolation(t *testing.T, s store.Identities) {
	m, ok := s.(store.Metadata)
	if !ok {
		t.Skip("the store is not a store.Metadata")
	}
	names := []string{"alice", "identities", "repos", "r", "u", "i", "t", "m", "b", "f", "uploads", "repositories", "pier", "schema"}
	blob := digestOf(digest.SHA256, []byte("isolated"))
	man := manifest("isolated")
	for _, name := range names {
		if err := m.LinkBlob(ctx, name, blob, store.BlobLink{Size: 8}); err != nil {
			t.Fatalf("LinkBlob(%s): %v", name, err)
		}
		putManifest(t, m, name, man, name)
		if err := m.CreateUpload(ctx, store.Upload{ID: name, Repository: name, Version: 1, Expires: time.Now().Add(time.Hour)}); err != nil {
			t.Fatalf("CreateUpload(%s): %v", name, err)
		}
	}
	// A store with repositories and uploads, but no identities.
	wantList(t, s)
	for _, name := range names {
		wantNoIdentity(t, s, name)
		wantErr(t, fmt.Sprintf("DeleteIdentity(%q)", name), s.DeleteIdentity(ctx, name), store.ErrNotFound)
	}

	var ids []store.Identity
	for _, name := range names {
		id := robot(name, grant(name, "pull"))
		putIdentity(t, s, id)
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].Name < ids[j].Name })
	wantList(t, s, ids...)
	sorted := slices.Sorted(slices.Values(names))
	check := func(what string) {
		t.Helper()
		repos, err := m.Repositories(ctx, "", 1000)
		if err != nil {
			t.Fatalf("%s: Repositories: %v", what, err)
		}
		if !slices.Equal(repos, sorted) {
			t.Fatalf("%s: Repositories = %q, want %q", what, repos, sorted)
		}
		for _, name := range names {
			wantTags(t, m, name, name)
			wantManifestIn(t, m, name, man)
			if _, err := m.Blob(ctx, name, blob); err != nil {
				t.Fatalf("%s: Blob(%s): %v", what, name, err)
			}
			if u, err := m.Upload(ctx, name); err != nil || u.Repository != name {
				t.Fatalf("%s: Upload(%s) = %+v, %v", what, name, u, err)
			}
		}
	}
	check("after PutIdentity")

	// Removing the identities leaves the repositories and uploads.
	for _, name := range names {
		wantErr(t, fmt.Sprintf("DeleteIdentity(%q)", name), s.DeleteIdentity(ctx, name), nil)
	}
	wantList(t, s)
	check("after DeleteIdentity")

	// Removing the repositories' records and the uploads leaves the
	// identities.
	for _, id := range ids {
		putIdentity(t, s, id)
	}
	for _, name := range names {
		wantErr(t, fmt.Sprintf("DeleteManifest(%s)", name), m.DeleteManifest(ctx, name, man.Digest), nil)
		wantErr(t, fmt.Sprintf("UnlinkBlob(%s)", name), m.UnlinkBlob(ctx, name, blob), nil)
		wantErr(t, fmt.Sprintf("DeleteUpload(%s)", name), m.DeleteUpload(ctx, name), nil)
	}
	for _, id := range ids {
		wantStored(t, s, id)
	}
	wantList(t, s, ids...)
}

// testIdentityCanceled checks that writes with a canceled context fail and
// change nothing.
func testIdentityCanceled(t *testing.T, s store.Identities) {
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	kept := user("kept", grant("*", "pull"))
	putIdentity(t, s, kept)
	if err := s.PutIdentity(cctx, user("new")); err == nil {
		t.Fatal("PutIdentity with a canceled context: no error")
	}
	if err := s.PutIdentity(cctx, robot("kept")); err == nil {
		t.Fatal("PutIdentity (replace) with a canceled context: no error")
	}
	if err := s.DeleteIdentity(cctx, "kept"); err == nil {
		t.Fatal("DeleteIdentity with a canceled context: no error")
	}
	wantNoIdentity(t, s, "new")
	wantStored(t, s, kept)
	wantList(t, s, kept)
}
