package httpapi

import (
	"cmp"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"

	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
)

// pageParams reads the n and last parameters of a listing. A missing n is
// 0 (the registry's default page).
func pageParams(r *http.Request) (n int, last string, err error) {
	q := r.URL.Query()
	if s := q.Get("n"); s != "" {
		n, err = strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, "", oci.Errorf(oci.CodeUnsupported, "n=%q is not a count", s).WithStatus(http.StatusBadRequest)
		}
	}
	last = q.Get("last")
	if err := checkParam("last", last, oci.MaxNameLength); err != nil {
		return 0, "", err
	}
	return n, last, nil
}

// maxReferrersCursor bounds the last= of a referrers listing: an artifact
// type (at most 255 bytes, RFC 6838), '|' and a digest.
const maxReferrersCursor = 512

// checkParam refuses a listing parameter that no stored key could match:
// longer than max bytes (DynamoDB takes sort keys of at most 1 KB) or
// not UTF-8.
func checkParam(name, v string, max int) error {
	if len(v) > max || !utf8.ValidString(v) {
		return oci.Errorf(oci.CodeUnsupported, "%s= must be UTF-8 of at most %d bytes (no tag, repository name or artifact type is longer)", name, max).
			WithStatus(http.StatusBadRequest)
	}
	return nil
}

// setNextLink adds the Link header to the page after, when there is one.
func setNextLink(w http.ResponseWriter, path string, q url.Values) {
	w.Header().Set("Link", "<"+path+"?"+q.Encode()+`>; rel="next"`)
}

func (h *Handler) tags(w http.ResponseWriter, r *http.Request, rt route) {
	n, last, err := pageParams(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	tags := []string{}
	if !r.URL.Query().Has("n") || n > 0 {
		page, err := h.reg.Tags(r.Context(), rt.name, last, n)
		if err != nil {
			h.error(w, r, err)
			return
		}
		if page.Next != "" {
			setNextLink(w, r.URL.Path, url.Values{"n": {strconv.Itoa(len(page.Items))}, "last": {page.Next}})
		}
		tags = append(tags, page.Items...)
	} else if _, err := h.reg.Tags(r.Context(), rt.name, "", 1); err != nil {
		// n=0 lists no tags, but of a repository that exists.
		h.error(w, r, err)
		return
	}
	writeJSON(w, r, http.StatusOK, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

func (h *Handler) catalog(w http.ResponseWriter, r *http.Request, _ route) {
	n, last, err := pageParams(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	repos := []string{}
	if !r.URL.Query().Has("n") || n > 0 {
		// Only what the caller may pull: the registry reads past the
		// rest, and the Link names no repository the caller may not see.
		mayPull, err := h.mayPull(r.Context(), callerOf(r.Context()))
		if err != nil {
			h.error(w, r, err)
			return
		}
		page, err := h.reg.Catalog(r.Context(), last, n, mayPull)
		if err != nil {
			h.error(w, r, err)
			return
		}
		if page.Next != "" {
			size := n
			if size == 0 {
				size = len(page.Items)
			}
			setNextLink(w, r.URL.Path, url.Values{"n": {strconv.Itoa(size)}, "last": {page.Next}})
		}
		repos = append(repos, page.Items...)
	}
	writeJSON(w, r, http.StatusOK, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

func (h *Handler) referrers(w http.ResponseWriter, r *http.Request, rt route) {
	d, err := parseDigest(rt.arg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	q := r.URL.Query()
	artifactType, last := q.Get("artifactType"), q.Get("last")
	if err := cmp.Or(checkParam("artifactType", artifactType, 255), checkParam("last", last, maxReferrersCursor)); err != nil {
		h.error(w, r, err)
		return
	}
	page, err := h.reg.Referrers(r.Context(), rt.name, d, artifactType, last)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if artifactType != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	if page.Next != "" {
		next := url.Values{"last": {page.Next}}
		if artifactType != "" {
			next.Set("artifactType", artifactType)
		}
		setNextLink(w, r.URL.Path, next)
	}
	idx := v1.Index{
		MediaType: v1.MediaTypeImageIndex,
		Manifests: page.Items,
	}
	idx.SchemaVersion = 2
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	writeJSON(w, r, http.StatusOK, v1.MediaTypeImageIndex, idx)
}

// extension is an entry of the extensions discovery list.
type extension struct {
	Name        string   `json:"name"`
	URL         string   `json:"url"`
	Description string   `json:"description,omitempty"`
	Endpoints   []string `json:"endpoints"`
}

// extensions are the registry API extensions Pier serves.
var extensions = []extension{{
	Name:        "_oci",
	URL:         "https://github.com/opencontainers/distribution-spec/blob/v1.1.1/extensions/_oci.md",
	Description: "discovery of the extensions this registry serves",
	Endpoints:   []string{"_oci/ext/discover"},
}}

func (h *Handler) discover(w http.ResponseWriter, r *http.Request, _ route) {
	exts := extensions
	if h.reg.DirectUploads() {
		exts = append(exts[:len(exts):len(exts)], directExtension)
	}
	writeJSON(w, r, http.StatusOK, "application/json", struct {
		Extensions []extension `json:"extensions"`
	}{exts})
}
