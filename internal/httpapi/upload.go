package httpapi

import (
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/direct"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
)

// startUpload answers POST /v2/<name>/blobs/uploads/: a mount (?mount=,
// with or without from=), a monolithic push (?digest= and the body), or
// a new upload session.
func (h *Handler) startUpload(w http.ResponseWriter, r *http.Request, rt route) {
	ctx := r.Context()
	q := r.URL.Query()
	if q.Has("mount") {
		d, err := parseDigest(q.Get("mount"))
		if err != nil {
			h.error(w, r, err)
			return
		}
		mayMount, err := h.mayMountFrom(r, q.Get("from"))
		if err != nil {
			h.error(w, r, err)
			return
		}
		if mayMount {
			mounted, err := h.reg.Mount(ctx, rt.name, d, q.Get("from"))
			if err != nil {
				h.error(w, r, err)
				return
			}
			if mounted {
				blobCreated(w, rt.name, d)
				return
			}
		}
		// Not there to mount: the client uploads it in the session below.
	} else if q.Has("digest") {
		d, err := parseDigest(q.Get("digest"))
		if err != nil {
			h.error(w, r, err)
			return
		}
		if err := h.reg.PutBlob(ctx, rt.name, d, r.Body); err != nil {
			h.error(w, r, err)
			return
		}
		blobCreated(w, rt.name, d)
		return
	}
	if h.wantsDirect(r) {
		h.startDirectUpload(w, r, rt)
		return
	}
	u, err := h.reg.StartUpload(ctx, rt.name, callerOf(ctx).name)
	if err != nil {
		h.error(w, r, err)
		return
	}
	opts := h.reg.Options()
	if opts.ChunkMinLength > 0 {
		w.Header().Set("OCI-Chunk-Min-Length", strconv.FormatInt(opts.ChunkMinLength, 10))
	}
	if opts.ChunkMaxLength > 0 {
		w.Header().Set("OCI-Chunk-Max-Length", strconv.FormatInt(opts.ChunkMaxLength, 10))
	}
	h.uploadAccepted(w, u, http.StatusAccepted)
}

// mayMountFrom reports whether the caller may mount a blob from repository
// from: one its identity may pull. An anonymous mount (from "") takes a blob from any
// repository, so with access control only a caller who may pull every
// repository makes one; for others the mount is not made and the client
// uploads the blob.
func (h *Handler) mayMountFrom(r *http.Request, from string) (bool, error) {
	c := callerOf(r.Context())
	if c.open || from != "" && h.may(c, from, auth.Pull) {
		return true, nil
	}
	// A token names the scopes of one request; what the identity may do
	// is in its grants (one read of the identity).
	id, err := h.identity(r.Context(), c)
	if err != nil || id == nil {
		return false, err
	}
	if from != "" {
		return auth.Allowed(id, h.auth.Policy, from, auth.Pull), nil
	}
	for _, g := range id.Grants {
		if g.Pattern == "*" && slices.Contains(g.Actions, auth.Pull) {
			return true, nil
		}
	}
	return false, nil
}

// uploadAccepted writes the headers that tell a client where its upload
// stands: Location, Range and the upload id.
func (h *Handler) uploadAccepted(w http.ResponseWriter, u store.Upload, status int) {
	h.setUploadHeaders(w.Header(), u)
	writeEmpty(w, status)
}

func (h *Handler) setUploadHeaders(hdr http.Header, u store.Upload) {
	hdr.Set("Location", h.uploadLocation(u))
	end := u.Offset - 1
	if end < 0 {
		end = 0
	}
	hdr.Set("Range", "0-"+strconv.FormatInt(end, 10))
	hdr.Set("Docker-Upload-UUID", u.ID)
}

// uploadRef names the upload of route rt for the caller of r: the
// identity that sent it ("" anonymous or on an open registry), with the
// signed state of the upload's Location that r carries.
func uploadRef(r *http.Request, rt route) registry.UploadRef {
	return registry.UploadRef{Repo: rt.name, ID: rt.arg, Owner: callerOf(r.Context()).name, State: r.URL.Query().Get(stateParam)}
}

// stateParam is the query parameter of an upload's Location that carries
// its signed state (registry.Registry.State).
const stateParam = "state"

// uploadLocation is the Location of upload u: its path, on the upload
// endpoint when one is configured (Options.UploadURL), with its signed
// state when the registry signs them.
func (h *Handler) uploadLocation(u store.Upload) string {
	loc := h.uploadURL + "/v2/" + u.Repository + "/blobs/uploads/" + u.ID
	if s := h.reg.State(u); s != "" {
		loc += "?" + stateParam + "=" + s
	}
	return loc
}

// blobCreated answers a push that made blob d of repo.
func blobCreated(w http.ResponseWriter, repo string, d digest.Digest) {
	w.Header().Set("Location", "/v2/"+repo+"/blobs/"+d.String())
	w.Header().Set("Docker-Content-Digest", d.String())
	writeEmpty(w, http.StatusCreated)
}

// chunkStart returns the start of the chunk that r carries, from its
// Content-Range, or -1 when it has none.
func chunkStart(r *http.Request) (int64, error) {
	cr := r.Header.Get("Content-Range")
	if cr == "" {
		return -1, nil
	}
	start, end, err := parseContentRange(cr)
	if err != nil {
		return 0, oci.Errorf(oci.CodeBlobUploadInvalid, "%v", err).WithStatus(http.StatusRequestedRangeNotSatisfiable)
	}
	if r.ContentLength >= 0 && r.ContentLength != end-start+1 {
		return 0, oci.Errorf(oci.CodeBlobUploadInvalid, "Content-Range %s says %d bytes, Content-Length says %d", cr, end-start+1, r.ContentLength).
			WithStatus(http.StatusRequestedRangeNotSatisfiable)
	}
	return start, nil
}

// uploadError answers err; a chunk out of order also gets the headers
// that say where the upload stands.
func (h *Handler) uploadError(w http.ResponseWriter, r *http.Request, err error) {
	var re *registry.RangeError
	if errors.As(err, &re) {
		h.setUploadHeaders(w.Header(), re.Upload)
	}
	h.error(w, r, err)
}

func (h *Handler) patchUpload(w http.ResponseWriter, r *http.Request, rt route) {
	start, err := chunkStart(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	u, err := h.reg.WriteChunk(r.Context(), uploadRef(r, rt), start, r.Body)
	if err != nil {
		h.uploadError(w, r, err)
		return
	}
	h.uploadAccepted(w, u, http.StatusAccepted)
}

func (h *Handler) finishUpload(w http.ResponseWriter, r *http.Request, rt route) {
	q := r.URL.Query()
	if !q.Has("digest") {
		h.error(w, r, oci.Errorf(oci.CodeDigestInvalid, "the digest parameter is missing: PUT ...?digest=<digest> ends an upload"))
		return
	}
	d, err := parseDigest(q.Get("digest"))
	if err != nil {
		h.error(w, r, err)
		return
	}
	start, err := chunkStart(r)
	if err != nil {
		h.error(w, r, err)
		return
	}
	var body io.Reader
	if r.ContentLength != 0 {
		body = r.Body
	}
	if err := h.reg.FinishUpload(r.Context(), uploadRef(r, rt), d, start, body); err != nil {
		if h.finishPending(w, err) {
			return
		}
		h.uploadError(w, r, err)
		return
	}
	blobCreated(w, rt.name, d)
}

func (h *Handler) uploadStatus(w http.ResponseWriter, r *http.Request, rt route) {
	if r.Header.Get(direct.PartsHeader) != "" {
		h.directParts(w, r, rt)
		return
	}
	u, err := h.reg.Upload(r.Context(), uploadRef(r, rt))
	if err != nil {
		h.error(w, r, err)
		return
	}
	h.uploadAccepted(w, u, http.StatusNoContent)
}

func (h *Handler) cancelUpload(w http.ResponseWriter, r *http.Request, rt route) {
	if err := h.reg.CancelUpload(r.Context(), uploadRef(r, rt)); err != nil {
		h.error(w, r, err)
		return
	}
	writeEmpty(w, http.StatusNoContent)
}
