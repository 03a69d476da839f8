package httpapi

import (
	"net/http"
	"strings"

	"github.com/pier-registry/pier/internal/oci"
)

type routeKind int

const (
	routePing routeKind = iota + 1
	routeCatalog
	routeDiscover
	routeManifest
	routeBlob
	routeUploadStart
	routeUpload
	routeTags
	routeReferrers
	routeToken
)

// route is a parsed /v2 path.
type route struct {
	kind routeKind
	// name is the repository name ("" for registry-level routes).
	name string
	// arg is the reference, digest or upload id at the end of the path.
	arg string
}

// parseRoute parses a /v2 URL path. Repository names hold slashes, so a
// path is read from its end: the last segments say the endpoint, what is
// before them is the name, checked against the spec's grammar here, before
// anything else sees it.
func parseRoute(path string) (route, error) {
	rest, ok := strings.CutPrefix(path, "/v2/")
	if !ok {
		if path == "/v2" {
			return route{kind: routePing}, nil
		}
		return route{}, notFoundError()
	}
	switch rest {
	case "":
		return route{kind: routePing}, nil
	case "_catalog":
		return route{kind: routeCatalog}, nil
	case "_oci/ext/discover":
		return route{kind: routeDiscover}, nil
	case strings.TrimPrefix(tokenPath, "/v2/"):
		return route{kind: routeToken}, nil
	}
	segs := strings.Split(rest, "/")
	n := len(segs)
	tail := func(k int) string { return segs[n-k] } // k-th segment from the end
	var (
		rt   route
		keep int // segments of the name
	)
	switch {
	case n >= 3 && tail(2) == "tags" && tail(1) == "list":
		rt, keep = route{kind: routeTags}, n-2
	case n >= 4 && tail(3) == "_oci" && tail(2) == "ext" && tail(1) == "discover":
		rt, keep = route{kind: routeDiscover}, n-3
	case n >= 3 && tail(2) == "manifests":
		rt, keep = route{kind: routeManifest, arg: tail(1)}, n-2
	case n >= 3 && tail(2) == "referrers":
		rt, keep = route{kind: routeReferrers, arg: tail(1)}, n-2
	case n >= 3 && tail(2) == "blobs" && tail(1) == "uploads":
		rt, keep = route{kind: routeUploadStart}, n-2
	case n >= 4 && tail(3) == "blobs" && tail(2) == "uploads":
		rt, keep = route{kind: routeUpload, arg: tail(1)}, n-3
		if rt.arg == "" {
			rt.kind = routeUploadStart
		}
	case n >= 3 && tail(2) == "blobs":
		rt, keep = route{kind: routeBlob, arg: tail(1)}, n-2
	default:
		return route{}, notFoundError()
	}
	rt.name = strings.Join(segs[:keep], "/")
	if err := oci.CheckName(rt.name); err != nil {
		return route{}, err
	}
	return rt, nil
}

// notFoundError answers a path that is no endpoint of the API.
func notFoundError() *oci.Error {
	return oci.Errorf(oci.CodeNameUnknown, "no such endpoint").WithStatus(http.StatusNotFound)
}
