package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/httpapi"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/local"
)

// authServer is a server with auth on, its signing key, and these
// identities (password = name + "-pw"): alice may pull and push team/*;
// reader may only pull team/*; owner may pull, push and delete team/app;
// solo may pull and push solo/app only; publisher may pull and push
// public/*; everyone may pull public/*.
type authServer struct {
	*server
	key []byte
}

var authKey = []byte("0123456789abcdef0123456789abcdef")

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	return newAuthServerWith(t, auth.NewLimiter(auth.LimiterOptions{}))
}

// newAuthServerWith is newAuthServer with the login limiter lim.
func newAuthServerWith(t *testing.T, lim *auth.Limiter) *authServer {
	t.Helper()
	signer, err := auth.NewSigner(authKey, "pier")
	if err != nil {
		t.Fatal(err)
	}
	srv, meta := newServerWith(t, registry.Options{}, func(meta *local.Metadata) *httpapi.Auth {
		return &httpapi.Auth{
			Verifier: auth.NewVerifier(meta, auth.VerifierOptions{}),
			Signer:   signer,
			Policy:   auth.Policy{Public: []string{"public/*"}},
			Limiter:  lim,
			TokenTTL: 5 * time.Minute,
		}
	})
	for _, id := range []struct {
		name   string
		grants []store.Grant
	}{
		{"alice", []store.Grant{{Pattern: "team/*", Actions: []string{"pull", "push"}}}},
		{"reader", []store.Grant{{Pattern: "team/*", Actions: []string{"pull"}}}},
		{"owner", []store.Grant{{Pattern: "team/app", Actions: []string{"pull", "push", "delete"}}}},
		{"solo", []store.Grant{{Pattern: "solo/app", Actions: []string{"pull", "push"}}}},
		{"publisher", []store.Grant{{Pattern: "public/*", Actions: []string{"pull", "push"}}}},
	} {
		hash, err := auth.HashPassword(id.name + "-pw")
		if err != nil {
			t.Fatal(err)
		}
		if err := meta.PutIdentity(context.Background(), store.Identity{Name: id.name, Kind: store.KindUser, Secret: hash, Grants: id.grants, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return &authServer{server: srv, key: authKey}
}

func basic(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw"))
}

// token gets a bearer token for user ("" anonymous) and scopes from the
// token endpoint.
func (s *authServer) token(t *testing.T, user string, scopes ...string) string {
	t.Helper()
	path := "/v2/token?service=pier"
	for _, sc := range scopes {
		path += "&scope=" + sc
	}
	hdr := map[string]string{}
	if user != "" {
		hdr["Authorization"] = basic(user)
	}
	resp, body := s.do(t, request{method: http.MethodGet, path: path, header: hdr})
	var out struct {
		Token string `json:"token"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Token == "" {
		t.Fatalf("token for %q %v: %s %s", user, scopes, resp.Status, body)
	}
	return "Bearer " + out.Token
}

// unsigned returns a bearer JWT of header and claims with no signature.
func unsigned(header, claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return "Bearer " + enc([]byte(header)) + "." + enc([]byte(claims)) + "."
}

// signedWith returns a bearer token for alice's pull of team/app, signed
// with key.
func signedWith(t *testing.T, key []byte) string {
	t.Helper()
	signer, err := auth.NewSigner(key, "pier")
	if err != nil {
		t.Fatal(err)
	}
	tok, err := signer.Issue("alice", []auth.Scope{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}}, time.Minute, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + tok
}

// TestAuthFlow is the Docker token flow a client goes through.
func TestAuthFlow(t *testing.T) {
	s := newAuthServer(t)
	resp, _ := s.do(t, request{method: http.MethodGet, path: "/v2/"})
	c := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(c, `Bearer realm="`+s.url+`/v2/token"`) || !strings.Contains(c, `service="pier"`) {
		t.Fatalf("ping: %s, challenge %q", resp.Status, c)
	}
	tok := s.token(t, "alice", "repository:team/app:pull,push")
	s.mustDo(t, request{method: http.MethodGet, path: "/v2/", header: map[string]string{"Authorization": tok}}, http.StatusOK)
	content := []byte("team layer")
	b := s.pushBlobAs(t, tok, "team/app", content)
	resp, got := s.do(t, request{method: http.MethodGet, path: "/v2/team/app/blobs/" + b, header: map[string]string{"Authorization": tok}})
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content) {
		t.Fatalf("pull with the token: %s %q", resp.Status, got)
	}
	// Basic auth straight to /v2/ works too.
	s.mustDo(t, request{method: http.MethodGet, path: "/v2/team/app/blobs/" + b, header: map[string]string{"Authorization": basic("reader")}}, http.StatusOK)
	// Public repositories: anonymous pulls, with no token at all or an
	// anonymous one (the repository does not exist: 404, not 401).
	s.mustDo(t, request{method: http.MethodGet, path: "/v2/public/site/tags/list"}, http.StatusNotFound)
	anon := s.token(t, "", "repository:public/site:pull")
	s.mustDo(t, request{method: http.MethodGet, path: "/v2/", header: map[string]string{"Authorization": anon}}, http.StatusOK)
}

// pushBlobAs pushes content to repo with the Authorization authz and
// returns its digest.
func (s *authServer) pushBlobAs(t *testing.T, authz, repo string, content []byte) string {
	t.Helper()
	d := digestString(content)
	s.mustDo(t, request{method: http.MethodPost, path: "/v2/" + repo + "/blobs/uploads/?digest=" + d, body: content,
		header: map[string]string{"Authorization": authz}}, http.StatusCreated)
	return d
}

// TestAuthDenied: each denied request gets the spec's status and code,
// and leaves the store as it was.
func TestAuthDenied(t *testing.T) {
	s := newAuthServer(t)
	// Content to aim at: an image in team/app, a blob in solo/app, an
	// upload started by alice.
	aliceTok := s.token(t, "alice", "repository:team/app:pull,push")
	layer := s.pushBlobAs(t, aliceTok, "team/app", []byte("layer"))
	secret := s.pushBlobAs(t, basic("solo"), "solo/app", []byte("solo secret"))
	resp := s.mustDo(t, request{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/", header: map[string]string{"Authorization": aliceTok}}, http.StatusAccepted)
	upload := resp.Header.Get("Location")

	now := time.Now()
	expired, _ := func() (string, error) {
		signer, _ := auth.NewSigner(authKey, "pier")
		tok, err := signer.Issue("alice", []auth.Scope{{Type: "repository", Name: "team/app", Actions: []string{"pull"}}}, time.Minute, now.Add(-time.Hour))
		return "Bearer " + tok, err
	}()
	claims := func(scope string) string {
		return `{"iss":"pier","sub":"alice","aud":"pier","exp":` + jsonInt(now.Add(time.Hour).Unix()) + `,"nbf":0,"iat":0,"token_use":"access","access":[{"type":"repository","name":"` + scope + `","actions":["pull","push","delete"]}]}`
	}
	valid := strings.TrimPrefix(s.token(t, "alice", "repository:team/app:pull"), "Bearer ")
	parts := strings.Split(valid, ".")
	widened := "Bearer " + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(claims("team/app"))) + "." + parts[2]
	wrongKey := signedWith(t, []byte("another key, 32 bytes long at least!"))

	for _, tc := range []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"no credentials", request{method: http.MethodGet, path: "/v2/team/app/blobs/" + layer}, 401, "UNAUTHORIZED"},
		{"wrong password", request{method: http.MethodGet, path: "/v2/team/app/blobs/" + layer,
			header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:nope"))}}, 401, "UNAUTHORIZED"},
		{"expired token", request{method: http.MethodGet, path: "/v2/team/app/blobs/" + layer, header: map[string]string{"Authorization": expired}}, 401, "UNAUTHORIZED"},
		{"token for another repository", request{method: http.MethodGet, path: "/v2/solo/app/blobs/" + secret,
			header: map[string]string{"Authorization": aliceTok}}, 401, "UNAUTHORIZED"},
		{"pull-only identity pushing (Basic)", request{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/",
			header: map[string]string{"Authorization": basic("reader")}}, 403, "DENIED"},
		{"pull-only identity pushing (token)", request{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/",
			header: map[string]string{"Authorization": s.token(t, "reader", "repository:team/app:pull,push")}}, 401, "UNAUTHORIZED"},
		{"delete without the delete right", request{method: http.MethodDelete, path: "/v2/team/app/blobs/" + layer,
			header: map[string]string{"Authorization": basic("alice")}}, 403, "DENIED"},
		{"forged token: alg none", request{method: http.MethodGet, path: "/v2/team/app/blobs/" + layer,
			header: map[string]string{"Authorization": unsigned(`{"alg":"none","typ":"JWT"}`, claims("team/app"))}}, 401, "UNAUTHORIZED"},
		{"forged token: wrong key", request{method: http.MethodGet, path: "/v2/team/app/blobs/" + layer,
			header: map[string]string{"Authorization": wrongKey}}, 401, "UNAUTHORIZED"},
		{"forged token: altered scope", request{method: http.MethodDelete, path: "/v2/team/app/blobs/" + layer,
			header: map[string]string{"Authorization": widened}}, 401, "UNAUTHORIZED"},
		{"upload continued by another identity", request{method: http.MethodPatch, path: upload, body: []byte("x"),
			header: map[string]string{"Authorization": basic("owner"), "Content-Range": "0-0"}}, 404, "BLOB_UPLOAD_UNKNOWN"},
		{"catalog without credentials", request{method: http.MethodGet, path: "/v2/_catalog"}, 401, "UNAUTHORIZED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := takeSnapshot(t, s.dir)
			resp, body := s.do(t, tc.req)
			expectError(t, resp, body, tc.status, oci.Code(tc.code))
			if tc.status == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer realm=") {
				t.Errorf("401 without a Bearer challenge: %v", resp.Header)
			}
			expectUnchanged(t, before, takeSnapshot(t, s.dir))
		})
	}

	t.Run("mount from a private repository", func(t *testing.T) {
		for _, path := range []string{
			"/v2/team/app/blobs/uploads/?mount=" + secret + "&from=solo/app", // named
			"/v2/team/app/blobs/uploads/?mount=" + secret,                    // anonymous
		} {
			resp := s.mustDo(t, request{method: http.MethodPost, path: path, header: map[string]string{"Authorization": aliceTok}}, http.StatusAccepted)
			if !strings.Contains(resp.Header.Get("Location"), "/blobs/uploads/") {
				t.Errorf("%s: Location %q, want an upload", path, resp.Header.Get("Location"))
			}
			s.mustDo(t, request{method: http.MethodHead, path: "/v2/team/app/blobs/" + secret, header: map[string]string{"Authorization": aliceTok}}, http.StatusNotFound)
		}
	})

	t.Run("catalog of an identity with one repository", func(t *testing.T) {
		resp, body := s.do(t, request{method: http.MethodGet, path: "/v2/_catalog", header: map[string]string{"Authorization": basic("solo")}})
		var cat struct{ Repositories []string }
		if resp.StatusCode != 200 || json.Unmarshal(body, &cat) != nil || len(cat.Repositories) != 1 || cat.Repositories[0] != "solo/app" {
			t.Errorf("catalog for solo: %s %s; want [solo/app]", resp.Status, body)
		}
	})

	t.Run("failed logins are limited", func(t *testing.T) {
		bad := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("reader:wrong"))}
		var last *http.Response
		var body []byte
		for range 10 {
			last, body = s.do(t, request{method: http.MethodGet, path: "/v2/", header: bad})
			if last.StatusCode == http.StatusTooManyRequests {
				break
			}
		}
		expectError(t, last, body, http.StatusTooManyRequests, oci.CodeTooManyRequests)
		if last.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
}

func jsonInt(n int64) string { b, _ := json.Marshal(n); return string(b) }

func digestString(b []byte) string { return digest.FromBytes(b).String() }

// TestBasicAuthLimitedPerAddress: one address trying one password against
// many names is refused after AddrFailures failures, whatever the names,
// before any password is checked.
func TestBasicAuthLimitedPerAddress(t *testing.T) {
	s := newAuthServerWith(t, auth.NewLimiter(auth.LimiterOptions{Failures: 5, AddrFailures: 4}))
	spray := func(name string) *http.Response {
		resp, _ := s.do(t, request{method: http.MethodGet, path: "/v2/team/app/tags/list",
			header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(name+":Winter2026!"))}})
		return resp
	}
	for i, name := range []string{"alice", "reader", "owner", "solo"} {
		if resp := spray(name); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %s, want 401", i, resp.Status)
		}
	}
	for _, name := range []string{"admin", "root", "alice"} {
		resp := spray(name)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("guess for %s after 4 failures: %s, Retry-After %q; want 429 with Retry-After", name, resp.Status, resp.Header.Get("Retry-After"))
		}
	}
}

// TestAuthDeniedReason: a push refused for want of a login or of a grant
// says why where docker prints it: the error_description of the Bearer
// challenge (docker shows "denied: <error_description>" for an
// insufficient_scope, and only "requested access to the resource is
// denied" without one).
func TestAuthDeniedReason(t *testing.T) {
	s := newAuthServer(t)
	for _, tc := range []struct {
		name, authz string
		want        []string // in error_description
	}{
		{"anonymous token", s.token(t, "", "repository:team/app:pull,push"), []string{"log in", "push", "team/app"}},
		{"no push grant", s.token(t, "reader", "repository:team/app:pull,push"), []string{"reader", "may not push", "team/app"}},
		{"no grant at all", s.token(t, "solo", "repository:team/app:pull,push"), []string{"solo", "may not push", "team/app"}},
		{"a grant, not in the token", s.token(t, "alice", "repository:team/app:pull"), []string{"token", "push", "repository:team/app:push"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := s.do(t, request{method: http.MethodPost, path: "/v2/team/app/blobs/uploads/", header: map[string]string{"Authorization": tc.authz}})
			expectError(t, resp, body, http.StatusUnauthorized, oci.CodeUnauthorized)
			c := resp.Header.Get("WWW-Authenticate")
			if !strings.Contains(c, `error="insufficient_scope"`) {
				t.Errorf("challenge %q has no insufficient_scope", c)
			}
			_, desc, ok := strings.Cut(c, `error_description="`)
			if !ok {
				t.Fatalf("challenge %q has no error_description", c)
			}
			for _, w := range tc.want {
				if !strings.Contains(desc, w) {
					t.Errorf("error_description %q does not say %q", desc, w)
				}
			}
		})
	}
}
