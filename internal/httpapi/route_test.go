package httpapi

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pier-registry/pier/internal/oci"
)

func TestParseRoute(t *testing.T) {
	const dgst = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
	const uuid = "6c1b2f7e-6d62-4b4e-9d5c-0b1f7a7c2d6e"
	tests := []struct {
		path string
		want route
	}{
		// Registry-level endpoints.
		{"/v2/", route{kind: routePing}},
		{"/v2", route{kind: routePing}},
		{"/v2/_catalog", route{kind: routeCatalog}},
		{"/v2/_oci/ext/discover", route{kind: routeDiscover}},

		// Repository-level discover.
		{"/v2/a/_oci/ext/discover", route{kind: routeDiscover, name: "a"}},
		{"/v2/a/b/_oci/ext/discover", route{kind: routeDiscover, name: "a/b"}},

		// Manifests.
		{"/v2/library/ubuntu/manifests/latest", route{kind: routeManifest, name: "library/ubuntu", arg: "latest"}},
		{"/v2/a/manifests/" + dgst, route{kind: routeManifest, name: "a", arg: dgst}},
		{"/v2/a/b/c/d/manifests/v1.0", route{kind: routeManifest, name: "a/b/c/d", arg: "v1.0"}},
		// The reference is checked by the handler, not here.
		{"/v2/a/manifests/", route{kind: routeManifest, name: "a", arg: ""}},
		{"/v2/a/manifests/..", route{kind: routeManifest, name: "a", arg: ".."}},

		// Blobs.
		{"/v2/a/b/blobs/" + dgst, route{kind: routeBlob, name: "a/b", arg: dgst}},
		{"/v2/a/blobs/", route{kind: routeBlob, name: "a", arg: ""}},

		// Uploads.
		{"/v2/a/b/blobs/uploads/", route{kind: routeUploadStart, name: "a/b"}},
		{"/v2/a/b/blobs/uploads", route{kind: routeUploadStart, name: "a/b"}},
		{"/v2/a/b/blobs/uploads/" + uuid, route{kind: routeUpload, name: "a/b", arg: uuid}},

		// Tags and referrers.
		{"/v2/a/b/tags/list", route{kind: routeTags, name: "a/b"}},
		{"/v2/a/referrers/" + dgst, route{kind: routeReferrers, name: "a", arg: dgst}},
		{"/v2/a/referrers/", route{kind: routeReferrers, name: "a", arg: ""}},

		// Names whose components are the words of the API: the endpoint is
		// read from the end of the path.
		{"/v2/blobs/blobs/" + dgst, route{kind: routeBlob, name: "blobs", arg: dgst}},
		{"/v2/blobs/blobs/uploads/", route{kind: routeUploadStart, name: "blobs"}},
		{"/v2/a/blobs/blobs/uploads/" + uuid, route{kind: routeUpload, name: "a/blobs", arg: uuid}},
		{"/v2/uploads/blobs/uploads/", route{kind: routeUploadStart, name: "uploads"}},
		{"/v2/blobs/uploads/blobs/uploads", route{kind: routeUploadStart, name: "blobs/uploads"}},
		{"/v2/blobs/uploads/blobs/" + dgst, route{kind: routeBlob, name: "blobs/uploads", arg: dgst}},
		{"/v2/a/blobs/uploads/uploads", route{kind: routeUpload, name: "a", arg: "uploads"}},
		{"/v2/manifests/manifests/latest", route{kind: routeManifest, name: "manifests", arg: "latest"}},
		{"/v2/a/manifests/b/manifests/manifests", route{kind: routeManifest, name: "a/manifests/b", arg: "manifests"}},
		{"/v2/manifests/tags/list", route{kind: routeTags, name: "manifests"}},
		{"/v2/tags/list/tags/list", route{kind: routeTags, name: "tags/list"}},
		{"/v2/tags/manifests/list", route{kind: routeManifest, name: "tags", arg: "list"}},
		{"/v2/referrers/referrers/" + dgst, route{kind: routeReferrers, name: "referrers", arg: dgst}},
		{"/v2/blobs/manifests/uploads", route{kind: routeManifest, name: "blobs", arg: "uploads"}},
		{"/v2/ext/discover/_oci/ext/discover", route{kind: routeDiscover, name: "ext/discover"}},
		{"/v2/catalog/tags/list", route{kind: routeTags, name: "catalog"}},
	}
	for _, tt := range tests {
		got, err := parseRoute(tt.path)
		if err != nil {
			t.Errorf("parseRoute(%q): %v", tt.path, err)
			continue
		}
		if got != tt.want {
			t.Errorf("parseRoute(%q) = %+v, want %+v", tt.path, got, tt.want)
		}
	}
}

func TestParseRouteErrors(t *testing.T) {
	tests := []struct {
		path   string
		code   oci.Code
		status int
	}{
		// Names outside the grammar, whatever the endpoint.
		{"/v2/../x/manifests/latest", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a/../b/manifests/latest", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a/./b/manifests/latest", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/../../etc/blobs/sha256:00", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a//b/tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2//a/tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2//tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2///tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/A/tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/Library/ubuntu/manifests/latest", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a___b/blobs/uploads/", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/-a/blobs/uploads", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a b/blobs/uploads/x", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a:b/referrers/x", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/_catalog/tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/_oci/tags/list", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2//_oci/ext/discover", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/a/_oci/_oci/ext/discover", oci.CodeNameInvalid, http.StatusBadRequest},
		{"/v2/" + strings.Repeat("a", 256) + "/tags/list", oci.CodeNameInvalid, http.StatusBadRequest},

		// Paths that are no endpoint.
		{"", oci.CodeNameUnknown, http.StatusNotFound},
		{"/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v1/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2x", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2x/a/tags/list", oci.CodeNameUnknown, http.StatusNotFound},
		{"v2/a/tags/list", oci.CodeNameUnknown, http.StatusNotFound},
		{"/V2/a/tags/list", oci.CodeNameUnknown, http.StatusNotFound},
		{"//v2/a/tags/list", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/_catalog/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/_oci/ext/discover/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/b", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/b/c", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/manifests/latest", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/blobs/uploads", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/blobs/uploads/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/tags/list", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/tags", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/tags/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/tags/list/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/tags/lists", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/manifests", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/manifests/latest/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/blobs", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/blobs/sha256:00/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/blobs/uploads/x/", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/blobs/uploads/x/y", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/referrers", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/_catalog", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/ext/discover", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/_oci/ext", oci.CodeNameUnknown, http.StatusNotFound},
		{"/v2/a/MANIFESTS/latest", oci.CodeNameUnknown, http.StatusNotFound},
	}
	for _, tt := range tests {
		rt, err := parseRoute(tt.path)
		if err == nil {
			t.Errorf("parseRoute(%q) = %+v, want a %s error", tt.path, rt, tt.code)
			continue
		}
		if rt != (route{}) {
			t.Errorf("parseRoute(%q) returned route %+v with its error", tt.path, rt)
		}
		e, ok := oci.AsError(err)
		if !ok {
			t.Errorf("parseRoute(%q) error %v is not an *oci.Error", tt.path, err)
			continue
		}
		if e.Code != tt.code || e.Status() != tt.status {
			t.Errorf("parseRoute(%q): code %s status %d, want %s %d", tt.path, e.Code, e.Status(), tt.code, tt.status)
		}
	}
}

// routePath is the path of rt: the inverse of parseRoute.
func routePath(t *testing.T, rt route) string {
	t.Helper()
	switch rt.kind {
	case routePing:
		return "/v2/"
	case routeCatalog:
		return "/v2/_catalog"
	case routeDiscover:
		if rt.name == "" {
			return "/v2/_oci/ext/discover"
		}
		return "/v2/" + rt.name + "/_oci/ext/discover"
	case routeManifest:
		return "/v2/" + rt.name + "/manifests/" + rt.arg
	case routeBlob:
		return "/v2/" + rt.name + "/blobs/" + rt.arg
	case routeUploadStart:
		return "/v2/" + rt.name + "/blobs/uploads/"
	case routeUpload:
		return "/v2/" + rt.name + "/blobs/uploads/" + rt.arg
	case routeTags:
		return "/v2/" + rt.name + "/tags/list"
	case routeReferrers:
		return "/v2/" + rt.name + "/referrers/" + rt.arg
	}
	t.Fatalf("route of unknown kind %d", rt.kind)
	return ""
}

func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{
		"/v2/", "/v2", "/v2/_catalog", "/v2/_oci/ext/discover", "/v2/a/b/_oci/ext/discover",
		"/v2/library/ubuntu/manifests/latest",
		"/v2/a/manifests/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		"/v2/a/blobs/sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
		"/v2/a/blobs/uploads/", "/v2/a/blobs/uploads", "/v2/a/blobs/uploads/0f1e",
		"/v2/a/tags/list", "/v2/a/referrers/sha256:00",
		"/v2/blobs/blobs/uploads/", "/v2/a/blobs/blobs/uploads/x", "/v2/manifests/manifests/tags/list",
		"/v2/../x/manifests/latest", "/v2/a//b/tags/list", "/v2/A/tags/list", "/v2//_oci/ext/discover",
		"/v2/a/manifests/", "/v2/a/blobs/", "/v2/a/referrers/", "/v2/a/tags/list/", "/v2/a", "/", "",
	} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		rt, err := parseRoute(path)
		if err != nil {
			e, ok := oci.AsError(err)
			if !ok {
				t.Fatalf("parseRoute(%q) error %v is not an *oci.Error", path, err)
			}
			if e.Code != oci.CodeNameInvalid && e.Code != oci.CodeNameUnknown {
				t.Fatalf("parseRoute(%q): code %s", path, e.Code)
			}
			if rt != (route{}) {
				t.Fatalf("parseRoute(%q) returned route %+v with its error", path, rt)
			}
			return
		}
		switch rt.kind {
		case routePing, routeCatalog:
			if rt.name != "" || rt.arg != "" {
				t.Fatalf("parseRoute(%q) = %+v", path, rt)
			}
		case routeDiscover:
			if rt.name != "" && !oci.ValidName(rt.name) {
				t.Fatalf("parseRoute(%q): invalid name %q", path, rt.name)
			}
		default:
			if !oci.ValidName(rt.name) {
				t.Fatalf("parseRoute(%q): invalid name %q", path, rt.name)
			}
		}
		if strings.Contains(rt.arg, "/") {
			t.Fatalf("parseRoute(%q): arg %q holds a '/'", path, rt.arg)
		}
		p := routePath(t, rt)
		again, err := parseRoute(p)
		if err != nil {
			t.Fatalf("parseRoute(%q) = %+v, whose path %q does not parse: %v", path, rt, p, err)
		}
		if again != rt {
			t.Fatalf("parseRoute(%q) = %+v, whose path %q parses to %+v", path, rt, p, again)
		}
	})
}
