package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The JOSE headers of Pier's tokens. They are fixed: a token whose header
// is not, byte for byte, the one of its kind is refused before anything
// else of it is looked at, so no "alg" but HS256 (not "none", not
// "HS384", not "RS256"), no "crit", "jku", "kid" or anything else gets
// past.
const (
	// typAccess is the typ of an access token.
	typAccess = "JWT"
	// typRefresh is the typ of a refresh token.
	typRefresh = "pier-refresh+jwt"
)

// maxTokenLength bounds the tokens Verify reads. A token with the most
// scopes Intersect grants is well under it.
const maxTokenLength = 32 << 10

// b64 is the base64url encoding of JWS (RFC 7515, section 2): no padding,
// and strict, so one token has one encoding.
var b64 = base64.RawURLEncoding.Strict()

// ErrInvalidToken is the error of a token that is malformed, forged,
// altered, of the wrong kind, for another issuer or audience, expired or
// not yet valid: one that grants nothing.
var ErrInvalidToken = errors.New("invalid token")

// ErrTokenExpired is also in the chain of the error of a token that has
// expired, for a client that wants to tell the user.
var ErrTokenExpired = errors.New("token expired")

// jwtHeader is the JOSE header of a token.
type jwtHeader struct {
	Alg string `json:"alg"`
	Typ string `json:"typ"`
}

// encodedHeader returns the encoded JOSE header of tokens of kind typ.
func encodedHeader(typ string) string {
	b, err := json.Marshal(jwtHeader{Alg: "HS256", Typ: typ})
	if err != nil {
		panic(err) // two strings always marshal
	}
	return b64.EncodeToString(b)
}

// headers are the encoded headers of the two kinds of token.
var headers = map[string]string{
	typAccess:  encodedHeader(typAccess),
	typRefresh: encodedHeader(typRefresh),
}

// signJWT returns the compact JWS of claims with the header of kind typ,
// signed with HMAC-SHA256 under key.
func signJWT(key []byte, typ string, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encode claims: %w", err)
	}
	signing := headers[typ] + "." + b64.EncodeToString(payload)
	return signing + "." + b64.EncodeToString(mac(key, signing)), nil
}

// openJWT checks that token is a compact JWS with the header of kind typ
// and a valid HMAC-SHA256 signature under key, and returns its payload.
// The header is checked first, then the signature, and only then is the
// payload decoded; the signature is compared in constant time.
func openJWT(key []byte, typ, token string) ([]byte, error) {
	if len(token) > maxTokenLength {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, maxTokenLength)
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("%w: not a signed JWT (want 3 parts, got %d)", ErrInvalidToken, len(parts))
	}
	if parts[0] != headers[typ] {
		return nil, fmt.Errorf("%w: %s", ErrInvalidToken, describeHeader(parts[0], typ))
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, fmt.Errorf("%w: signature is not base64url", ErrInvalidToken)
	}
	if !hmac.Equal(sig, mac(key, parts[0]+"."+parts[1])) {
		return nil, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	payload, err := b64.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not base64url", ErrInvalidToken)
	}
	return payload, nil
}

// describeHeader says why the encoded header h is not the one of tokens
// of kind typ, for the error message.
func describeHeader(h, typ string) string {
	b, err := b64.DecodeString(h)
	if err != nil {
		return "header is not base64url"
	}
	var hd jwtHeader
	if err := json.Unmarshal(b, &hd); err != nil {
		return "header is not a JSON object"
	}
	switch {
	case hd.Alg != "HS256":
		return fmt.Sprintf("algorithm %q not accepted (only HS256)", hd.Alg)
	case hd.Typ != typ:
		return fmt.Sprintf("token type %q where %q was expected", hd.Typ, typ)
	default:
		return "unexpected header"
	}
}

// mac is HMAC-SHA256 of s under key.
func mac(key []byte, s string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(s))
	return m.Sum(nil)
}
