package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/site"
)

// isSite reports whether r is for a site (package site), which h serves
// when it has a site server.
func (h *Handler) isSite(r *http.Request) bool {
	return h.sites != nil && strings.HasPrefix(r.URL.Path, site.Prefix)
}

// siteAccess checks, with the access control of the /v2 API, that the
// caller of r may pull repo, whose site it asks for.
func (h *Handler) siteAccess(r *http.Request, repo string) site.Access {
	if h.auth == nil {
		return site.Access{Public: true}
	}
	if auth.Allowed(nil, h.auth.Policy, repo, auth.Pull) {
		return site.Access{Public: true}
	}
	c, err := h.authenticate(r)
	var limited *auth.LimitedError
	switch {
	case errors.As(err, &limited):
		return site.Access{Status: http.StatusTooManyRequests, Message: "Too many failed logins: try again later.", RetryAfter: limited.Wait}
	case errors.Is(err, errCredentials):
		return site.Access{Status: http.StatusUnauthorized, Message: "Invalid credentials."}
	case err != nil:
		logger(r.Context(), h.log).Error("site access", "error", err.Error())
		return site.Access{Status: http.StatusInternalServerError, Message: "Internal error: see the registry's log."}
	case c.name == "" && c.claims == nil:
		return site.Access{Status: http.StatusUnauthorized, Message: "This site is private: log in to see it."}
	case !h.may(c, repo, auth.Pull):
		return site.Access{Status: http.StatusForbidden, Message: c.name + " may not see this site."}
	}
	return site.Access{}
}
