package httpapi_test

import (
	"encoding/json"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/registry"
)

// walkCatalog follows the catalog's Link headers from path on with the
// Authorization authz, and returns the names of the pages and the last=
// cursors of the links.
func walkCatalog(t *testing.T, s *server, authz, path string) (names, cursors []string) {
	t.Helper()
	for pages := 0; path != "" && pages < 50; pages++ {
		resp, body := s.do(t, request{method: http.MethodGet, path: path, header: map[string]string{"Authorization": authz}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %s", path, resp.Status, body)
		}
		var page struct{ Repositories []string }
		if err := json.Unmarshal(body, &page); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		names = append(names, page.Repositories...)
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			m := linkRE.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("Link %q is not <url>; rel=\"next\"", link)
			}
			u, err := url.Parse(m[1])
			if err != nil {
				t.Fatal(err)
			}
			cursors = append(cursors, u.Query().Get("last"))
			path = m[1]
		}
	}
	return names, cursors
}

// TestCatalogCursorHidesNames: walking the catalog a page at a time shows
// a caller the repositories it may pull, all of them, and no other name:
// not in the pages, not in the Link cursors.
func TestCatalogCursorHidesNames(t *testing.T) {
	s := newAuthServer(t)
	for _, p := range []struct{ user, repo string }{
		{"alice", "team/a"}, {"solo", "solo/app"}, {"alice", "team/b"}, {"alice", "team/c"},
	} {
		s.pushBlobAs(t, basic(p.user), p.repo, []byte("blob of "+p.repo))
	}
	for _, tc := range []struct {
		name, authz string
		want        []string
	}{
		{"solo, Basic", basic("solo"), []string{"solo/app"}},
		{"reader, Basic", basic("reader"), []string{"team/a", "team/b", "team/c"}},
		{"solo, token", s.token(t, "solo"), []string{"solo/app"}},
		{"alice, token", s.token(t, "alice"), []string{"team/a", "team/b", "team/c"}},
	} {
		for _, n := range []string{"1", "2", "1000"} {
			t.Run(tc.name+" n="+n, func(t *testing.T) {
				names, cursors := walkCatalog(t, s.server, tc.authz, "/v2/_catalog?n="+n)
				if !slices.Equal(names, tc.want) {
					t.Errorf("pages list %v, want %v", names, tc.want)
				}
				for _, c := range cursors {
					if !slices.Contains(tc.want, c) {
						t.Errorf("a Link cursor names %q, which the caller may not see (cursors %v)", c, cursors)
					}
				}
			})
		}
	}
}

// TestReferrersPageBounded: a referrers page holds at most
// registry.MaxReferrersPage bytes of descriptors (or one descriptor), and
// links to the next; the pages hold every referrer with its annotations.
func TestReferrersPageBounded(t *testing.T) {
	s := newServer(t, registry.Options{})
	const repo = "refs/big"
	subject := image(t, s, repo, "v1", v1.MediaTypeImageLayerGzip, "layer")
	empty := s.pushBlob(t, repo, v1.MediaTypeEmptyJSON, []byte("{}"))
	want := map[digest.Digest]string{}
	for i := range 12 {
		// 300 KB of annotations each, 3.6 MB in all.
		note := strings.Repeat(string(rune('a'+i)), 300_000)
		m := v1.Manifest{
			Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: v1.MediaTypeImageManifest,
			ArtifactType: "application/vnd.example.big", Config: empty, Layers: []v1.Descriptor{empty},
			Subject: &subject, Annotations: map[string]string{"note": note},
		}
		body := mustJSON(t, m)
		s.put(t, repo, digest.FromBytes(body).String(), v1.MediaTypeImageManifest, body, http.StatusCreated)
		want[digest.FromBytes(body)] = note
	}
	path := "/v2/" + repo + "/referrers/" + subject.Digest.String()
	got := map[digest.Digest]string{}
	pages := 0
	for path != "" && pages < 50 {
		pages++
		resp, body := s.do(t, request{method: http.MethodGet, path: path})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s %.200s", path, resp.Status, body)
		}
		var idx v1.Index
		if err := json.Unmarshal(body, &idx); err != nil {
			t.Fatal(err)
		}
		if len(body) > registry.MaxReferrersPage && len(idx.Manifests) > 1 {
			t.Errorf("page %d: %d bytes of %d descriptors, want at most %d bytes", pages, len(body), len(idx.Manifests), registry.MaxReferrersPage)
		}
		for _, d := range idx.Manifests {
			got[d.Digest] = d.Annotations["note"]
		}
		path = ""
		if link := resp.Header.Get("Link"); link != "" {
			m := linkRE.FindStringSubmatch(link)
			if m == nil {
				t.Fatalf("Link %q", link)
			}
			path = m[1]
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("the pages list %d referrers, want %d, with their annotations", len(got), len(want))
	}
	if pages < 3 {
		t.Errorf("3.6 MB of referrers in %d pages", pages)
	}
}
