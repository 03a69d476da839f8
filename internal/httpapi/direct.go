package httpapi

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/direct"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
)

// directExtension is the discovery entry of direct uploads.
var directExtension = extension{
	Name:        "_pier/direct-upload",
	URL:         "https://github.com/pier-registry/pier/blob/main/docs/direct-upload.md",
	Description: "direct-to-S3 blob uploads: POST with Pier-Upload-Mode: direct gets presigned part-upload URLs",
	Endpoints:   []string{"blobs/uploads"},
}

// wantsDirect reports whether the POST r asks for a direct upload that
// this registry offers.
func (h *Handler) wantsDirect(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get(direct.ModeHeader), direct.Mode) && h.reg.DirectUploads()
}

func newDirectBody(d registry.DirectUpload, uploaded bool) direct.Session {
	b := direct.Session{
		PartSize: d.Layout.PartSize, MinPartSize: d.Layout.MinPartSize, MaxParts: int(d.Layout.MaxParts),
		Expires: d.Upload.Expires.UTC().Truncate(time.Second), Digest: string(d.Digest), Parts: []direct.PartURL{},
	}
	for _, p := range d.Parts {
		pu := direct.PartURL{Number: int(p.Number), URL: p.URL, Expires: p.Expires.UTC()}
		for k := range p.Header {
			if pu.Header == nil {
				pu.Header = map[string]string{}
			}
			pu.Header[k] = p.Header.Get(k)
		}
		b.Parts = append(b.Parts, pu)
	}
	if uploaded {
		for _, p := range d.Uploaded {
			b.Uploaded = append(b.Uploaded, direct.Uploaded{Number: int(p.Number), Size: p.Size})
		}
	}
	return b
}

// startDirectUpload answers POST /v2/<name>/blobs/uploads/ with
// Pier-Upload-Mode: direct: a direct upload session and its first part
// URLs.
func (h *Handler) startDirectUpload(w http.ResponseWriter, r *http.Request, rt route) {
	length := int64(-1)
	if s := r.Header.Get(direct.LengthHeader); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			h.error(w, r, oci.Errorf(oci.CodeSizeInvalid, "%s %q is not a number of bytes", direct.LengthHeader, s))
			return
		}
		length = n
	}
	var dg digest.Digest
	if s := r.Header.Get(direct.DigestHeader); s != "" {
		var err error
		if dg, err = parseDigest(s); err != nil {
			h.error(w, r, err)
			return
		}
	}
	ctx := r.Context()
	d, err := h.reg.StartDirectUpload(ctx, rt.name, callerOf(ctx).name, length, dg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.setUploadHeaders(w.Header(), d.Upload)
	w.Header().Set(direct.ModeHeader, direct.Mode)
	writeJSON(w, r, http.StatusAccepted, "application/json", newDirectBody(d, false))
}

// directParts answers GET <upload location> with Pier-Upload-Parts: the
// URLs of the parts asked for, and the parts uploaded.
func (h *Handler) directParts(w http.ResponseWriter, r *http.Request, rt route) {
	spec := r.Header.Get(direct.PartsHeader)
	a, b, ok := strings.Cut(spec, "-")
	first, err1 := strconv.ParseInt(a, 10, 32)
	last, err2 := strconv.ParseInt(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		h.error(w, r, oci.Errorf(oci.CodeBlobUploadInvalid, "%s %q: want <first>-<last>, part numbers", direct.PartsHeader, spec))
		return
	}
	d, err := h.reg.DirectParts(r.Context(), uploadRef(r, rt), int32(first), int32(last))
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.setUploadHeaders(w.Header(), d.Upload)
	w.Header().Set(direct.ModeHeader, direct.Mode)
	writeJSON(w, r, http.StatusOK, "application/json", newDirectBody(d, true))
}

// finishPending answers a finish whose verification goes on: 202, and
// when to ask again. It reports whether err was such a finish.
func (h *Handler) finishPending(w http.ResponseWriter, err error) bool {
	var p *registry.PendingError
	if !errors.As(err, &p) {
		return false
	}
	w.Header().Set("Location", h.uploadLocation(p.Upload))
	w.Header().Set("Docker-Upload-UUID", p.Upload.ID)
	w.Header().Set("Retry-After", strconv.Itoa(int(p.RetryAfter.Seconds())))
	writeEmpty(w, http.StatusAccepted)
	return true
}
