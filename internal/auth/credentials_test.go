package auth

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/pier-registry/pier/internal/store"
)

func TestCheck(t *testing.T) {
	clk := newClock()
	ids := newMemIdentities(
		testUser(t, "alice", "correct horse", grant("team/*", Pull, Push)),
		testRobot("ci", "pier_robotsecret", time.Time{}, grant("team/app", Pull)),
		testRobot("old-ci", "pier_oldsecret", clk.Now().Add(-time.Second)),
		testRobot("upper", "pier_upper", time.Time{}),
		store.Identity{Name: "odd", Kind: "service", Secret: HashRobotSecret("x")},
		testUser(t, "long", strings.Repeat("p", 72)),
	)
	// A stored hex digest in upper case is still compared right.
	u, _ := ids.Identity(context.Background(), "upper")
	u.Secret = strings.ToUpper(u.Secret)
	ids.PutIdentity(context.Background(), u)

	v := NewVerifier(ids, VerifierOptions{Now: clk.Now, CacheTTL: -1})
	tests := []struct {
		name, user, password string
		ok                   bool
	}{
		{"user", "alice", "correct horse", true},
		{"user wrong password", "alice", "correct horsE", false},
		{"user password prefix", "alice", "correct", false},
		{"user empty password", "alice", "", false},
		{"unknown user", "bob", "correct horse", false},
		{"empty name", "", "correct horse", false},
		{"control character in name", "alice\x00", "correct horse", false},
		{"robot", "ci", "pier_robotsecret", true},
		{"robot wrong secret", "ci", "pier_robotsecreT", false},
		{"robot secret's hash as secret", "ci", HashRobotSecret("pier_robotsecret"), false},
		{"robot expired", "old-ci", "pier_oldsecret", false},
		{"robot upper-case digest", "upper", "pier_upper", true},
		{"unknown kind", "odd", "x", false},
		{"72-byte password", "long", strings.Repeat("p", 72), true},
		{"73-byte password matching in 72", "long", strings.Repeat("p", 73), false},
		{"huge password", "alice", strings.Repeat("x", 10000), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := v.Check(context.Background(), tt.user, tt.password)
			if tt.ok {
				if err != nil || id == nil || id.Name != tt.user {
					t.Fatalf("Check = %v, %v; want identity %q", id, err, tt.user)
				}
				return
			}
			if err == nil || id != nil {
				t.Fatalf("Check = %v, %v; want an error", id, err)
			}
			if !errors.Is(err, ErrBadCredentials) {
				t.Errorf("error %v is not ErrBadCredentials", err)
			}
		})
	}
	id, err := v.Check(context.Background(), "alice", "correct horse")
	if err != nil || len(id.Grants) != 1 || id.Grants[0].Pattern != "team/*" {
		t.Errorf("alice = %+v, %v", id, err)
	}
}

func TestCheckStoreError(t *testing.T) {
	ids := newMemIdentities()
	ids.err = errors.New("dynamodb is down")
	v := NewVerifier(ids, VerifierOptions{})
	_, err := v.Check(context.Background(), "alice", "pw")
	if err == nil || errors.Is(err, ErrBadCredentials) || !errors.Is(err, ids.err) {
		t.Errorf("Check = %v, want the store's error, not ErrBadCredentials", err)
	}
	if _, err := v.Lookup(context.Background(), "alice"); err == nil || errors.Is(err, ErrBadCredentials) {
		t.Errorf("Lookup = %v, want the store's error", err)
	}
}

func TestCheckCache(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	ids := newMemIdentities(testUser(t, "alice", "pw", grant("team/*", Pull)))
	v := NewVerifier(ids, VerifierOptions{Now: clk.Now, CacheTTL: time.Minute})
	check := func(user, pw string, wantOK bool, wantReads int64) {
		t.Helper()
		before := ids.reads.Load()
		_, err := v.Check(ctx, user, pw)
		if (err == nil) != wantOK {
			t.Fatalf("Check(%q, %q) = %v, want ok %v", user, pw, err, wantOK)
		}
		if got := ids.reads.Load() - before; got != wantReads {
			t.Fatalf("Check(%q, %q) read the store %d times, want %d", user, pw, got, wantReads)
		}
	}
	check("alice", "pw", true, 1)     // miss
	check("alice", "pw", true, 0)     // hit
	check("alice", "wrong", false, 1) // another credential: a miss
	check("alice", "wrong", false, 1) // failures are not cached
	clk.Advance(59 * time.Second)
	check("alice", "pw", true, 0) // still cached
	clk.Advance(time.Second)
	check("alice", "pw", true, 1) // expired: checked again
	check("alice", "pw", true, 0)

	// The cache holds the identity as it was: a change is seen after
	// the TTL.
	ids.PutIdentity(ctx, testUser(t, "alice", "new"))
	check("alice", "pw", true, 0)
	check("alice", "new", true, 1)
	clk.Advance(time.Minute)
	check("alice", "pw", false, 1)

	// A robot token is cached no longer than it lives.
	ids.PutIdentity(ctx, testRobot("ci", "pier_s", clk.Now().Add(90*time.Second)))
	check("ci", "pier_s", true, 1)
	clk.Advance(30 * time.Second)
	check("ci", "pier_s", true, 0)
	clk.Advance(30 * time.Second) // the first entry has expired
	check("ci", "pier_s", true, 1)
	clk.Advance(29 * time.Second) // 89 s of 90
	check("ci", "pier_s", true, 0)
	clk.Advance(time.Second)
	check("ci", "pier_s", false, 1)
}

func TestCheckCacheCopies(t *testing.T) {
	ids := newMemIdentities(testUser(t, "alice", "pw", grant("team/*", Pull)))
	v := NewVerifier(ids, VerifierOptions{})
	id, err := v.Check(context.Background(), "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	id.Grants[0].Pattern = "*"
	id.Grants[0].Actions[0] = Delete
	again, err := v.Check(context.Background(), "alice", "pw")
	if err != nil {
		t.Fatal(err)
	}
	if again.Grants[0].Pattern != "team/*" || again.Grants[0].Actions[0] != Pull {
		t.Errorf("changing a returned identity changed the cache: %+v", again.Grants)
	}
}

func TestCheckCacheBounded(t *testing.T) {
	clk := newClock()
	var all []store.Identity
	for i := range 10 {
		all = append(all, testRobot(fmt.Sprintf("r%d", i), fmt.Sprintf("s%d", i), time.Time{}))
	}
	ids := newMemIdentities(all...)
	v := NewVerifier(ids, VerifierOptions{Now: clk.Now, CacheSize: 3})
	for i := range 10 {
		if _, err := v.Check(context.Background(), fmt.Sprintf("r%d", i), fmt.Sprintf("s%d", i)); err != nil {
			t.Fatal(err)
		}
		if n := v.cache.count(); n > 3 {
			t.Fatalf("cache holds %d entries, want at most 3", n)
		}
	}
	// Expired entries go first.
	clk.Advance(2 * time.Minute)
	v.Check(context.Background(), "r0", "s0")
	if n := v.cache.count(); n != 1 {
		t.Errorf("cache holds %d entries after the others expired, want 1", n)
	}
}

func TestCacheKey(t *testing.T) {
	c := newCredCache(time.Minute, 10)
	// A name and a password that run together differently are different
	// keys.
	if c.key("a", "bc") == c.key("ab", "c") || c.key("a\x00b", "c") == c.key("a", "b\x00c") {
		t.Error("cache keys collide")
	}
	if c.key("a", "b") != c.key("a", "b") {
		t.Error("cache key not stable")
	}
	if newCredCache(time.Minute, 10).key("a", "b") == c.key("a", "b") {
		t.Error("two caches share a key: the HMAC key is not random")
	}
}

func TestLookup(t *testing.T) {
	clk := newClock()
	ids := newMemIdentities(
		testUser(t, "alice", "pw"),
		testRobot("old", "s", clk.Now().Add(time.Minute)),
	)
	v := NewVerifier(ids, VerifierOptions{Now: clk.Now})
	if id, err := v.Lookup(context.Background(), "alice"); err != nil || id.Name != "alice" {
		t.Errorf("Lookup(alice) = %v, %v", id, err)
	}
	if _, err := v.Lookup(context.Background(), "bob"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("Lookup(bob) = %v", err)
	}
	if _, err := v.Lookup(context.Background(), "old"); err != nil {
		t.Errorf("Lookup(old) = %v", err)
	}
	clk.Advance(time.Minute)
	if _, err := v.Lookup(context.Background(), "old"); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("Lookup(old) after expiry = %v", err)
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if cost, err := bcrypt.Cost([]byte(h)); err != nil || cost < 10 {
		t.Errorf("bcrypt cost %d, %v; want at least 10", cost, err)
	}
	v := NewVerifier(newMemIdentities(store.Identity{Name: "alice", Kind: store.KindUser, Secret: h}), VerifierOptions{})
	if _, err := v.Check(context.Background(), "alice", "correct horse"); err != nil {
		t.Errorf("Check with a HashPassword hash: %v", err)
	}
	for _, bad := range []string{"", strings.Repeat("x", 73)} {
		if _, err := HashPassword(bad); err == nil {
			t.Errorf("HashPassword(%d bytes) accepted", len(bad))
		}
	}
}

func TestNewRobotSecret(t *testing.T) {
	secret, hash := NewRobotSecret()
	if !strings.HasPrefix(secret, RobotSecretPrefix) || len(secret) != len(RobotSecretPrefix)+43 {
		t.Errorf("secret %q: want pier_ and 43 base64url characters", secret)
	}
	if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 || hash != strings.ToLower(hash) {
		t.Errorf("hash %q is not a lower-case hex SHA-256", hash)
	}
	if hash != HashRobotSecret(secret) {
		t.Error("hash is not HashRobotSecret(secret)")
	}
	if strings.Contains(hash, secret) || strings.Contains(secret, hash) {
		t.Error("secret and hash overlap")
	}
	s2, h2 := NewRobotSecret()
	if s2 == secret || h2 == hash {
		t.Error("two robot secrets are equal")
	}
	v := NewVerifier(newMemIdentities(store.Identity{Name: "ci", Kind: store.KindRobot, Secret: hash}), VerifierOptions{})
	if _, err := v.Check(context.Background(), "ci", secret); err != nil {
		t.Errorf("Check with a new robot secret: %v", err)
	}
}

// TestCheckFailuresCostOneBcrypt: every failed check does the work of a
// wrong password, one bcrypt of cost PasswordCost, so that how long it
// takes tells nothing of the name: unknown, a robot, a user sent an
// over-long password, a malformed login.
func TestCheckFailuresCostOneBcrypt(t *testing.T) {
	clk := newClock()
	alice := testUser(t, "alice", "alice-pw")
	ids := newMemIdentities(
		alice,
		testRobot("ci", "pier_ci", time.Time{}),
		testRobot("old-ci", "pier_old", clk.Now().Add(-time.Hour)),
		store.Identity{Name: "odd", Kind: "service", Secret: HashRobotSecret("x")},
	)
	v := NewVerifier(ids, VerifierOptions{Now: clk.Now, CacheTTL: -1})
	// hashes records the hash of every bcrypt comparison.
	var hashes []string
	v.compare = func(hash, password []byte) error {
		hashes = append(hashes, string(hash))
		if string(hash) == dummyHash {
			return bcrypt.ErrMismatchedHashAndPassword // the work is not the test's
		}
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	for _, tc := range []struct {
		name, user, password string
		want                 string // the hash compared
	}{
		{"user, wrong password", "alice", "wrong", alice.Secret},
		{"unknown name", "nobody", "wrong", dummyHash},
		{"robot, wrong secret", "ci", "pier_wrong", dummyHash},
		{"robot, expired", "old-ci", "pier_old", dummyHash},
		{"identity of unknown kind", "odd", "x", dummyHash},
		{"user, password over 72 bytes", "alice", strings.Repeat("p", 73), dummyHash},
		{"password over the login limit", "alice", strings.Repeat("p", maxLoginLength+1), dummyHash},
		{"empty password", "alice", "", dummyHash},
		{"name with a control character", "ali\nce", "wrong", dummyHash},
		{"empty name", "", "wrong", dummyHash},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hashes = nil
			if _, err := v.Check(context.Background(), tc.user, tc.password); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("Check = %v, want bad credentials", err)
			}
			if len(hashes) != 1 || hashes[0] != tc.want {
				t.Errorf("bcrypt comparisons with %q, want one with %q", hashes, tc.want)
			}
		})
	}
	if cost, err := bcrypt.Cost([]byte(dummyHash)); err != nil || cost != PasswordCost {
		t.Errorf("the dummy hash has cost %d (%v), want %d", cost, err, PasswordCost)
	}
	// A robot's right secret costs no bcrypt: it is a SHA-256.
	hashes = nil
	if _, err := v.Check(context.Background(), "ci", "pier_ci"); err != nil || len(hashes) != 0 {
		t.Errorf("robot login: %v, %d bcrypt comparisons; want ok and none", err, len(hashes))
	}
}
