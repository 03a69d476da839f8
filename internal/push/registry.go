// Package push copies images and artifacts into an OCI registry, Pier's
// first: from an OCI image layout, a docker save tarball or another
// registry. Blobs go up in parallel, by Pier's direct-to-S3 uploads when
// the registry offers them (docs/direct-upload.md) and by standard
// monolithic or chunked uploads, within OCI-Chunk-Max-Length, when it does
// not; a failed chunk or part is resumed from what the registry holds.
// Manifests follow, children before the index that lists them.
package push

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/pier-registry/pier/internal/ctxsleep"
)

// registry is an authenticated client to one repository of the
// destination registry.
type registry struct {
	repo name.Repository
	base *url.URL // scheme://host of the registry
	// api sends requests to the registry, with its credentials (the
	// Bearer token flow, or Basic).
	api *http.Client
	// bare sends requests elsewhere (presigned part URLs), with no
	// credentials of the registry.
	bare *http.Client
	// retries is how often a request that failed on the way or got a
	// temporary error (429, 5xx) is sent again, with backoff.
	retries int
	backoff time.Duration
}

// dial logs in to repo's registry with the keychain's credentials for
// push and pull on repo, and pull on each repository of mountFrom.
func dial(ctx context.Context, repo name.Repository, kc authn.Keychain, mountFrom []name.Repository, base http.RoundTripper) (*registry, error) {
	auth, err := kc.Resolve(repo.Registry)
	if err != nil {
		return nil, fmt.Errorf("credentials for %s: %w", repo.RegistryStr(), err)
	}
	scopes := []string{repo.Scope(transport.PushScope)}
	for _, m := range mountFrom {
		scopes = append(scopes, m.Scope(transport.PullScope))
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, base, scopes)
	if err != nil {
		return nil, fmt.Errorf("log in to %s: %w", repo.RegistryStr(), err)
	}
	noRedirect := func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &registry{
		repo:    repo,
		base:    &url.URL{Scheme: repo.Registry.Scheme(), Host: repo.RegistryStr()},
		api:     &http.Client{Transport: rt, CheckRedirect: noRedirect},
		bare:    &http.Client{Transport: base},
		backoff: 500 * time.Millisecond,
	}, nil
}

// url resolves ref (a path like /v2/..., or an upload Location as the
// registry gave it) against the registry.
func (r *registry) url(ref string) (string, error) {
	u, err := r.base.Parse(ref)
	if err != nil {
		return "", fmt.Errorf("bad location %q from the registry: %w", ref, err)
	}
	return u.String(), nil
}

// path is /v2/<repo>/<rest>.
func (r *registry) path(rest string) string {
	return "/v2/" + r.repo.RepositoryStr() + "/" + rest
}

// withQuery appends key=value to the location loc.
func withQuery(loc, key, value string) string {
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	return loc + sep + key + "=" + url.QueryEscape(value)
}

// request is one request to the registry: its body, when it has one, is
// bytes, so that it can be sent again.
type request struct {
	method, loc string
	header      http.Header
	body        []byte
}

// send sends req, again on a network error or a temporary answer (408,
// 429, 5xx) up to r.retries times with backoff, and returns the answer
// when its status is one of ok; otherwise the registry's error (its OCI
// error code and message). The caller closes the answer's body.
func (r *registry) send(ctx context.Context, req request, ok ...int) (*http.Response, error) {
	var last error
	for attempt := 0; attempt <= r.retries; attempt++ {
		if attempt > 0 {
			if err := r.pause(ctx, attempt); err != nil {
				return nil, err
			}
		}
		resp, err := r.do(ctx, req.method, req.loc, req.header, req.body)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			last = err
			continue
		}
		if err := transport.CheckError(resp, ok...); err != nil {
			resp.Body.Close()
			last = err
			if req.method == http.MethodHead && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
				// No body to say more.
				return nil, fmt.Errorf("HEAD %s: %s: log in (docker login %s) as an identity that may pull and push %s",
					req.loc, resp.Status, r.repo.RegistryStr(), r.repo.RepositoryStr())
			}
			if temporary(resp.StatusCode) {
				continue
			}
			return nil, err
		}
		return resp, nil
	}
	return nil, last
}

// do sends one request to the registry with body (nil: none).
func (r *registry) do(ctx context.Context, method, loc string, header http.Header, body []byte) (*http.Response, error) {
	u, err := r.url(loc)
	if err != nil {
		return nil, err
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	return r.api.Do(req)
}

// temporary reports whether an answer with status may succeed when the
// request is sent again.
func temporary(status int) bool {
	switch status {
	case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
		http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryAfter is the wait an answer asks for with Retry-After (seconds),
// def when it asks for none, at most a minute.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s >= 0 {
		return min(time.Duration(s)*time.Second, time.Minute)
	}
	return def
}

// pause waits before the retry-th try again (from 1): the backoff,
// doubling up to 16 times it.
func (r *registry) pause(ctx context.Context, retry int) error {
	return ctxsleep.Sleep(ctx, r.backoff<<min(max(retry-1, 0), 4))
}
