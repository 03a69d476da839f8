package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func TestIssueVerify(t *testing.T) {
	s := testSigner(t)
	access := []Scope{{TypeRepository, "team/app", []string{Pull, Push}}, {TypeRegistry, Catalog, []string{AllActions}}}
	tok, err := s.Issue("dev", access, 5*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	if string(hdr) != `{"alg":"HS256","typ":"JWT"}` {
		t.Errorf("header = %s", hdr)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var raw map[string]any
	if err := json.Unmarshal(payload, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access", "token_use"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("claim %q missing from %s", k, payload)
		}
	}
	if !strings.Contains(string(payload), `"access":[{"type":"repository","name":"team/app","actions":["pull","push"]},{"type":"registry","name":"catalog","actions":["*"]}]`) {
		t.Errorf("access claim not in the token spec's form: %s", payload)
	}

	c, err := s.Verify(tok, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	want := Claims{
		Issuer: "pier-test", Subject: "dev", Audience: Audience,
		ExpiresAt: t0.Add(5 * time.Minute).Unix(), NotBefore: t0.Unix(), IssuedAt: t0.Unix(),
		ID: c.ID, Use: "access", Access: access,
	}
	if !reflect.DeepEqual(*c, want) {
		t.Errorf("claims = %+v\nwant %+v", *c, want)
	}
	if len(c.ID) < 20 {
		t.Errorf("jti %q too short", c.ID)
	}
	tok2, _ := s.Issue("dev", access, 5*time.Minute, t0)
	if c2, _ := s.Verify(tok2, t0); c2.ID == c.ID {
		t.Errorf("two tokens with jti %q", c.ID)
	}
	if !c.Expires().Equal(t0.Add(5 * time.Minute)) {
		t.Errorf("Expires = %v", c.Expires())
	}
}

func TestNewSigner(t *testing.T) {
	if _, err := NewSigner(make([]byte, 31), "pier"); err == nil {
		t.Error("31-byte key accepted")
	}
	if _, err := NewSigner(make([]byte, 32), ""); err == nil {
		t.Error("empty issuer accepted")
	}
	s := testSigner(t)
	if _, err := s.Issue("dev", nil, 0, t0); err == nil {
		t.Error("zero TTL accepted")
	}
	if _, err := s.IssueRefresh("", "x", time.Hour, t0); err == nil {
		t.Error("refresh token without subject accepted")
	}
}

// forge returns a token of header and claims, signed with HMAC-SHA256
// under key (none if key is nil).
func forge(header string, claims any, key []byte) string {
	p, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	signing := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString(p)
	if key == nil {
		return signing + "."
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyRefusesForgedTokens(t *testing.T) {
	s := testSigner(t)
	now := t0.Add(time.Minute)
	narrow := []Scope{{TypeRepository, "team/app", []string{Pull}}}
	good, err := s.Issue("dev", narrow, 5*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(c *Claims)) *Claims {
		c := &Claims{Issuer: "pier-test", Subject: "dev", Audience: Audience, ExpiresAt: t0.Add(5 * time.Minute).Unix(),
			NotBefore: t0.Unix(), IssuedAt: t0.Unix(), ID: "x", Use: "access", Access: narrow}
		if mod != nil {
			mod(c)
		}
		return c
	}
	// The real derived access key: a token signed with it but otherwise
	// wrong must still be refused.
	key := s.accessKey
	hs256 := `{"alg":"HS256","typ":"JWT"}`
	other, _ := NewSigner([]byte("another key, another key, another"), "pier-test")
	otherTok, _ := other.Issue("dev", narrow, 5*time.Minute, t0)
	refresh, _ := s.IssueRefresh("dev", "stamp", time.Hour, t0)
	parts := strings.Split(good, ".")
	widened := func() string {
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		p = []byte(strings.Replace(string(p), `"actions":["pull"]`, `"actions":["pull","push","delete"]`, 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}()
	otherRepo := func() string {
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		p = []byte(strings.Replace(string(p), `"team/app"`, `"team/secret"`, 1))
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
	}()

	tests := []struct {
		name    string
		token   string
		expired bool
	}{
		{"alg none, no signature", forge(`{"alg":"none","typ":"JWT"}`, claims(nil), nil), false},
		{"alg none, with signature", forge(`{"alg":"none","typ":"JWT"}`, claims(nil), key), false},
		{"alg None", forge(`{"alg":"None","typ":"JWT"}`, claims(nil), nil), false},
		{"alg HS384 header, HS256 signature", forge(`{"alg":"HS384","typ":"JWT"}`, claims(nil), key), false},
		{"alg RS256 header, HS256 signature", forge(`{"alg":"RS256","typ":"JWT"}`, claims(nil), key), false},
		{"alg hs256", forge(`{"alg":"hs256","typ":"JWT"}`, claims(nil), key), false},
		{"header with kid", forge(`{"alg":"HS256","typ":"JWT","kid":"x"}`, claims(nil), key), false},
		{"header with crit", forge(`{"alg":"HS256","crit":["exp"],"typ":"JWT"}`, claims(nil), key), false},
		{"header reordered", forge(`{"typ":"JWT","alg":"HS256"}`, claims(nil), key), false},
		{"no typ", forge(`{"alg":"HS256"}`, claims(nil), key), false},
		{"wrong key", otherTok, false},
		{"signed with the underived key", forge(hs256, claims(nil), testKey), false},
		{"actions widened", widened, false},
		{"repository changed", otherRepo, false},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(otherTok, ".")[2], false},
		{"signature cut", good[:len(good)-4], false},
		{"signature empty", parts[0] + "." + parts[1] + ".", false},
		{"signature padded", good + "=", false},
		{"expired", forge(hs256, claims(func(c *Claims) { c.ExpiresAt = now.Add(-Leeway - time.Second).Unix() }), key), true},
		{"expired at the leeway", forge(hs256, claims(func(c *Claims) { c.ExpiresAt = now.Add(-Leeway).Unix() }), key), true},
		{"not yet valid", forge(hs256, claims(func(c *Claims) { c.NotBefore = now.Add(Leeway + time.Second).Unix() }), key), false},
		{"issued in the future", forge(hs256, claims(func(c *Claims) { c.IssuedAt = now.Add(time.Hour).Unix() }), key), false},
		{"wrong audience", forge(hs256, claims(func(c *Claims) { c.Audience = "registry.example" }), key), false},
		{"audience array", forge(hs256, map[string]any{"iss": "pier-test", "sub": "dev", "aud": []string{"pier"}, "exp": t0.Add(time.Hour).Unix(), "jti": "x", "token_use": "access"}, key), false},
		{"wrong issuer", forge(hs256, claims(func(c *Claims) { c.Issuer = "evil" }), key), false},
		{"no exp", forge(hs256, claims(func(c *Claims) { c.ExpiresAt = 0 }), key), false},
		{"no jti", forge(hs256, claims(func(c *Claims) { c.ID = "" }), key), false},
		{"refresh use in access header", forge(hs256, claims(func(c *Claims) { c.Use = "refresh" }), key), false},
		{"no use", forge(hs256, claims(func(c *Claims) { c.Use = "" }), key), false},
		{"refresh token", refresh, false},
		{"claims not JSON", base64.RawURLEncoding.EncodeToString([]byte(hs256)) + "." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + sig(key, base64.RawURLEncoding.EncodeToString([]byte(hs256))+"."+base64.RawURLEncoding.EncodeToString([]byte("not json"))), false},
		{"exp not a number", forge(hs256, map[string]any{"iss": "pier-test", "aud": "pier", "exp": "tomorrow", "jti": "x", "token_use": "access"}, key), false},
		{"payload not base64url", parts[0] + ".!!!." + parts[2], false},
		{"header not base64url", "!!!." + parts[1] + "." + parts[2], false},
		{"standard base64", strings.NewReplacer("-", "+", "_", "/").Replace(good) + "==", false},
		{"empty", "", false},
		{"garbage", "garbage", false},
		{"two parts", parts[0] + "." + parts[1], false},
		{"four parts", good + ".x", false},
		{"dots", "..", false},
		{"huge", strings.Repeat("a", maxTokenLength+1), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := s.Verify(tt.token, now)
			if err == nil {
				t.Fatalf("forged token accepted: %+v", c)
			}
			if c != nil {
				t.Errorf("claims returned with error %v", err)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Errorf("error %v is not ErrInvalidToken", err)
			}
			if errors.Is(err, ErrTokenExpired) != tt.expired {
				t.Errorf("error %v: ErrTokenExpired %v, want %v", err, !tt.expired, tt.expired)
			}
		})
	}
	if _, err := s.Verify(good, now); err != nil {
		t.Errorf("the genuine token is refused: %v", err)
	}
}

// sig is the base64url HMAC-SHA256 of signing under key.
func sig(key []byte, signing string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(signing))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func TestVerifyTimes(t *testing.T) {
	s := testSigner(t)
	tok, err := s.Issue("dev", nil, 5*time.Minute, t0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		at time.Time
		ok bool
	}{
		{t0.Add(-Leeway - time.Second), false},
		{t0.Add(-Leeway + time.Second), true},
		{t0, true},
		{t0.Add(5 * time.Minute), true},
		{t0.Add(5*time.Minute + Leeway - time.Second), true},
		{t0.Add(5*time.Minute + Leeway), false},
		{t0.Add(time.Hour), false},
	}
	for _, tt := range tests {
		if _, err := s.Verify(tok, tt.at); (err == nil) != tt.ok {
			t.Errorf("Verify at %v: %v, want ok %v", tt.at.Sub(t0), err, tt.ok)
		}
	}
}

func TestRefreshTokens(t *testing.T) {
	s := testSigner(t)
	rt, err := s.IssueRefresh("dev", "stamp1", time.Hour, t0)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.VerifyRefresh(rt, t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "dev" || c.Stamp != "stamp1" || c.Use != "refresh" || len(c.Access) != 0 {
		t.Errorf("refresh claims = %+v", c)
	}
	if c.Allows("team/app", Pull) || c.AllowsCatalog() {
		t.Error("refresh token claims allow something")
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(rt, ".")[0])
	if string(hdr) != `{"alg":"HS256","typ":"pier-refresh+jwt"}` {
		t.Errorf("refresh header = %s", hdr)
	}
	// Neither kind is taken for the other.
	if _, err := s.Verify(rt, t0); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("refresh token verified as access token: %v", err)
	}
	at, _ := s.Issue("dev", nil, time.Hour, t0)
	if _, err := s.VerifyRefresh(at, t0); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("access token verified as refresh token: %v", err)
	}
	// Nor is an access token with a refresh header, even correctly
	// signed with the access key, or one signed with the refresh key.
	hdrRefresh := `{"alg":"HS256","typ":"pier-refresh+jwt"}`
	body := map[string]any{"iss": "pier-test", "sub": "dev", "aud": "pier", "exp": t0.Add(time.Hour).Unix(), "jti": "x", "token_use": "refresh", "stamp": "stamp1"}
	if _, err := s.VerifyRefresh(forge(hdrRefresh, body, s.accessKey), t0); err == nil {
		t.Error("refresh token signed with the access key accepted")
	}
	if _, err := s.VerifyRefresh(forge(`{"alg":"HS256","typ":"JWT"}`, body, s.refreshKey), t0); err == nil {
		t.Error("refresh token with the access header accepted")
	}
	if _, err := s.VerifyRefresh(forge(hdrRefresh, body, s.refreshKey), t0); err != nil {
		t.Errorf("well-formed refresh token refused: %v", err)
	}
	if _, err := s.VerifyRefresh(rt, t0.Add(2*time.Hour)); !errors.Is(err, ErrTokenExpired) {
		t.Errorf("expired refresh token: %v", err)
	}
}

func TestClaimsAllows(t *testing.T) {
	c := &Claims{Use: "access", Access: []Scope{
		{TypeRepository, "team/app", []string{Pull, Push}},
		{TypeRepository, "pub/site", []string{Pull}},
		{TypeRegistry, Catalog, []string{AllActions}},
		{"other", "team/x", []string{Pull}},
	}}
	tests := []struct {
		repo, action string
		want         bool
	}{
		{"team/app", Pull, true},
		{"team/app", Push, true},
		{"team/app", Delete, false},
		{"pub/site", Pull, true},
		{"pub/site", Push, false},
		{"team/x", Pull, false},
		{"team", Pull, false},
		{"team/app/web", Pull, false},
		{"catalog", AllActions, false},
	}
	for _, tt := range tests {
		if got := c.Allows(tt.repo, tt.action); got != tt.want {
			t.Errorf("Allows(%q, %q) = %v, want %v", tt.repo, tt.action, got, tt.want)
		}
	}
	if !c.AllowsCatalog() {
		t.Error("AllowsCatalog = false")
	}
	if (&Claims{Use: "access"}).AllowsCatalog() || (*Claims)(nil).Allows("team/app", Pull) {
		t.Error("empty claims allow something")
	}
	star := &Claims{Use: "access", Access: []Scope{{TypeRepository, "a", []string{AllActions}}}}
	if star.Allows("a", Pull) {
		t.Error(`a repository "*" in the claims allows pull: Pier never issues one`)
	}
}
