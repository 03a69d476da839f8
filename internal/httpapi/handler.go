// Package httpapi serves the OCI distribution API over HTTP: it parses
// routes, headers and query parameters, calls the registry service, and
// writes status codes, OCI headers and error bodies. It knows nothing of
// AWS: the same handler serves `pier serve` and the Lambda function.
package httpapi

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/metrics"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/site"
)

// Options tune a Handler.
type Options struct {
	// Logger receives one JSON line per request. Default slog.Default().
	Logger *slog.Logger
	// Auth is the access control; nil serves an open registry.
	Auth *Auth
	// UploadURL is the base URL (scheme and host, no /v2) of the endpoint
	// that takes the chunks of uploads: the uploads' Locations point
	// there, absolute, with the signed state that lets a client continue
	// its upload there without logging in. "": Locations are paths on
	// this endpoint.
	UploadURL string
	// Sites serves the files of artifacts under /sites/ (access checked
	// by Auth); nil: none.
	Sites *site.Server
	// Metrics receives a record of each request; nil: none.
	Metrics metrics.Recorder
}

// Handler is the http.Handler of the /v2 API.
type Handler struct {
	reg       *registry.Registry
	log       *slog.Logger
	auth      *Auth
	tokens    *auth.TokenHandler
	uploadURL string
	sites     *site.Server
	metrics   metrics.Recorder
}

// New returns the handler of the /v2 API for reg, with logging and panic
// recovery around it.
func New(reg *registry.Registry, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{reg: reg, log: opts.Logger, auth: opts.Auth, uploadURL: strings.TrimRight(opts.UploadURL, "/"), sites: opts.Sites, metrics: opts.Metrics}
	if a := opts.Auth; a != nil {
		h.tokens = &auth.TokenHandler{
			Verifier: a.Verifier, Signer: a.Signer, Policy: a.Policy, Limiter: a.Limiter,
			TTL: a.TokenTTL, Service: h.service(), Logger: opts.Logger,
		}
	}
	return h.logged(h)
}

// ServeHTTP routes a request to the handler of its endpoint.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.isSite(r) {
		h.sites.Serve(w, r, h.siteAccess)
		return
	}
	w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
	rt, err := parseRoute(r.URL.Path)
	if err != nil {
		h.error(w, r, err)
		return
	}
	methods, ok := endpoints[rt.kind]
	if !ok {
		h.error(w, r, notFoundError())
		return
	}
	fn, ok := methods[r.Method]
	if !ok {
		// RFC 9110, section 15.5.6: a 405 lists the methods that are.
		w.Header().Set("Allow", strings.Join(slices.Sorted(maps.Keys(methods)), ", "))
		h.error(w, r, oci.Errorf(oci.CodeUnsupported, "method %s is not supported on this endpoint", r.Method))
		return
	}
	if rt.kind == routeToken {
		fn(h, w, r, rt)
		return
	}
	c, ok := h.authorize(w, r, rt)
	if !ok {
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), callerKey, c))
	fn(h, w, r, rt)
}

type handlerFunc func(h *Handler, w http.ResponseWriter, r *http.Request, rt route)

// endpoints maps each route to its handlers by method.
var endpoints = map[routeKind]map[string]handlerFunc{
	routePing: {
		http.MethodGet:  (*Handler).ping,
		http.MethodHead: (*Handler).ping,
	},
	routeCatalog: {http.MethodGet: (*Handler).catalog},
	routeDiscover: {
		http.MethodGet: (*Handler).discover,
	},
	routeManifest: {
		http.MethodGet:    (*Handler).getManifest,
		http.MethodHead:   (*Handler).getManifest,
		http.MethodPut:    (*Handler).putManifest,
		http.MethodDelete: (*Handler).deleteManifest,
	},
	routeBlob: {
		http.MethodGet:    (*Handler).getBlob,
		http.MethodHead:   (*Handler).getBlob,
		http.MethodDelete: (*Handler).deleteBlob,
	},
	routeUploadStart: {http.MethodPost: (*Handler).startUpload},
	routeUpload: {
		http.MethodGet:    (*Handler).uploadStatus,
		http.MethodPatch:  (*Handler).patchUpload,
		http.MethodPut:    (*Handler).finishUpload,
		http.MethodDelete: (*Handler).cancelUpload,
	},
	routeTags:      {http.MethodGet: (*Handler).tags},
	routeToken:     {http.MethodGet: (*Handler).token, http.MethodPost: (*Handler).token},
	routeReferrers: {http.MethodGet: (*Handler).referrers},
}

func (h *Handler) ping(w http.ResponseWriter, r *http.Request, _ route) {
	writeJSON(w, r, http.StatusOK, "application/json", struct{}{})
}
