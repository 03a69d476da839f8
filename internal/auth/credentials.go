package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pier-registry/pier/internal/store"
)

// ErrBadCredentials is in the chain of the error of a login that fails: an
// unknown name, a wrong password or secret, an expired robot token. The
// HTTP layer answers it with a 401; any other error of Check is the
// store's, a 500.
var ErrBadCredentials = errors.New("bad credentials")

// maxLoginLength bounds the names and secrets Check looks at.
const maxLoginLength = 1024

// dummyHash is a bcrypt hash of cost PasswordCost, compared with when a
// check fails without comparing with a user's hash (Verifier.fail), so
// that a failed login takes as long for any name and does not tell which
// names exist.
const dummyHash = "$2a$10$9I8vEIfxEQj1qPvLyvr1lO9IEqasnPaQ/Bund.8US4l/EPyuLf8ia"

// VerifierOptions tune a Verifier. The zero value is usable: every field
// has a documented default.
type VerifierOptions struct {
	// CacheTTL is how long a verified credential is remembered. Default
	// one minute; negative: nothing is cached. A password changed, an
	// identity deleted or a grant taken away may go on working for this
	// long in a process that had checked it just before.
	CacheTTL time.Duration
	// CacheSize is the most credentials remembered. Default 1000.
	CacheSize int
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// Verifier checks login names and passwords or secrets against the
// identities of the store. A Verifier is safe for concurrent use.
type Verifier struct {
	ids   store.Identities
	now   func() time.Time
	cache *credCache
	// compare is bcrypt.CompareHashAndPassword (tests count its calls).
	compare func(hash, password []byte) error
}

// NewVerifier returns a Verifier of the identities in ids.
func NewVerifier(ids store.Identities, opts VerifierOptions) *Verifier {
	if opts.CacheTTL == 0 {
		opts.CacheTTL = time.Minute
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 1000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Verifier{ids: ids, now: opts.Now, cache: newCredCache(opts.CacheTTL, opts.CacheSize), compare: bcrypt.CompareHashAndPassword}
}

// Check returns the identity called name when password is its password
// (a user: bcrypt) or its secret (a robot token: SHA-256, compared in
// constant time), and it has not expired. It fails with an error wrapping
// ErrBadCredentials otherwise.
//
// A credential verified in the last CacheTTL is taken from the cache with
// no store call and no hash; failures are never cached. The identity
// returned is the caller's own copy.
func (v *Verifier) Check(ctx context.Context, name, password string) (*store.Identity, error) {
	if !validLogin(name) || password == "" || len(password) > maxLoginLength {
		return nil, v.fail("malformed name or password", password)
	}
	now := v.now()
	key := v.cache.key(name, password)
	if id, ok := v.cache.get(key, now); ok {
		return id, nil
	}
	id, err := v.ids.Identity(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, v.fail(fmt.Sprintf("no identity %q", name), password)
	}
	if err != nil {
		return nil, fmt.Errorf("look up identity %q: %w", name, err)
	}
	switch id.Kind {
	case store.KindUser:
		if len(password) > MaxPasswordLength {
			// HashPassword takes no longer password; bcrypt would
			// compare only the first 72 bytes of this one.
			return nil, v.fail(fmt.Sprintf("password too long for %q", name), password)
		}
		if err := v.compare([]byte(id.Secret), []byte(password)); err != nil {
			return nil, fmt.Errorf("%w: wrong password for %q", ErrBadCredentials, name)
		}
		if expired(&id, now) {
			return nil, fmt.Errorf("%w: %s", ErrBadCredentials, expiry(&id))
		}
	case store.KindRobot:
		sum := HashRobotSecret(password)
		if subtle.ConstantTimeCompare([]byte(sum), []byte(strings.ToLower(id.Secret))) != 1 {
			return nil, v.fail(fmt.Sprintf("wrong secret for robot %q", name), password)
		}
		if expired(&id, now) {
			return nil, v.fail(expiry(&id), password)
		}
	default:
		return nil, v.fail(fmt.Sprintf("identity %q is of unknown kind %q", name, id.Kind), password)
	}
	v.cache.put(key, id, now)
	return cloneIdentity(id), nil
}

// fail returns the error of a failed check, why, after comparing password
// with dummyHash: a check that fails without a bcrypt of the identity's
// own hash pays one all the same, so that how long a failure takes tells
// nothing of the name (unknown, a robot, a user sent an over-long
// password).
func (v *Verifier) fail(why, password string) error {
	v.compare([]byte(dummyHash), []byte(password[:min(len(password), MaxPasswordLength)]))
	return fmt.Errorf("%w: %s", ErrBadCredentials, why)
}

// expiry says that id has expired, and when.
func expiry(id *store.Identity) string {
	return fmt.Sprintf("%s %q expired at %s", id.Kind, id.Name, id.Expires.UTC().Format(time.RFC3339))
}

// Lookup returns the identity called name, with no credential: for a
// refresh token, whose signature stands for the password checked when
// it was issued. It fails with an error wrapping ErrBadCredentials when
// there is no such identity or it has expired.
func (v *Verifier) Lookup(ctx context.Context, name string) (*store.Identity, error) {
	if !validLogin(name) {
		return nil, fmt.Errorf("%w: malformed name", ErrBadCredentials)
	}
	id, err := v.ids.Identity(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: no identity %q", ErrBadCredentials, name)
	}
	if err != nil {
		return nil, fmt.Errorf("look up identity %q: %w", name, err)
	}
	if expired(&id, v.now()) {
		return nil, fmt.Errorf("%w: %s", ErrBadCredentials, expiry(&id))
	}
	return &id, nil
}

// validLogin reports whether name may be a login name: not empty, not
// too long, no control characters.
func validLogin(name string) bool {
	if name == "" || len(name) > maxLoginLength {
		return false
	}
	for _, c := range []byte(name) {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// stamp identifies the stored secret of id, for a refresh token to carry:
// when the password is changed or the robot token made anew, the stamp
// changes and older refresh tokens stop working. It is a digest of a
// digest, and tells nothing of the secret.
func stamp(id *store.Identity) string {
	sum := sha256.Sum256([]byte("pier refresh stamp\x00" + id.Kind + "\x00" + id.Secret))
	return hex.EncodeToString(sum[:16])
}

// cloneIdentity returns a copy of id that shares no slice with it.
func cloneIdentity(id store.Identity) *store.Identity {
	grants := make([]store.Grant, len(id.Grants))
	for i, g := range id.Grants {
		grants[i] = store.Grant{Pattern: g.Pattern, Actions: append([]string(nil), g.Actions...)}
	}
	id.Grants = grants
	return &id
}
