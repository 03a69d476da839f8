package auth

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tokenEnv is a token endpoint over an in-memory store, with a settable
// clock.
type tokenEnv struct {
	h   *TokenHandler
	ids *memIdentities
	clk *clock
}

func newTokenEnv(t *testing.T) *tokenEnv {
	t.Helper()
	clk := newClock()
	ids := newMemIdentities(
		testUser(t, "alice", "alice-pw", grant("team/*", Pull, Push), grant("team/app", Delete)),
		testUser(t, "reader", "reader-pw", grant("team/*", Pull)),
		testRobot("ci", "pier_ci", clk.Now().Add(time.Hour), grant("team/app", Pull, Push)),
		testRobot("old-ci", "pier_old", clk.Now().Add(-time.Hour), grant("*", Pull)),
	)
	h := &TokenHandler{
		Verifier: NewVerifier(ids, VerifierOptions{Now: clk.Now}),
		Signer:   testSigner(t),
		Policy:   Policy{Public: []string{"pub/*"}},
		Limiter:  NewLimiter(LimiterOptions{Now: clk.Now}),
		Service:  "pier",
		Now:      clk.Now,
	}
	return &tokenEnv{h: h, ids: ids, clk: clk}
}

// tokenReq describes a token request.
type tokenReq struct {
	method     string
	query      url.Values // GET
	form       url.Values // POST
	user, pass string     // Basic credentials, if user != ""
	auth       string     // another Authorization header
	addr       string     // RemoteAddr; default 192.0.2.1:1234
}

// do sends req to the token endpoint.
func (e *tokenEnv) do(t *testing.T, req tokenReq) *httptest.ResponseRecorder {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodGet
		if req.form != nil {
			req.method = http.MethodPost
		}
	}
	var body io.Reader
	if req.form != nil {
		body = strings.NewReader(req.form.Encode())
	}
	r := httptest.NewRequest(req.method, "/token?"+req.query.Encode(), body)
	if req.form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if req.user != "" {
		r.SetBasicAuth(req.user, req.pass)
	}
	if req.auth != "" {
		r.Header.Set("Authorization", req.auth)
	}
	r.RemoteAddr = "192.0.2.1:1234"
	if req.addr != "" {
		r.RemoteAddr = req.addr
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// tokenBody is the body of a token answer, both forms.
type tokenBody struct {
	Token        string `json:"token"`
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	IssuedAt     string `json:"issued_at"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
}

// okToken checks a 200 token answer and returns its body and the claims
// of its access token.
func (e *tokenEnv) okToken(t *testing.T, w *httptest.ResponseRecorder) (tokenBody, *Claims) {
	t.Helper()
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, want 200: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q", cc)
	}
	var b tokenBody
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatal(err)
	}
	c, err := e.h.Signer.Verify(b.AccessToken, e.clk.Now())
	if err != nil {
		t.Fatalf("access token does not verify: %v", err)
	}
	if b.ExpiresIn != int64(DefaultTTL/time.Second) {
		t.Errorf("expires_in %d", b.ExpiresIn)
	}
	if b.IssuedAt != e.clk.Now().UTC().Format(time.RFC3339) {
		t.Errorf("issued_at %q", b.IssuedAt)
	}
	if c.ExpiresAt != e.clk.Now().Add(DefaultTTL).Unix() {
		t.Errorf("exp %d", c.ExpiresAt)
	}
	return b, c
}

// errorCode checks an error answer of status and code and that it holds
// no token, and returns its message.
func errorCode(t *testing.T, w *httptest.ResponseRecorder, status int, code string) string {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status %d, want %d: %s", w.Code, status, w.Body)
	}
	var b struct {
		Errors []struct{ Code, Message string }
		Token  string `json:"token"`
		Access string `json:"access_token"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &b); err != nil {
		t.Fatalf("error body %q: %v", w.Body, err)
	}
	if len(b.Errors) != 1 || b.Errors[0].Code != code {
		t.Fatalf("errors %+v, want one %s", b.Errors, code)
	}
	if b.Token != "" || b.Access != "" || strings.Contains(w.Body.String(), "eyJ") {
		t.Errorf("error answer holds a token: %s", w.Body)
	}
	return b.Errors[0].Message
}

func scopes(ss ...string) url.Values { return url.Values{"scope": ss} }

func TestTokenGet(t *testing.T) {
	tests := []struct {
		name       string
		req        tokenReq
		subject    string
		granted    string
		refresh    bool
		wantNoPush string // a repository the token must not push to
	}{
		{
			name:    "basic user",
			req:     tokenReq{query: scopes("repository:team/app:pull,push"), user: "alice", pass: "alice-pw"},
			subject: "alice", granted: "repository:team/app:pull,push",
		},
		{
			name:    "basic robot",
			req:     tokenReq{query: scopes("repository:team/app:pull,push,delete"), user: "ci", pass: "pier_ci"},
			subject: "ci", granted: "repository:team/app:pull,push",
		},
		{
			name:    "pull-only user asks for push",
			req:     tokenReq{query: scopes("repository:team/app:pull,push"), user: "reader", pass: "reader-pw"},
			subject: "reader", granted: "repository:team/app:pull", wantNoPush: "team/app",
		},
		{
			name:    "repeated and space-separated scopes, one denied, one malformed",
			req:     tokenReq{query: scopes("repository:team/app:pull repository:other:pull", "nonsense", "repository:pub/base:pull registry:catalog:*"), user: "alice", pass: "alice-pw"},
			subject: "alice", granted: "repository:team/app:pull repository:pub/base:pull registry:catalog:*",
		},
		{
			name:    "anonymous public",
			req:     tokenReq{query: scopes("repository:pub/site:pull,push")},
			subject: "", granted: "repository:pub/site:pull", wantNoPush: "pub/site",
		},
		{
			name:    "anonymous private: a token with no access",
			req:     tokenReq{query: scopes("repository:team/app:pull")},
			subject: "", granted: "",
		},
		{
			name:    "anonymous offline_token: no refresh token",
			req:     tokenReq{query: url.Values{"scope": {"repository:pub/site:pull"}, "offline_token": {"true"}}},
			subject: "", granted: "repository:pub/site:pull",
		},
		{
			name:    "no scope (docker login)",
			req:     tokenReq{query: url.Values{"service": {"pier"}, "client_id": {"docker"}, "offline_token": {"true"}}, user: "alice", pass: "alice-pw"},
			subject: "alice", granted: "", refresh: true,
		},
		{
			name:    "offline_token",
			req:     tokenReq{query: url.Values{"scope": {"repository:team/app:pull"}, "offline_token": {"true"}}, user: "alice", pass: "alice-pw"},
			subject: "alice", granted: "repository:team/app:pull", refresh: true,
		},
		{
			name:    "other service: not checked",
			req:     tokenReq{query: url.Values{"scope": {"repository:team/app:pull"}, "service": {"elsewhere"}}, user: "alice", pass: "alice-pw"},
			subject: "alice", granted: "repository:team/app:pull",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			b, c := e.okToken(t, e.do(t, tt.req))
			if b.Token != b.AccessToken {
				t.Errorf("token and access_token differ")
			}
			if c.Subject != tt.subject {
				t.Errorf("sub %q, want %q", c.Subject, tt.subject)
			}
			if got := JoinScopes(c.Access); got != tt.granted {
				t.Errorf("access %q, want %q", got, tt.granted)
			}
			if tt.wantNoPush != "" && c.Allows(tt.wantNoPush, Push) {
				t.Errorf("token allows push to %s", tt.wantNoPush)
			}
			if (b.RefreshToken != "") != tt.refresh {
				t.Fatalf("refresh_token %q, want one: %v", b.RefreshToken, tt.refresh)
			}
			if tt.refresh {
				rc, err := e.h.Signer.VerifyRefresh(b.RefreshToken, e.clk.Now())
				if err != nil || rc.Subject != tt.subject {
					t.Errorf("refresh token: %+v, %v", rc, err)
				}
				if rc.ExpiresAt != e.clk.Now().Add(DefaultRefreshTTL).Unix() {
					t.Errorf("refresh token exp %d", rc.ExpiresAt)
				}
				if _, err := e.h.Signer.Verify(b.RefreshToken, e.clk.Now()); err == nil {
					t.Error("refresh token verifies as an access token")
				}
			}
		})
	}
}

func TestTokenPost(t *testing.T) {
	e := newTokenEnv(t)
	password := func(user, pass string, extra ...string) url.Values {
		f := url.Values{"grant_type": {"password"}, "username": {user}, "password": {pass}, "service": {"pier"}, "client_id": {"test"}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Set(extra[i], extra[i+1])
		}
		return f
	}

	// Password grant, scopes space-separated, online: no refresh token.
	b, c := e.okToken(t, e.do(t, tokenReq{form: password("alice", "alice-pw", "scope", "repository:team/app:pull,push,delete repository:other:pull")}))
	if b.Token != "" || b.TokenType != "Bearer" || b.RefreshToken != "" {
		t.Errorf("OAuth2 answer %+v", b)
	}
	if want := "repository:team/app:pull,push,delete"; b.Scope != want || JoinScopes(c.Access) != want || c.Subject != "alice" {
		t.Errorf("scope %q, access %q, want %q", b.Scope, JoinScopes(c.Access), want)
	}

	// Password grant, offline: a refresh token.
	b, _ = e.okToken(t, e.do(t, tokenReq{form: password("reader", "reader-pw", "scope", "repository:team/app:pull", "access_type", "offline")}))
	if b.RefreshToken == "" {
		t.Fatal("no refresh token for access_type=offline")
	}
	rt := b.RefreshToken

	// Refresh grant: the access the identity has now, for new scopes;
	// no new refresh token.
	refresh := func(token, scope string) *httptest.ResponseRecorder {
		return e.do(t, tokenReq{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "scope": {scope}, "service": {"pier"}, "client_id": {"test"}}})
	}
	e.clk.Advance(time.Hour)
	b, c = e.okToken(t, refresh(rt, "repository:team/web:pull,push repository:pub/x:pull"))
	if want := "repository:team/web:pull repository:pub/x:pull"; b.Scope != want || JoinScopes(c.Access) != want || c.Subject != "reader" {
		t.Errorf("refreshed: scope %q, access %q, sub %q; want %q for reader", b.Scope, JoinScopes(c.Access), c.Subject, want)
	}
	if b.RefreshToken != "" {
		t.Error("a refresh grant returned a new refresh token")
	}

	// A grant given since is seen at once.
	id, _ := e.ids.Identity(context.Background(), "reader")
	id.Grants = append(id.Grants, grant("team/web", Push))
	e.ids.PutIdentity(context.Background(), id)
	_, c = e.okToken(t, refresh(rt, "repository:team/web:pull,push"))
	if !c.Allows("team/web", Push) {
		t.Error("new grant not in the refreshed token")
	}

	// GET with offline_token gives a refresh token POST takes too.
	e = newTokenEnv(t)
	b, _ = e.okToken(t, e.do(t, tokenReq{query: url.Values{"offline_token": {"true"}}, user: "ci", pass: "pier_ci"}))
	_, c = e.okToken(t, refresh(b.RefreshToken, "repository:team/app:push"))
	if c.Subject != "ci" || !c.Allows("team/app", Push) {
		t.Errorf("robot refresh: %+v", c)
	}
}

func TestTokenRefreshDenied(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(e *tokenEnv, rt string) string // returns the token to send
	}{
		{"password changed", func(e *tokenEnv, rt string) string {
			e.ids.PutIdentity(ctx, testUser(t, "alice", "new-pw", grant("team/*", Pull)))
			return rt
		}},
		{"identity deleted", func(e *tokenEnv, rt string) string {
			e.ids.DeleteIdentity(ctx, "alice")
			return rt
		}},
		{"identity re-created with another password", func(e *tokenEnv, rt string) string {
			e.ids.DeleteIdentity(ctx, "alice")
			e.ids.PutIdentity(ctx, testUser(t, "alice", "alice-pw", grant("*", Pull, Push, Delete)))
			return rt
		}},
		{"refresh token expired", func(e *tokenEnv, rt string) string {
			e.clk.Advance(DefaultRefreshTTL + Leeway)
			return rt
		}},
		{"access token as refresh token", func(e *tokenEnv, rt string) string {
			tok, _ := e.h.Signer.Issue("alice", nil, time.Hour, e.clk.Now())
			return tok
		}},
		{"refresh token of another signer", func(e *tokenEnv, rt string) string {
			other, _ := NewSigner([]byte("another key, another key, another"), "pier-test")
			tok, _ := other.IssueRefresh("alice", stampOf(e, "alice"), time.Hour, e.clk.Now())
			return tok
		}},
		{"refresh token with no stamp", func(e *tokenEnv, rt string) string {
			tok, _ := e.h.Signer.IssueRefresh("alice", "", time.Hour, e.clk.Now())
			return tok
		}},
		{"garbage", func(e *tokenEnv, rt string) string { return "garbage" }},
		{"empty", func(e *tokenEnv, rt string) string { return "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			b, _ := e.okToken(t, e.do(t, tokenReq{query: url.Values{"offline_token": {"true"}}, user: "alice", pass: "alice-pw"}))
			token := tt.change(e, b.RefreshToken)
			w := e.do(t, tokenReq{form: url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}, "scope": {"repository:team/app:pull"}}})
			errorCode(t, w, http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}
}

// stampOf returns the refresh stamp of the stored identity name.
func stampOf(e *tokenEnv, name string) string {
	id, _ := e.ids.Identity(context.Background(), name)
	return stamp(&id)
}

func TestTokenDenied(t *testing.T) {
	tests := []struct {
		name   string
		req    tokenReq
		status int
		code   string
	}{
		{"wrong password", tokenReq{query: scopes("repository:team/app:pull"), user: "alice", pass: "wrong"}, 401, "UNAUTHORIZED"},
		{"unknown user", tokenReq{query: scopes("repository:team/app:pull"), user: "mallory", pass: "alice-pw"}, 401, "UNAUTHORIZED"},
		{"robot wrong secret", tokenReq{user: "ci", pass: "pier_cj"}, 401, "UNAUTHORIZED"},
		{"robot expired", tokenReq{query: scopes("repository:team/app:pull"), user: "old-ci", pass: "pier_old"}, 401, "UNAUTHORIZED"},
		{"empty password", tokenReq{auth: "Basic YWxpY2U6"}, 401, "UNAUTHORIZED"},
		{"bearer credentials", tokenReq{auth: "Bearer abc"}, 401, "UNAUTHORIZED"},
		{"malformed basic", tokenReq{auth: "Basic !!!"}, 401, "UNAUTHORIZED"},
		{"post wrong password", tokenReq{form: url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"wrong"}}}, 401, "UNAUTHORIZED"},
		{"post no password", tokenReq{form: url.Values{"grant_type": {"password"}, "username": {"alice"}}}, 401, "UNAUTHORIZED"},
		{"post unknown grant", tokenReq{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"x"}}}, 400, "UNSUPPORTED"},
		{"post no grant", tokenReq{form: url.Values{"username": {"alice"}, "password": {"alice-pw"}}}, 400, "UNSUPPORTED"},
		{"post json", tokenReq{method: http.MethodPost}, 400, "UNSUPPORTED"},
		{"put", tokenReq{method: http.MethodPut}, 405, "UNSUPPORTED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTokenEnv(t)
			w := e.do(t, tt.req)
			errorCode(t, w, tt.status, tt.code)
			if tt.status == 401 && !strings.HasPrefix(w.Header().Get("WWW-Authenticate"), `Basic realm="pier"`) {
				t.Errorf("WWW-Authenticate %q", w.Header().Get("WWW-Authenticate"))
			}
			if tt.status == 405 && w.Header().Get("Allow") != "GET, POST" {
				t.Errorf("Allow %q", w.Header().Get("Allow"))
			}
		})
	}
}

func TestTokenStoreError(t *testing.T) {
	e := newTokenEnv(t)
	e.h.Logger = discardLogger()
	e.ids.err = errors.New("dynamodb is down")
	w := e.do(t, tokenReq{user: "alice", pass: "alice-pw"})
	errorCode(t, w, http.StatusInternalServerError, "UNKNOWN")
	// A store error is no failed login.
	for range 5 {
		e.do(t, tokenReq{user: "alice", pass: "alice-pw"})
	}
	e.ids.err = nil
	e.okToken(t, e.do(t, tokenReq{user: "alice", pass: "alice-pw"}))
}

func TestTokenRateLimit(t *testing.T) {
	t.Run("per user at an address", func(t *testing.T) {
		e := newTokenEnv(t)
		for range 5 {
			errorCode(t, e.do(t, tokenReq{user: "alice", pass: "wrong", addr: "198.51.100.1:1"}), 401, "UNAUTHORIZED")
		}
		reads := e.ids.reads.Load()
		w := e.do(t, tokenReq{user: "alice", pass: "alice-pw", addr: "198.51.100.1:2"})
		errorCode(t, w, http.StatusTooManyRequests, "TOOMANYREQUESTS")
		if ra := w.Header().Get("Retry-After"); ra != "12" {
			t.Errorf("Retry-After %q, want 12", ra)
		}
		if e.ids.reads.Load() != reads {
			t.Error("a limited login was checked against the store")
		}
		// The POST form is limited too.
		errorCode(t, e.do(t, tokenReq{form: url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, addr: "198.51.100.1:3"}), 429, "TOOMANYREQUESTS")
		// Anonymous requests are not.
		e.okToken(t, e.do(t, tokenReq{query: scopes("repository:pub/a:pull"), addr: "198.51.100.1:4"}))
		e.clk.Advance(12 * time.Second)
		e.okToken(t, e.do(t, tokenReq{user: "alice", pass: "alice-pw", addr: "198.51.100.1:5"}))
	})
	t.Run("others' failures refuse no correct password", func(t *testing.T) {
		e := newTokenEnv(t)
		// Anyone, from anywhere, fails as alice.
		for i := range 20 {
			e.do(t, tokenReq{user: "alice", pass: "wrong", addr: "203.0.113." + strconv.Itoa(i) + ":1"})
		}
		// Reader's typos, from the address alice shares with reader.
		for range 20 {
			e.do(t, tokenReq{user: "reader", pass: "wrong", addr: "198.51.100.7:1"})
		}
		e.okToken(t, e.do(t, tokenReq{user: "alice", pass: "alice-pw", addr: "198.51.100.7:2"}))
		e.okToken(t, e.do(t, tokenReq{form: url.Values{"grant_type": {"password"}, "username": {"alice"}, "password": {"alice-pw"}}, addr: "198.51.100.8:2"}))
	})
	// Known names, so that the test pays no bcrypt of cost 10 for the
	// unknown ones.
	guessers := func(e *tokenEnv) {
		for i := range 5 {
			e.ids.PutIdentity(context.Background(), testUser(t, "guess"+string(rune('a'+i)), "pw"))
		}
	}
	t.Run("per address, any names", func(t *testing.T) {
		e := newTokenEnv(t)
		e.h.Limiter = NewLimiter(LimiterOptions{AddrFailures: 5, Now: e.clk.Now})
		guessers(e)
		// reader logged in from the address before.
		e.okToken(t, e.do(t, tokenReq{user: "reader", pass: "reader-pw", addr: "203.0.113.7:998"}))
		for i := range 5 {
			w := e.do(t, tokenReq{user: "guess" + string(rune('a'+i)), pass: "x", addr: "203.0.113.7:999"})
			errorCode(t, w, 401, "UNAUTHORIZED")
		}
		reads := e.ids.reads.Load()
		errorCode(t, e.do(t, tokenReq{user: "alice", pass: "alice-pw", addr: "203.0.113.7:1000"}), 429, "TOOMANYREQUESTS")
		if e.ids.reads.Load() != reads {
			t.Error("a limited login was checked against the store")
		}
		e.okToken(t, e.do(t, tokenReq{user: "alice", pass: "alice-pw", addr: "203.0.113.8:1000"}))
		// A user who logged in from the address is not refused there.
		e.okToken(t, e.do(t, tokenReq{user: "reader", pass: "reader-pw", addr: "203.0.113.7:1001"}))
	})
	t.Run("client address function", func(t *testing.T) {
		e := newTokenEnv(t)
		e.h.Limiter = NewLimiter(LimiterOptions{AddrFailures: 5, Now: e.clk.Now})
		e.h.ClientAddr = func(*http.Request) string { return "same" }
		guessers(e)
		for i := range 5 {
			e.do(t, tokenReq{user: "guess" + string(rune('a'+i)), pass: "x", addr: "203.0.113." + string(rune('1'+i)) + ":1"})
		}
		errorCode(t, e.do(t, tokenReq{user: "alice", pass: "alice-pw"}), 429, "TOOMANYREQUESTS")
	})
}

func TestTokenCachedCheck(t *testing.T) {
	// The Verifier's cache serves the token endpoint too: a client that
	// asks for a token per repository pays one bcrypt.
	e := newTokenEnv(t)
	for _, repo := range []string{"team/a", "team/b", "team/c"} {
		e.okToken(t, e.do(t, tokenReq{query: scopes("repository:" + repo + ":pull"), user: "alice", pass: "alice-pw"}))
	}
	if n := e.ids.reads.Load(); n != 1 {
		t.Errorf("%d store reads for three tokens, want 1", n)
	}
}

func TestTokenTTL(t *testing.T) {
	e := newTokenEnv(t)
	e.h.TTL = 15 * time.Minute
	e.h.RefreshTTL = time.Hour
	w := e.do(t, tokenReq{query: url.Values{"offline_token": {"true"}}, user: "alice", pass: "alice-pw"})
	var b tokenBody
	json.Unmarshal(w.Body.Bytes(), &b)
	if b.ExpiresIn != 900 {
		t.Errorf("expires_in %d, want 900", b.ExpiresIn)
	}
	c, err := e.h.Signer.Verify(b.AccessToken, e.clk.Now())
	if err != nil || c.ExpiresAt != e.clk.Now().Add(15*time.Minute).Unix() {
		t.Errorf("access token %+v, %v", c, err)
	}
	rc, err := e.h.Signer.VerifyRefresh(b.RefreshToken, e.clk.Now())
	if err != nil || rc.ExpiresAt != e.clk.Now().Add(time.Hour).Unix() {
		t.Errorf("refresh token %+v, %v", rc, err)
	}
}

// discardLogger returns a logger that drops everything.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
