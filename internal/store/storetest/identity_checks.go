package storetest

// The identities, and the checks of what a store holds, that the
// identities tests (identities.go) share.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// Times with nanoseconds, in zones other than the local one.
var (
	created = time.Date(2025, 3, 14, 15, 9, 26, 535897932, time.UTC)
	expires = time.Date(2026, 3, 14, 15, 9, 26, 999999999, time.FixedZone("CET", 3600))
)

// user returns a user called name with a password hash and grants.
func user(name string, grants ...store.Grant) store.Identity {
	return store.Identity{
		Name:    name,
		Kind:    store.KindUser,
		Secret:  "$2a$10$" + strings.Repeat("N9qo8uLOickgx2ZMRZoMye", 2) + name,
		Grants:  grants,
		Created: created,
	}
}

// robot returns a robot token called name that expires, with grants.
func robot(name string, grants ...store.Grant) store.Identity {
	return store.Identity{
		Name:    name,
		Kind:    store.KindRobot,
		Secret:  string(digest.FromString("secret of " + name).Encoded()),
		Grants:  grants,
		Created: created,
		Expires: expires,
	}
}

func grant(pattern string, actions ...string) store.Grant {
	return store.Grant{Pattern: pattern, Actions: actions}
}

// cloneIdentity returns a copy of id that shares no slices with it.
func cloneIdentity(id store.Identity) store.Identity {
	c := id
	c.Grants = nil
	for _, g := range id.Grants {
		c.Grants = append(c.Grants, store.Grant{Pattern: g.Pattern, Actions: slices.Clone(g.Actions)})
	}
	return c
}

// sameSecond reports whether a and b are the same time to the second (both
// zero, or both not).
func sameSecond(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero() == b.IsZero()
	}
	return a.Truncate(time.Second).Equal(b.Truncate(time.Second))
}

// equalIdentity reports whether got is want, with times to the second and
// no difference between nil and empty lists.
func equalIdentity(got, want store.Identity) bool {
	if got.Name != want.Name || got.Kind != want.Kind || got.Secret != want.Secret ||
		!sameSecond(got.Created, want.Created) || !sameSecond(got.Expires, want.Expires) ||
		len(got.Grants) != len(want.Grants) {
		return false
	}
	for i, g := range got.Grants {
		if g.Pattern != want.Grants[i].Pattern || !slices.Equal(g.Actions, want.Grants[i].Actions) {
			return false
		}
	}
	return true
}

// wantIdentity fails t unless got is want.
func wantIdentity(t *testing.T, what string, got, want store.Identity) {
	t.Helper()
	if !equalIdentity(got, want) {
		t.Fatalf("%s = %+v, want %+v", what, got, want)
	}
}

func putIdentity(t *testing.T, s store.Identities, id store.Identity) {
	t.Helper()
	if err := s.PutIdentity(ctx, id); err != nil {
		t.Fatalf("PutIdentity(%q): %v", id.Name, err)
	}
}

// wantStored fails t unless s holds want under want.Name.
func wantStored(t *testing.T, s store.Identities, want store.Identity) {
	t.Helper()
	got, err := s.Identity(ctx, want.Name)
	if err != nil {
		t.Fatalf("Identity(%q): %v", want.Name, err)
	}
	wantIdentity(t, fmt.Sprintf("Identity(%q)", want.Name), got, want)
}

// wantNoIdentity fails t unless s has no identity called name.
func wantNoIdentity(t *testing.T, s store.Identities, name string) {
	t.Helper()
	_, err := s.Identity(ctx, name)
	wantErr(t, fmt.Sprintf("Identity(%q)", name), err, store.ErrNotFound)
}

// wantList fails t unless s lists exactly want, in that order.
func wantList(t *testing.T, s store.Identities, want ...store.Identity) {
	t.Helper()
	got, err := s.ListIdentities(ctx)
	if err != nil {
		t.Fatalf("ListIdentities: %v", err)
	}
	if !slices.EqualFunc(got, want, equalIdentity) {
		t.Fatalf("ListIdentities = %v, want %v", identityNames(got), identityNames(want))
	}
}

func identityNames(ids []store.Identity) []string {
	names := make([]string, len(ids))
	for i, id := range ids {
		names[i] = id.Name
	}
	return names
}
