package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pier-registry/pier/internal/randid"
)

// Audience is the "aud" claim of every token Pier issues, and the only
// one it accepts.
const Audience = "pier"

// Leeway is how far the clocks of the process that issued a token and of
// the one that verifies it may disagree: a token is accepted up to Leeway
// after it expired, and from Leeway before it becomes valid.
const Leeway = 30 * time.Second

// MinKeyLength is the shortest signing key NewSigner takes, in bytes.
const MinKeyLength = 32

// The values of the "token_use" claim.
const (
	useAccess  = "access"
	useRefresh = "refresh"
)

// Claims are the claims of a token Pier issued.
type Claims struct {
	// Issuer ("iss") is the issuer of the Signer that made the token.
	Issuer string `json:"iss"`
	// Subject ("sub") is the name of the identity the token was issued to;
	// "" for an anonymous caller.
	Subject string `json:"sub"`
	// Audience ("aud") is always [Audience].
	Audience string `json:"aud"`
	// ExpiresAt ("exp"), NotBefore ("nbf") and IssuedAt ("iat") are in
	// seconds since 1970 (UTC).
	ExpiresAt int64 `json:"exp"`
	NotBefore int64 `json:"nbf"`
	IssuedAt  int64 `json:"iat"`
	// ID ("jti") is random, unique to the token.
	ID string `json:"jti"`
	// Use ("token_use") is "access" or "refresh": an access token is not
	// taken as a refresh token, nor the other way round (their "typ"
	// headers and signing keys differ too).
	Use string `json:"token_use"`
	// Access is what an access token grants, in the form of the Docker
	// registry token specification. A refresh token grants nothing by
	// itself, and has none.
	Access []Scope `json:"access,omitempty"`
	// Stamp, in a refresh token, identifies the identity's secret at the
	// time the token was issued (see [Signer.IssueRefresh]).
	Stamp string `json:"stamp,omitempty"`
}

// Allows reports whether the claims grant action on the repository repo.
func (c *Claims) Allows(repo, action string) bool {
	return c.has(TypeRepository, repo, action)
}

// AllowsCatalog reports whether the claims grant "registry:catalog:*".
func (c *Claims) AllowsCatalog() bool {
	return c.has(TypeRegistry, Catalog, AllActions)
}

// has reports whether an access entry on (typ, name) holds action.
func (c *Claims) has(typ, name, action string) bool {
	if c == nil || c.Use != useAccess {
		return false
	}
	for _, s := range c.Access {
		if s.Type == typ && s.Name == name && slices.Contains(s.Actions, action) {
			return true
		}
	}
	return false
}

// Expires is when the token expires.
func (c *Claims) Expires() time.Time { return time.Unix(c.ExpiresAt, 0) }

// Signer issues and verifies Pier's tokens: JWTs signed with HMAC-SHA256
// (HS256). Access and refresh tokens are signed with two keys derived from
// the one it is made with, so neither can be taken for the other even by
// a check that forgot to look at the kind. A Signer is safe for
// concurrent use.
type Signer struct {
	issuer     string
	accessKey  []byte
	refreshKey []byte
	uploadKey  []byte
}

// NewSigner returns a Signer of tokens whose "iss" is issuer, signed with
// keys derived from key, which must be at least MinKeyLength (32) bytes of
// secret randomness.
func NewSigner(key []byte, issuer string) (*Signer, error) {
	if len(key) < MinKeyLength {
		return nil, fmt.Errorf("signing key too short: %d bytes, want at least %d", len(key), MinKeyLength)
	}
	if issuer == "" {
		return nil, errors.New("token issuer is empty")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte("pier token key\x00" + label))
		return m.Sum(nil)
	}
	return &Signer{issuer: issuer, accessKey: derive(useAccess), refreshKey: derive(useRefresh), uploadKey: derive("upload state")}, nil
}

// UploadKey returns a key derived from the signing key for the signed
// states of uploads (registry.Options.UploadKey): the same in every
// process that has the signing key, and never a token key.
func (s *Signer) UploadKey() []byte { return s.uploadKey }

// Issuer is the "iss" of the Signer's tokens.
func (s *Signer) Issuer() string { return s.issuer }

// Issue returns an access token for subject ("" for an anonymous caller)
// that grants access, valid from now for ttl. It grants exactly access:
// what was requested and is allowed is the caller's business
// ([Intersect]).
func (s *Signer) Issue(subject string, access []Scope, ttl time.Duration, now time.Time) (string, error) {
	c, err := s.claims(subject, useAccess, ttl, now)
	if err != nil {
		return "", err
	}
	c.Access = access
	return signJWT(s.accessKey, typAccess, c)
}

// IssueRefresh returns a refresh token for subject, valid from now for
// ttl. It grants no access by itself: it is traded at the token endpoint
// for access tokens, with the access the identity has then. stamp is kept
// in the token and given back by VerifyRefresh, for the caller to check
// that the identity is still the one the token was issued to (the token
// endpoint uses a digest of the identity's stored secret, so a new
// password or a re-created robot token ends older refresh tokens).
func (s *Signer) IssueRefresh(subject, stamp string, ttl time.Duration, now time.Time) (string, error) {
	if subject == "" {
		return "", errors.New("refresh token for no subject")
	}
	c, err := s.claims(subject, useRefresh, ttl, now)
	if err != nil {
		return "", err
	}
	c.Stamp = stamp
	return signJWT(s.refreshKey, typRefresh, c)
}

// claims returns the registered claims of a new token.
func (s *Signer) claims(subject, use string, ttl time.Duration, now time.Time) (*Claims, error) {
	if ttl <= 0 {
		return nil, fmt.Errorf("token lifetime %v is not positive", ttl)
	}
	return &Claims{
		Issuer:    s.issuer,
		Subject:   subject,
		Audience:  Audience,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: now.Add(ttl).Unix(),
		ID:        b64.EncodeToString(randid.Bytes(16)),
		Use:       use,
	}, nil
}

// Verify checks an access token at time now and returns its claims. It
// refuses, with an error wrapping ErrInvalidToken: a header that is not
// {"alg":"HS256","typ":"JWT"} (so "alg":"none" and every other algorithm),
// checked before anything else; a bad signature (compared in constant
// time), so any altered header or claim; malformed base64url or JSON; a
// refresh token; another issuer or audience; a token that expired more
// than Leeway ago (its error wraps ErrTokenExpired too), or that is valid
// only more than Leeway from now.
func (s *Signer) Verify(token string, now time.Time) (*Claims, error) {
	return s.verify(s.accessKey, typAccess, useAccess, token, now)
}

// VerifyRefresh checks a refresh token as Verify checks an access token,
// and returns its claims.
func (s *Signer) VerifyRefresh(token string, now time.Time) (*Claims, error) {
	return s.verify(s.refreshKey, typRefresh, useRefresh, token, now)
}

// verify checks a token of kind typ and use signed with key.
func (s *Signer) verify(key []byte, typ, use, token string, now time.Time) (*Claims, error) {
	payload, err := openJWT(key, typ, token)
	if err != nil {
		return nil, err
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims are not valid JSON: %v", ErrInvalidToken, err)
	}
	switch {
	case c.Use != use:
		return nil, fmt.Errorf("%w: a %q token where an %q token was expected", ErrInvalidToken, c.Use, use)
	case c.Issuer != s.issuer:
		return nil, fmt.Errorf("%w: issuer %q is not %q", ErrInvalidToken, c.Issuer, s.issuer)
	case c.Audience != Audience:
		return nil, fmt.Errorf("%w: audience %q is not %q", ErrInvalidToken, c.Audience, Audience)
	case c.ID == "" || c.ExpiresAt == 0:
		return nil, fmt.Errorf("%w: no jti or exp claim", ErrInvalidToken)
	case !now.Before(time.Unix(c.ExpiresAt, 0).Add(Leeway)):
		return nil, fmt.Errorf("%w: %w at %s", ErrInvalidToken, ErrTokenExpired, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	case now.Add(Leeway).Before(time.Unix(c.NotBefore, 0)) || now.Add(Leeway).Before(time.Unix(c.IssuedAt, 0)):
		return nil, fmt.Errorf("%w: not valid before %s", ErrInvalidToken, time.Unix(max(c.NotBefore, c.IssuedAt), 0).UTC().Format(time.RFC3339))
	}
	return &c, nil
}
