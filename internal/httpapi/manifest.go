package httpapi

import (
	"io"
	"net/http"
	"strconv"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
)

func (h *Handler) getManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ref, err := oci.ParseReference(rt.arg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if r.Method == http.MethodHead {
		m, err := h.reg.StatManifest(r.Context(), rt.name, ref)
		if err != nil {
			h.error(w, r, err)
			return
		}
		w.Header().Set("Docker-Content-Digest", m.Digest.String())
		w.Header().Set("ETag", `"`+m.Digest.String()+`"`)
		w.Header().Set("Content-Type", m.MediaType)
		w.Header().Set("Content-Length", strconv.FormatInt(m.Size, 10))
		w.WriteHeader(http.StatusOK)
		return
	}
	m, body, err := h.reg.Manifest(r.Context(), rt.name, ref)
	if err != nil {
		h.error(w, r, err)
		return
	}
	w.Header().Set("Docker-Content-Digest", m.Digest.String())
	w.Header().Set("ETag", `"`+m.Digest.String()+`"`)
	writeBody(w, r, http.StatusOK, m.MediaType, body)
}

func (h *Handler) putManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ref, err := oci.ParseReference(rt.arg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if r.ContentLength > oci.MaxManifestSize {
		h.error(w, r, registry.ManifestTooLarge())
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, oci.MaxManifestSize+1))
	if err != nil {
		h.error(w, r, err)
		return
	}
	if len(body) > oci.MaxManifestSize {
		h.error(w, r, registry.ManifestTooLarge())
		return
	}
	tags := r.URL.Query()["tag"]
	if len(tags) > 0 && ref.Digest == "" {
		h.error(w, r, oci.Errorf(oci.CodeManifestInvalid, "tag parameters need a push by digest"))
		return
	}
	res, err := h.reg.PutManifest(r.Context(), rt.name, ref, r.Header.Get("Content-Type"), body, tags)
	if err != nil {
		h.error(w, r, err)
		return
	}
	for _, text := range res.Warnings {
		Warn(w, text)
	}
	w.Header().Set("Location", "/v2/"+rt.name+"/manifests/"+res.Digest.String())
	w.Header().Set("Docker-Content-Digest", res.Digest.String())
	if ref.Digest != "" {
		for _, t := range res.Tags {
			w.Header().Add("OCI-Tag", t)
		}
	}
	if res.Subject != "" {
		w.Header().Set("OCI-Subject", res.Subject.String())
	}
	writeEmpty(w, http.StatusCreated)
}

func (h *Handler) deleteManifest(w http.ResponseWriter, r *http.Request, rt route) {
	ref, err := oci.ParseReference(rt.arg)
	if err != nil {
		h.error(w, r, err)
		return
	}
	if err := h.reg.DeleteManifest(registry.WithIdentity(r.Context(), callerOf(r.Context()).name), rt.name, ref); err != nil {
		h.error(w, r, err)
		return
	}
	writeEmpty(w, http.StatusAccepted)
}
