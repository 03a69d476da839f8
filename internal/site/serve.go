package site

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Access is what the access control says of a request for the site of a
// repository.
type Access struct {
	// Status is 0 when the caller may pull the repository, else the
	// status of the refusal: 401 (no or bad credentials), 403 (valid
	// ones without the right), 429 (too many failed logins).
	Status int
	// Message says why, for a refusal.
	Message string
	// RetryAfter is when to try again, for a 429.
	RetryAfter time.Duration
	// Public: anyone may pull the repository, so shared caches may keep
	// its files.
	Public bool
}

// Authorizer checks that the caller of r may pull repo.
type Authorizer func(r *http.Request, repo string) Access

// Realm is the realm of the Basic challenge of a private site.
const Realm = "Pier"

// Cache lifetimes of files addressed by digest and by tag.
const (
	digestMaxAge = 365 * 24 * time.Hour
	tagMaxAge    = time.Minute
)

// Serve answers a GET or HEAD of a /sites/ URL, checking access with
// authorize.
func (s *Server) Serve(w http.ResponseWriter, r *http.Request, authorize Authorizer) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		page(w, r, http.StatusMethodNotAllowed, "Sites are read with GET.")
		return
	}
	a, ok := parseAddress(r.URL.Path)
	if !ok {
		page(w, r, http.StatusNotFound, "No site here: sites are at /sites/<repository>/@<tag or digest>/.")
		return
	}
	acc := authorize(r, a.repo)
	if acc.Status != 0 {
		refuse(w, r, acc)
		return
	}
	if a.root {
		redirect(w, r, "@"+a.ref.String()+"/")
		return
	}
	ctx := r.Context()
	m, body, err := s.reg.Manifest(ctx, a.repo, a.ref)
	if err != nil {
		if _, ok := oci.AsError(err); ok {
			page(w, r, http.StatusNotFound, fmt.Sprintf("%s has no %s.", a.repo, a.ref))
			return
		}
		s.fail(w, r, err)
		return
	}
	x, err := s.index(ctx, a.repo, m.Digest, m.MediaType, body)
	switch {
	case errors.Is(err, errNotSite):
		page(w, r, http.StatusNotFound, fmt.Sprintf("%s@%s is not a site: it has no titled layers.", a.repo, a.ref))
		return
	case errors.Is(err, errTooLarge):
		s.opts.Logger.WarnContext(ctx, "site not unpacked", "error", err.Error())
		page(w, r, http.StatusInsufficientStorage, "This site is too large to unpack: "+err.Error())
		return
	case errors.Is(err, errBadArchive):
		s.opts.Logger.WarnContext(ctx, "site not unpacked", "error", err.Error())
		page(w, r, http.StatusUnprocessableEntity, "This site's archive cannot be unpacked: "+err.Error())
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	f, ok := cleanFile(a.file)
	e, found := x.Files[f]
	switch {
	case ok && found:
		s.file(w, r, a, acc, e, http.StatusOK, f)
	case ok && !strings.HasSuffix(a.file, "/") && x.isDir(f):
		redirect(w, r, url.PathEscape(path.Base(f))+"/")
	default:
		if e, found := x.Files["404.html"]; found {
			s.file(w, r, a, acc, e, http.StatusNotFound, "404.html")
			return
		}
		page(w, r, http.StatusNotFound, "No file "+a.file+" in this site.")
	}
}

// file answers with the bytes of file e at path p, with status.
func (s *Server) file(w http.ResponseWriter, r *http.Request, a address, acc Access, e entry, status int, p string) {
	hdr := w.Header()
	etag := `"` + e.Digest.String() + `"`
	hdr.Set("ETag", etag)
	hdr.Set("Content-Type", contentType(p, e.Type))
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Cache-Control", cacheControl(a, acc.Public))
	if status == http.StatusOK && matches(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if r.Method == http.MethodHead {
		// The index knows the size: no read, and no redirect (a URL
		// presigned for GET answers HEAD with 403).
		hdr.Set("Content-Length", strconv.FormatInt(e.Size, 10))
		w.WriteHeader(status)
		return
	}
	ctx := r.Context()
	url := ""
	var body io.ReadCloser
	if e.Layer {
		c, err := s.reg.OpenBlob(ctx, a.repo, e.Digest)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		url, body = c.URL, c.Body
	}
	u, remote := s.blobs.(store.URLer)
	if remote && e.Size > s.opts.InlineMax && status == http.StatusOK {
		if url == "" {
			var err error
			if url, err = u.URL(ctx, e.Digest, ""); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		hdr.Del("Content-Type")
		hdr.Set("Cache-Control", "no-store") // the URL expires
		hdr.Set("Location", url)
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	if body == nil {
		rc, err := s.blobs.Open(ctx, e.Digest)
		if errors.Is(err, store.ErrNotFound) && url != "" {
			// A layer whose bytes are still being moved (a large upload
			// on S3) is only at its URL.
			hdr.Set("Cache-Control", "no-store")
			hdr.Set("Location", url)
			w.WriteHeader(http.StatusTemporaryRedirect)
			return
		}
		if err != nil {
			s.fail(w, r, err)
			return
		}
		body = rc
	}
	defer body.Close()
	if rs, ok := body.(io.ReadSeeker); ok && !remote && status == http.StatusOK {
		// A local file seeks for free: ServeContent answers ranges.
		http.ServeContent(w, r, "", time.Time{}, rs)
		return
	}
	hdr.Set("Content-Length", strconv.FormatInt(e.Size, 10))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		io.Copy(w, body)
	}
}

// cacheControl is the Cache-Control of the files of a site.
func cacheControl(a address, public bool) string {
	scope := "private"
	if public {
		scope = "public"
	}
	if a.ref.Digest != "" {
		return fmt.Sprintf("%s, max-age=%d, immutable", scope, int(digestMaxAge.Seconds()))
	}
	return fmt.Sprintf("%s, max-age=%d", scope, int(tagMaxAge.Seconds()))
}

// matches reports whether the If-None-Match header value inm names etag.
func matches(inm, etag string) bool {
	for _, t := range strings.Split(inm, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}

// redirect sends the browser to the URL of a directory, ref (relative to
// the request's URL: it is right behind a proxy that rewrites paths),
// with r's query.
func redirect(w http.ResponseWriter, r *http.Request, ref string) {
	if r.URL.RawQuery != "" {
		ref += "?" + r.URL.RawQuery
	}
	w.Header().Set("Location", "./"+ref)
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusMovedPermanently)
}

// refuse answers a request that acc refuses.
func refuse(w http.ResponseWriter, r *http.Request, acc Access) {
	switch acc.Status {
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="`+Realm+`", charset="UTF-8"`)
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(int(acc.RetryAfter.Seconds()+0.999)))
	}
	page(w, r, acc.Status, acc.Message)
}

// fail answers an error of the registry or the stores: a 500 whose cause
// is logged, not shown.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	if e, ok := oci.AsError(err); ok {
		page(w, r, e.Status(), e.Message)
		return
	}
	s.opts.Logger.ErrorContext(r.Context(), "site request failed", "error", err.Error())
	page(w, r, http.StatusInternalServerError, "Internal error: see the registry's log.")
}

// page answers with a small HTML page of status and msg.
func page(w http.ResponseWriter, r *http.Request, status int, msg string) {
	title := strconv.Itoa(status) + " " + http.StatusText(status)
	b := []byte("<!doctype html>\n<meta charset=utf-8>\n<title>" + title + "</title>\n<h1>" + title + "</h1>\n<p>" + html.EscapeString(msg) + "</p>\n")
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("Content-Length", strconv.Itoa(len(b)))
	hdr.Set("X-Content-Type-Options", "nosniff")
	if hdr.Get("Cache-Control") == "" {
		hdr.Set("Cache-Control", "no-cache")
	}
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		w.Write(b)
	}
}
