package httpapi

import (
	"net/http"
	"strconv"
	"strings"
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
		// The storage serves the bytes and the ranges itself; a range it
		// would ignore, or cannot satisfy, is answered here as the local
		// backend answers it.
		if rg := r.Header.Get("Range"); rg != "" && !satisfiable(rg, c.Size) {
			// No error code of the spec fits: an empty body, as the
			// local backend (http.ServeContent) answers in plain text.
			hdr.Set("Content-Range", "bytes */"+strconv.FormatInt(c.Size, 10))
			writeEmpty(w, http.StatusRequestedRangeNotSatisfiable)
			return
		}
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

// satisfiable reports whether the Range header value rg is well formed
// ("bytes=" and ranges "first-last", "first-" or "-suffix") and at least
// one of its ranges holds a byte of a blob of size bytes (RFC 9110, 14.1).
func satisfiable(rg string, size int64) bool {
	specs, ok := strings.CutPrefix(rg, "bytes=")
	if !ok {
		return false
	}
	any := false
	for _, spec := range strings.Split(specs, ",") {
		a, b, ok := strings.Cut(strings.TrimSpace(spec), "-")
		if !ok {
			return false
		}
		switch {
		case a == "":
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n < 0 {
				return false
			}
			any = any || n > 0 && size > 0
		default:
			first, err := strconv.ParseInt(a, 10, 64)
			if err != nil || first < 0 {
				return false
			}
			if b != "" {
				last, err := strconv.ParseInt(b, 10, 64)
				if err != nil || last < first {
					return false
				}
			}
			any = any || first < size
		}
	}
	return any
}
