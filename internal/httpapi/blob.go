package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
)

// parseDigest parses the digest of a blob or referrers path.
func parseDigest(s string) (digest.Digest, error) {
	return oci.ParseDigest(s)
}

func (h *Handler) getBlob(w http.ResponseWriter, r *http.Request, rt route) {
	d, err := parseDigest(rt.arg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	hdr := w.Header()
	if r.Method == http.MethodHead {
		size, err := h.reg.StatBlob(r.Context(), rt.name, d)
		if err != nil {
			h.error(w, r, err)
			return
		}
		setBlobHeaders(hdr, d)
		hdr.Set("Content-Length", strconv.FormatInt(size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}
	c, err := h.reg.OpenBlob(r.Context(), rt.name, d)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if c.URL != "" {
		// The storage serves the bytes (and Range requests) itself.
		hdr.Set("Docker-Content-Digest", d.String())
		hdr.Set("Location", c.URL)
		writeEmpty(w, http.StatusTemporaryRedirect)
		return
	}
	defer c.Body.Close()
	setBlobHeaders(hdr, d)
	// ServeContent answers Range requests (206, 416) and conditional ones.
	http.ServeContent(w, r, "", time.Time{}, c.Body)
}

func setBlobHeaders(hdr http.Header, d digest.Digest) {
	hdr.Set("Docker-Content-Digest", d.String())
	hdr.Set("ETag", `"`+d.String()+`"`)
	hdr.Set("Content-Type", "application/octet-stream")
	hdr.Set("Accept-Ranges", "bytes")
	hdr.Set("Cache-Control", "max-age=31536000, immutable")
}

func (h *Handler) deleteBlob(w http.ResponseWriter, r *http.Request, rt route) {
	d, err := parseDigest(rt.arg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if err := h.reg.DeleteBlob(r.Context(), rt.name, d); err != nil {
		h.error(w, r, err)
		return
	}
	writeEmpty(w, http.StatusAccepted)
}
