package storetest

import (
	"fmt"
	"slices"
	"sort"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// referrer returns a manifest made from name that refers to subject.
func referrer(name string, subject digest.Digest, artifactType string) store.Manifest {
	m := manifest(name)
	m.Subject = subject
	m.ArtifactType = artifactType
	m.Annotations = map[string]string{"org.example.name": name}
	return m
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
				list := func(after string, n int) ([]store.Manifest, error) {
					return m.Referrers(ctx, "repo", subject, at, after, n)
				}
				got := allPages(t, "Referrers", n, len(want)+1, list, func(r store.Manifest) string {
					return store.ReferrerKey(r.ArtifactType, r.Digest)
				})
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
