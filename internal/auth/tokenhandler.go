package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Default lifetimes of the tokens TokenHandler issues.
const (
	// DefaultTTL is the lifetime of an access token.
	DefaultTTL = 5 * time.Minute
	// DefaultRefreshTTL is the lifetime of a refresh token: what docker
	// login keeps as its "identity token" instead of the password.
	DefaultRefreshTTL = 7 * 24 * time.Hour
)

// maxFormBytes bounds the body of a token POST.
const maxFormBytes = 64 << 10

// TokenHandler is the token endpoint of the Docker registry token
// specification (https://distribution.github.io/distribution/spec/auth/token/
// and its oauth page), the one docker, containerd, crane, oras, regctl
// and skopeo speak.
//
// GET takes Basic credentials, or none for an anonymous token, and the
// query parameters scope (repeatable, each may hold several scopes
// separated by spaces), service, and offline_token=true for a refresh
// token too. It answers
//
//	{"token":..., "access_token":..., "expires_in":300, "issued_at":"...", "refresh_token":...}
//
// POST takes the OAuth2 form: grant_type=password with username and
// password, and access_type=offline for a refresh token; or
// grant_type=refresh_token with refresh_token; scope space-separated;
// service and client_id, which are not checked. It answers
//
//	{"access_token":..., "token_type":"Bearer", "expires_in":300, "issued_at":"...", "scope":"...", "refresh_token":...}
//
// The access granted is what was asked for and is allowed ([Intersect]):
// a scope that is denied, malformed or of an unknown type is simply not
// granted, and the registry refuses what the token does not cover. A
// refresh token is traded for the access the identity has at that time,
// and stops working when the identity is deleted, expires, or gets a new
// password or secret.
//
// Wrong credentials get a 401 with the OCI error UNAUTHORIZED and no
// token; a user at a client address, or an address, with too many failed
// logins ([Limiter.Login]) gets a 429 TOOMANYREQUESTS with Retry-After,
// before any password is checked. Every answer has Cache-Control: no-store.
type TokenHandler struct {
	// Verifier checks credentials. Required.
	Verifier *Verifier
	// Signer issues the tokens. Required.
	Signer *Signer
	// Policy says what anonymous callers may pull.
	Policy Policy
	// Limiter limits failed logins per user name at a client address and
	// per client address ([Limiter.Login]); nil: no limit.
	Limiter *Limiter
	// TTL is the lifetime of an access token. Default DefaultTTL.
	TTL time.Duration
	// RefreshTTL is the lifetime of a refresh token. Default
	// DefaultRefreshTTL.
	RefreshTTL time.Duration
	// Service is the service name of the registry's challenges; it is
	// also the realm of the token endpoint's own Basic challenge. The
	// service parameter of requests is not checked against it.
	Service string
	// ClientAddr returns the client address of a request, for the
	// Limiter. Default: the host of r.RemoteAddr (the API Gateway
	// adapter sets it to the source IP).
	ClientAddr func(r *http.Request) string
	// Logger receives store errors. Default slog.Default().
	Logger *slog.Logger
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// tokenResponse is the body of a token answer: both the token
// specification's GET form and its OAuth2 form.
type tokenResponse struct {
	Token        string `json:"token,omitempty"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type,omitempty"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token,omitempty"`
	Scope        string `json:"scope,omitempty"`
}

// ServeHTTP answers a token request.
func (h *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if h.Signer == nil {
		h.fail(w, r, errors.New("token endpoint has no signer"))
		return
	}
	switch r.Method {
	case http.MethodGet:
		h.get(w, r)
	case http.MethodPost:
		h.post(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, oci.Errorf(oci.CodeUnsupported, "method %s is not supported by the token endpoint", r.Method))
	}
}

// get answers the GET form: Basic credentials or none.
func (h *TokenHandler) get(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	scopes := parseScopesLenient(q["scope"])
	var id *store.Identity
	if r.Header.Get("Authorization") != "" {
		user, password, ok := r.BasicAuth()
		if !ok {
			h.unauthorized(w, "the token endpoint takes Basic credentials")
			return
		}
		if id, ok = h.login(w, r, user, password); !ok {
			return
		}
	}
	offline := id != nil && q.Get("offline_token") == "true"
	h.issue(w, r, id, scopes, offline, false)
}

// post answers the OAuth2 form.
func (h *TokenHandler) post(w http.ResponseWriter, r *http.Request) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		writeError(w, oci.Errorf(oci.CodeUnsupported, "the token endpoint takes a POST of application/x-www-form-urlencoded").WithStatus(http.StatusBadRequest))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		writeError(w, oci.Errorf(oci.CodeUnsupported, "malformed form").WithStatus(http.StatusBadRequest))
		return
	}
	f := r.PostForm
	scopes := parseScopesLenient(f["scope"])
	switch gt := f.Get("grant_type"); gt {
	case "password":
		user, password := f.Get("username"), f.Get("password")
		if user == "" || password == "" {
			h.unauthorized(w, "username and password are required")
			return
		}
		id, ok := h.login(w, r, user, password)
		if !ok {
			return
		}
		h.issue(w, r, id, scopes, f.Get("access_type") == "offline", true)
	case "refresh_token":
		id, ok := h.refresh(w, r, f.Get("refresh_token"))
		if !ok {
			return
		}
		h.issue(w, r, id, scopes, false, true)
	default:
		writeError(w, oci.Errorf(oci.CodeUnsupported, "grant_type %q is not supported: use password or refresh_token", truncate(gt)).WithStatus(http.StatusBadRequest))
	}
}

// login checks credentials under the limiter ([Limiter.Login]), and
// answers the request (429, 401 or 500) when they do not give an
// identity.
func (h *TokenHandler) login(w http.ResponseWriter, r *http.Request, user, password string) (*store.Identity, bool) {
	id, err := h.Limiter.Login(r.Context(), h.Verifier, user, password, h.clientAddr(r))
	var limited *LimitedError
	switch {
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(limited.Wait.Seconds())), 10))
		writeError(w, oci.Errorf(oci.CodeTooManyRequests, "%s", limited))
		return nil, false
	case errors.Is(err, ErrBadCredentials):
		h.unauthorized(w, "authentication failed")
		return nil, false
	case err != nil:
		h.fail(w, r, err)
		return nil, false
	}
	return id, true
}

// refresh checks a refresh token and returns the identity it was issued
// to, as it is now; it answers the request (401 or 500) when there is
// none.
func (h *TokenHandler) refresh(w http.ResponseWriter, r *http.Request, token string) (*store.Identity, bool) {
	if token == "" {
		h.unauthorized(w, "refresh_token is required")
		return nil, false
	}
	c, err := h.Signer.VerifyRefresh(token, h.now())
	if err != nil {
		h.unauthorized(w, "invalid refresh token")
		return nil, false
	}
	if h.Verifier == nil {
		h.unauthorized(w, "invalid refresh token")
		return nil, false
	}
	id, err := h.Verifier.Lookup(r.Context(), c.Subject)
	if errors.Is(err, ErrBadCredentials) {
		h.unauthorized(w, "invalid refresh token")
		return nil, false
	}
	if err != nil {
		h.fail(w, r, err)
		return nil, false
	}
	if subtle.ConstantTimeCompare([]byte(c.Stamp), []byte(stamp(id))) != 1 {
		h.unauthorized(w, "invalid refresh token: the credentials it was issued for have changed")
		return nil, false
	}
	return id, true
}

// issue answers with an access token for id (nil: anonymous) granting
// what of scopes it may have, and a refresh token if offline; oauth picks
// the OAuth2 form of the answer.
func (h *TokenHandler) issue(w http.ResponseWriter, r *http.Request, id *store.Identity, scopes []Scope, offline, oauth bool) {
	now := h.now()
	ttl := h.TTL
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	granted := Intersect(id, h.Policy, scopes)
	subject := ""
	if id != nil {
		subject = id.Name
	}
	token, err := h.Signer.Issue(subject, granted, ttl, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	resp := tokenResponse{
		AccessToken: token,
		ExpiresIn:   int64(ttl / time.Second),
		IssuedAt:    now.UTC().Format(time.RFC3339),
	}
	if oauth {
		resp.TokenType = "Bearer"
		resp.Scope = JoinScopes(granted)
	} else {
		resp.Token = token
	}
	if offline && id != nil {
		rttl := h.RefreshTTL
		if rttl <= 0 {
			rttl = DefaultRefreshTTL
		}
		if resp.RefreshToken, err = h.Signer.IssueRefresh(id.Name, stamp(id), rttl, now); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// unauthorized answers 401 UNAUTHORIZED with a Basic challenge.
func (h *TokenHandler) unauthorized(w http.ResponseWriter, msg string) {
	realm := h.Service
	if realm == "" {
		realm = "pier"
	}
	w.Header().Set("WWW-Authenticate", "Basic realm="+quote(realm)+`,charset="UTF-8"`)
	writeError(w, oci.Errorf(oci.CodeUnauthorized, "%s", msg))
}

// fail answers 500 for an error that is not the client's, and logs it.
func (h *TokenHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		w.WriteHeader(499) // the client went away: nobody reads the answer
		return
	}
	log := h.Logger
	if log == nil {
		log = slog.Default()
	}
	log.ErrorContext(r.Context(), "token request failed", "error", err.Error())
	writeError(w, &oci.Error{Code: "UNKNOWN", Message: "internal error: see the registry's log", HTTPStatus: http.StatusInternalServerError})
}

// now returns the current time.
func (h *TokenHandler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// clientAddr returns the client address of r, for the limiter.
func (h *TokenHandler) clientAddr(r *http.Request) string {
	if h.ClientAddr != nil {
		return h.ClientAddr(r)
	}
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// parseScopesLenient parses the scopes of a token request, leaving out
// the malformed ones (as the reference token server does): they are not
// granted, like any scope that is not allowed.
func parseScopesLenient(ss []string) []Scope {
	var out []Scope
	for _, s := range ss {
		for f := range strings.FieldsSeq(s) {
			if sc, err := ParseScope(f); err == nil {
				out = append(out, sc)
			}
		}
	}
	return out
}

// truncate shortens a client's string for a message or a limiter key.
func truncate(s string) string {
	const max = 256
	if len(s) > max {
		return s[:max]
	}
	return s
}

// errorBody is the JSON error form of the distribution spec.
type errorBody struct {
	Errors []*oci.Error `json:"errors"`
}

// writeError answers e in the JSON error form of the distribution spec.
func writeError(w http.ResponseWriter, e *oci.Error) {
	writeJSON(w, e.Status(), errorBody{Errors: []*oci.Error{e}})
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	w.Write(b)
}
