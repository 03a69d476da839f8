package httpapi

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Auth is a Handler's access control: who may do what. A Handler without
// one serves an open registry.
type Auth struct {
	// Verifier checks user names and passwords (Basic auth, the token
	// endpoint). Required.
	Verifier *auth.Verifier
	// Signer issues and verifies bearer tokens. Required.
	Signer *auth.Signer
	// Policy says which repositories anyone may pull.
	Policy auth.Policy
	// Limiter limits failed logins per user at a client address and per
	// client address ([auth.Limiter.Login]).
	Limiter *auth.Limiter
	// TokenTTL is the lifetime of issued access tokens.
	TokenTTL time.Duration
	// Service is the service name in challenges. Default "pier".
	Service string
}

// tokenPath is the path of the token endpoint (the realm of challenges):
// under /v2, where every front door routes, and no API path of the spec.
const tokenPath = "/v2/token"

// caller is who sent a request.
type caller struct {
	// open: the registry has no access control.
	open bool
	// name is the identity's name; "" for an anonymous caller.
	name string
	// id is the identity of a Basic-auth caller.
	id *store.Identity
	// claims are a bearer token's.
	claims *auth.Claims
	// basic: the caller sent Basic credentials (a missing right is then
	// final: 403).
	basic bool
}

// may reports whether c may do action on repo.
func (h *Handler) may(c *caller, repo, action string) bool {
	switch {
	case c.open:
		return true
	case auth.Allowed(nil, h.auth.Policy, repo, action):
		return true // public
	case c.claims != nil:
		return c.claims.Allows(repo, action)
	default:
		return auth.Allowed(c.id, h.auth.Policy, repo, action)
	}
}

// identity returns the stored identity of c, reading it for a bearer
// token's subject (for listings that filter by grants).
func (h *Handler) identity(ctx context.Context, c *caller) (*store.Identity, error) {
	if c.id != nil || c.name == "" {
		return c.id, nil
	}
	id, err := h.auth.Verifier.Lookup(ctx, c.name)
	if errors.Is(err, auth.ErrBadCredentials) {
		return nil, nil
	}
	return id, err
}

// mayPull returns a function that reports whether c may pull a
// repository, as listings need it.
func (h *Handler) mayPull(ctx context.Context, c *caller) (func(repo string) bool, error) {
	if c.open {
		return func(string) bool { return true }, nil
	}
	id, err := h.identity(ctx, c)
	if err != nil {
		return nil, err
	}
	return func(repo string) bool {
		return auth.Allowed(id, h.auth.Policy, repo, auth.Pull) || c.claims != nil && c.claims.Allows(repo, auth.Pull)
	}, nil
}

// required is the repository and action a request needs ("" action: a
// login, as for the ping).
func required(rt route, method string) (repo, action string) {
	switch rt.kind {
	case routePing, routeCatalog, routeDiscover:
		return "", ""
	case routeUploadStart, routeUpload:
		return rt.name, auth.Push
	}
	switch method {
	case http.MethodGet, http.MethodHead:
		return rt.name, auth.Pull
	case http.MethodDelete:
		return rt.name, auth.Delete
	default:
		return rt.name, auth.Push
	}
}

// authorize finds who sent r and checks that they may do what r asks. It
// answers the request itself (401, 403, 429) when they may not.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, rt route) (*caller, bool) {
	if h.auth == nil {
		return &caller{open: true}, true
	}
	repo, action := required(rt, r.Method)
	if c := h.capability(r, rt); c != nil {
		return c, true
	}
	c, err := h.authenticate(r)
	if err != nil {
		var limited *auth.LimitedError
		switch {
		case errors.As(err, &limited):
			w.Header().Set("Retry-After", strconv.Itoa(int(limited.Wait.Seconds()+0.999)))
			h.error(w, r, oci.Errorf(oci.CodeTooManyRequests, "%s", limited))
		case errors.Is(err, errCredentials):
			h.challenge(w, r, repo, action, "invalid_token", err.Error())
		default:
			h.error(w, r, err)
		}
		return nil, false
	}
	if action == "" {
		// Any valid credentials, or an anonymous token.
		if c.name == "" && c.claims == nil {
			h.challenge(w, r, "", "", "", "authentication required")
			return nil, false
		}
		return c, true
	}
	if h.may(c, repo, action) {
		return c, true
	}
	switch {
	case c.basic:
		h.error(w, r, oci.Errorf(oci.CodeDenied, "%s may not %s %s", c.name, action, repo))
	case c.claims != nil:
		msg, err := h.denial(r.Context(), c, repo, action)
		if err != nil {
			h.error(w, r, err)
			return nil, false
		}
		h.challenge(w, r, repo, action, "insufficient_scope", msg)
	default:
		h.challenge(w, r, repo, action, "", "authentication required to "+action+" "+repo)
	}
	return nil, false
}

// denial says why the bearer token of c does not allow action on repo:
// no login, no grant, or a grant the token was not asked for.
func (h *Handler) denial(ctx context.Context, c *caller, repo, action string) (string, error) {
	if c.name == "" {
		return action + " on " + repo + " needs a login: log in to this registry first (docker login)", nil
	}
	id, err := h.identity(ctx, c)
	if err != nil {
		return "", err
	}
	if !auth.Allowed(id, h.auth.Policy, repo, action) {
		return c.name + " may not " + action + " " + repo + ": no grant allows it", nil
	}
	return "the token does not allow " + action + " on " + repo + ": ask the token endpoint for scope repository:" + repo + ":" + action, nil
}

// capability returns the caller of a request on an upload that carries
// no credentials but the upload's signed state (its Location): the
// upload's owner, for that upload alone (the registry checks that the
// state is the upload's and has not expired). nil for any other request.
func (h *Handler) capability(r *http.Request, rt route) *caller {
	if rt.kind != routeUpload || r.Header.Get("Authorization") != "" {
		return nil
	}
	s := r.URL.Query().Get(stateParam)
	if s == "" {
		return nil
	}
	owner, ok := h.reg.Capability(rt.name, rt.arg, s)
	if !ok {
		return nil
	}
	return &caller{name: owner}
}

var errCredentials = errors.New("invalid credentials")

// authenticate reads r's Authorization header: a bearer token, Basic
// credentials, or none (anonymous).
func (h *Handler) authenticate(r *http.Request) (*caller, error) {
	hdr := r.Header.Get("Authorization")
	if hdr == "" {
		return &caller{}, nil
	}
	scheme, rest, _ := strings.Cut(hdr, " ")
	switch strings.ToLower(scheme) {
	case "bearer":
		claims, err := h.auth.Signer.Verify(strings.TrimSpace(rest), time.Now())
		if err != nil {
			return nil, errCredentials
		}
		return &caller{name: claims.Subject, claims: claims}, nil
	case "basic":
		user, pass, ok := r.BasicAuth()
		if !ok {
			return nil, errCredentials
		}
		id, err := h.auth.Limiter.Login(r.Context(), h.auth.Verifier, user, pass, clientAddr(r))
		if errors.Is(err, auth.ErrBadCredentials) {
			return nil, errCredentials
		}
		if err != nil {
			return nil, err
		}
		return &caller{name: id.Name, id: id, basic: true}, nil
	default:
		return nil, errCredentials
	}
}

// challenge answers 401 with a Bearer challenge for repo and action
// (none when repo is ""), as the Docker token spec's clients expect.
func (h *Handler) challenge(w http.ResponseWriter, r *http.Request, repo, action, code, msg string) {
	var scopes []auth.Scope
	if repo != "" {
		actions := []string{action}
		if action == auth.Push {
			actions = []string{auth.Pull, auth.Push}
		}
		scopes = []auth.Scope{{Type: auth.TypeRepository, Name: repo, Actions: actions}}
	}
	c := auth.Challenge(realm(r), h.service(), scopes)
	if code != "" {
		c = auth.ChallengeError(c, code, msg)
	}
	w.Header().Set("WWW-Authenticate", c)
	h.error(w, r, oci.Errorf(oci.CodeUnauthorized, "%s", msg))
}

func (h *Handler) service() string {
	if h.auth.Service != "" {
		return h.auth.Service
	}
	return "pier"
}

// realm is the URL of the token endpoint, on the host the client used.
func realm(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		scheme = "https"
	}
	return scheme + "://" + r.Host + tokenPath
}

// clientAddr is the client's address, for the login limiter: the peer's
// address (on Lambda, API Gateway's sourceIp), never a header the client
// could set.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// token serves the token endpoint.
func (h *Handler) token(w http.ResponseWriter, r *http.Request, _ route) {
	if h.tokens == nil {
		h.error(w, r, notFoundError())
		return
	}
	h.tokens.ServeHTTP(w, r)
}
