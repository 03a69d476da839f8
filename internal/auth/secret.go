package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/pier-registry/pier/internal/randid"
)

// PasswordCost is the bcrypt cost of the password hashes HashPassword
// makes: about 50 ms of one core per check, paid at the token endpoint
// and, with the Verifier's cache, at most once a minute per credential
// for Basic credentials sent to /v2/.
const PasswordCost = 10

// MaxPasswordLength is the longest password, in bytes: bcrypt reads no
// more than 72 bytes of it.
const MaxPasswordLength = 72

// RobotSecretPrefix starts every robot token secret, so that secret
// scanners and people can tell what it is.
const RobotSecretPrefix = "pier_"

// HashPassword returns the bcrypt hash of password, to store as a user's
// Secret. The password must not be empty nor longer than 72 bytes.
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	if len(password) > MaxPasswordLength {
		return "", fmt.Errorf("password longer than %d bytes", MaxPasswordLength)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), PasswordCost)
	if err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	return string(h), nil
}

// NewRobotSecret returns a new robot token secret, to show once to whoever
// creates the token and never store, and its hash, to store as the
// robot's Secret. The secret is "pier_" and 32 random bytes in base64url
// (43 characters).
func NewRobotSecret() (secret, hash string) {
	secret = RobotSecretPrefix + randid.Base64URL(32)
	return secret, HashRobotSecret(secret)
}

// HashRobotSecret returns the hash of a robot token secret as it is
// stored: the hex SHA-256 of the whole secret string. A robot secret has
// 256 bits of entropy, so a fast hash is as good as a slow one, and costs
// nothing on each request.
func HashRobotSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
