package auth

import (
	"context"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pier-registry/pier/internal/store"
)

// memIdentities is an in-memory store.Identities for the tests: the real
// backends are tested by their contract suite.
type memIdentities struct {
	mu    sync.Mutex
	ids   map[string]store.Identity
	reads atomic.Int64 // calls of Identity
	err   error        // if set, Identity fails with it
}

func newMemIdentities(ids ...store.Identity) *memIdentities {
	m := &memIdentities{ids: map[string]store.Identity{}}
	for _, id := range ids {
		m.ids[id.Name] = id
	}
	return m
}

func (m *memIdentities) PutIdentity(_ context.Context, id store.Identity) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[id.Name] = id
	return nil
}

func (m *memIdentities) Identity(_ context.Context, name string) (store.Identity, error) {
	m.reads.Add(1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return store.Identity{}, m.err
	}
	id, ok := m.ids[name]
	if !ok {
		return store.Identity{}, store.ErrNotFound
	}
	return *cloneIdentity(id), nil
}

func (m *memIdentities) DeleteIdentity(_ context.Context, name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.ids[name]; !ok {
		return store.ErrNotFound
	}
	delete(m.ids, name)
	return nil
}

func (m *memIdentities) ListIdentities(context.Context) ([]store.Identity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Identity
	for _, id := range m.ids {
		out = append(out, id)
	}
	slices.SortFunc(out, func(a, b store.Identity) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

var _ store.Identities = (*memIdentities)(nil)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testUser returns a user with a cheap bcrypt hash of password.
func testUser(t testing.TB, name, password string, grants ...store.Grant) store.Identity {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return store.Identity{Name: name, Kind: store.KindUser, Secret: string(h), Grants: grants}
}

// testRobot returns a robot token with secret, expiring at expires (zero:
// never).
func testRobot(name, secret string, expires time.Time, grants ...store.Grant) store.Identity {
	return store.Identity{Name: name, Kind: store.KindRobot, Secret: HashRobotSecret(secret), Expires: expires, Grants: grants}
}

// grant is a store.Grant of actions on pattern.
func grant(pattern string, actions ...string) store.Grant {
	return store.Grant{Pattern: pattern, Actions: actions}
}

// testKey is a signing key for the tests.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// testSigner returns a Signer with testKey.
func testSigner(t testing.TB) *Signer {
	t.Helper()
	s, err := NewSigner(testKey, "pier-test")
	if err != nil {
		t.Fatal(err)
	}
	return s
}
