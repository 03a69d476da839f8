package httpapi

import (
	"net/http/httptest"
	"testing"

	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/site"
)

// TestRequestKind: each route and method has the kind its log line and
// its metrics carry.
func TestRequestKind(t *testing.T) {
	const d = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
	tests := []struct {
		method, path, want string
	}{
		{"GET", "/v2/team/app/manifests/v1", metrics.KindPull},
		{"HEAD", "/v2/team/app/manifests/" + d, metrics.KindPull},
		{"GET", "/v2/team/app/blobs/" + d, metrics.KindPull},
		{"HEAD", "/v2/app/blobs/" + d, metrics.KindPull},
		{"PUT", "/v2/team/app/manifests/v1", metrics.KindPush},
		{"DELETE", "/v2/team/app/manifests/" + d, metrics.KindDelete},
		{"DELETE", "/v2/team/app/blobs/" + d, metrics.KindDelete},
		{"POST", "/v2/team/app/blobs/uploads/", metrics.KindUpload},
		{"PATCH", "/v2/team/app/blobs/uploads/abc", metrics.KindUpload},
		{"PUT", "/v2/team/app/blobs/uploads/abc", metrics.KindUpload},
		{"GET", "/v2/team/app/blobs/uploads/abc", metrics.KindUpload},
		{"DELETE", "/v2/team/app/blobs/uploads/abc", metrics.KindUpload},
		{"GET", "/v2/team/app/referrers/" + d, metrics.KindReferrers},
		{"GET", "/v2/team/app/tags/list", metrics.KindTags},
		{"GET", "/v2/_catalog", metrics.KindCatalog},
		{"GET", "/v2/token", metrics.KindToken},
		{"POST", "/v2/token", metrics.KindToken},
		{"GET", "/v2/", metrics.KindPing},
		{"GET", "/v2", metrics.KindPing},
		{"GET", "/v2/_oci/ext/discover", metrics.KindPing},
		{"GET", site.Prefix + "docs/@v1/index.html", metrics.KindSite},
		// No endpoint: a path, a name or a method.
		{"GET", "/", metrics.KindOther},
		{"GET", "/v2/team/app/nothing", metrics.KindOther},
		{"GET", "/v2/Team/app/manifests/v1", metrics.KindOther},
		{"POST", "/v2/team/app/manifests/v1", metrics.KindOther},
		{"PUT", "/v2/team/app/blobs/" + d, metrics.KindOther},
	}
	h := &Handler{sites: &site.Server{}}
	for _, tt := range tests {
		if got := h.requestKind(httptest.NewRequest(tt.method, tt.path, nil)); got != tt.want {
			t.Errorf("%s %s: kind %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
	// Without sites, /sites/ is no endpoint.
	if got := (&Handler{}).requestKind(httptest.NewRequest("GET", site.Prefix+"docs/@v1/", nil)); got != metrics.KindOther {
		t.Errorf("a site path without sites: kind %q, want other", got)
	}
}
