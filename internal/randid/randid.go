// Package randid makes random identifiers and secrets from crypto/rand:
// the one place Pier reads random bytes (upload ids, request ids, token
// ids, generated passwords and robot secrets, unique names of staged
// files and objects, the local token signing key, the credential cache's
// key).
package randid

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// Bytes returns n random bytes.
func Bytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}

// Hex returns n random bytes as 2n lower-case hex digits.
func Hex(n int) string { return hex.EncodeToString(Bytes(n)) }

// Base64URL returns n random bytes in unpadded base64url (RFC 4648 §5):
// ceil(4n/3) characters of A-Z, a-z, 0-9, '-' and '_'.
func Base64URL(n int) string { return base64.RawURLEncoding.EncodeToString(Bytes(n)) }
