package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

// pushSite pushes a one-page site (index.html, one layer titled) to repo
// as user and returns the page.
func (s *authServer) pushSite(t *testing.T, user, repo string) string {
	t.Helper()
	page := "<!doctype html><h1>" + repo + "</h1>"
	config := v1.Descriptor{MediaType: v1.MediaTypeEmptyJSON, Digest: digest.Digest(s.pushBlobAs(t, basic(user), repo, []byte("{}"))), Size: 2}
	layer := v1.Descriptor{MediaType: "text/html", Digest: digest.Digest(s.pushBlobAs(t, basic(user), repo, []byte(page))), Size: int64(len(page)),
		Annotations: map[string]string{v1.AnnotationTitle: "index.html"}}
	s.mustDo(t, request{method: http.MethodPut, path: "/v2/" + repo + "/manifests/v1", body: imageManifest(t, config, layer),
		header: map[string]string{"Content-Type": v1.MediaTypeImageManifest, "Authorization": basic(user)}}, http.StatusCreated)
	return page
}

// Sites are served to those who may pull their repository, by the access
// control of /v2: anonymous visitors see public ones, and a browser is
// asked for Basic credentials for a private one.
func TestSiteAccess(t *testing.T) {
	s := newAuthServer(t)
	private := s.pushSite(t, "alice", "team/site")
	public := s.pushSite(t, "publisher", "public/site")
	wrong := "Basic " + base64.StdEncoding.EncodeToString([]byte("reader:wrong"))
	for _, tc := range []struct {
		name, path, authz string
		status            int
		page, challenge   string
	}{
		{"private, anonymous", "/sites/team/site/@v1/", "", 401, "", `Basic realm="Pier", charset="UTF-8"`},
		{"private, wrong password", "/sites/team/site/@v1/", wrong, 401, "", `Basic realm="Pier", charset="UTF-8"`},
		{"private, no right", "/sites/team/site/@v1/", basic("solo"), 403, "", ""},
		{"private, reader", "/sites/team/site/@v1/", basic("reader"), 200, private, ""},
		{"private, token", "/sites/team/site/@v1/", s.token(t, "reader", "repository:team/site:pull"), 200, private, ""},
		{"private, token of another repository", "/sites/team/site/@v1/", s.token(t, "reader", "repository:team/other:pull"), 403, "", ""},
		{"public, anonymous", "/sites/public/site/@v1/", "", 200, public, ""},
		{"public, wrong password", "/sites/public/site/@v1/", wrong, 200, public, ""},
		{"missing private repository, anonymous", "/sites/team/none/@v1/", "", 401, "", `Basic realm="Pier", charset="UTF-8"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.authz != "" {
				hdr["Authorization"] = tc.authz
			}
			resp, body := s.do(t, request{method: http.MethodGet, path: tc.path, header: hdr})
			if resp.StatusCode != tc.status || resp.Header.Get("WWW-Authenticate") != tc.challenge {
				t.Fatalf("%d, WWW-Authenticate %q; want %d, %q\n%s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), tc.status, tc.challenge, body)
			}
			if tc.page != "" && string(body) != tc.page {
				t.Errorf("body %q, want %q", body, tc.page)
			}
			if tc.status != 200 && strings.Contains(string(body), "<h1>team/site") {
				t.Errorf("a refusal shows the page: %s", body)
			}
		})
	}
}
