package httpapi

import (
	"net/http"

	"github.com/pier-registry/pier/internal/metrics"
)

// requestKind is the kind of r that its log line and its metrics carry
// (internal/metrics): what the client was doing, from its route and
// method. A path or method of no endpoint is metrics.KindOther.
func (h *Handler) requestKind(r *http.Request) string {
	if h.isSite(r) {
		return metrics.KindSite
	}
	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		return metrics.KindOther
	}
	if _, ok := endpoints[rt.kind][r.Method]; !ok {
		return metrics.KindOther
	}
	switch rt.kind {
	case routeManifest, routeBlob:
		switch r.Method {
		case http.MethodPut:
			return metrics.KindPush
		case http.MethodDelete:
			return metrics.KindDelete
		}
		return metrics.KindPull
	case routeUploadStart, routeUpload:
		return metrics.KindUpload
	case routeReferrers:
		return metrics.KindReferrers
	case routeTags:
		return metrics.KindTags
	case routeCatalog:
		return metrics.KindCatalog
	case routeToken:
		return metrics.KindToken
	case routePing, routeDiscover:
		return metrics.KindPing
	}
	return metrics.KindOther
}
