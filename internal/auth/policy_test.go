package auth

import (
	"testing"

	"github.com/pier-registry/pier/internal/store"
)

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "app", true},
		{"*", "team/app/web", true},
		{"app", "app", true},
		{"app", "app/web", false},
		{"app", "ap", false},
		{"team/app", "team/app", true},
		{"team/*", "team/app", true},
		{"team/*", "team/app/web", true},
		{"team/*", "team", false},
		{"team/*", "teams/app", false},
		{"team/*", "other/team/app", false},
		{"team/app/*", "team/app/web", true},
		{"team/app/*", "team/app", false},
		{"team/app/*", "team/apps/web", false},
		// Not valid patterns: they match nothing, not even themselves.
		{"te*", "team", false},
		{"te*", "te*", false},
		{"a/*/b", "a/x/b", false},
		{"*/app", "team/app", false},
		{"", "", false},
		{"", "app", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestCheckGrant(t *testing.T) {
	tests := []struct {
		g  store.Grant
		ok bool
	}{
		{grant("*", Pull), true},
		{grant("team/*", Pull, Push, Delete), true},
		{grant("team/app", Pull), true},
		{grant("team", Pull), true},
		{grant("", Pull), false},
		{grant("te*", Pull), false},
		{grant("a/*/b", Pull), false},
		{grant("Team/app", Pull), false},
		{grant("team/", Pull), false},
		{grant("/*", Pull), false},
		{grant("team/*"), false},
		{grant("team/*", "*"), false},
		{grant("team/*", "read"), false},
	}
	for _, tt := range tests {
		if err := CheckGrant(tt.g); (err == nil) != tt.ok {
			t.Errorf("CheckGrant(%+v) = %v, want ok %v", tt.g, err, tt.ok)
		}
	}
}

func TestAllowed(t *testing.T) {
	pol := Policy{Public: []string{"pub/*", "site"}}
	dev := &store.Identity{Name: "dev", Kind: store.KindUser, Grants: []store.Grant{
		grant("team/*", Pull, Push),
		grant("team/app", Delete),
		grant("readonly", Pull),
	}}
	admin := &store.Identity{Name: "admin", Kind: store.KindUser, Grants: []store.Grant{grant("*", Pull, Push, Delete)}}
	nobody := &store.Identity{Name: "nobody", Kind: store.KindRobot}
	tests := []struct {
		name         string
		id           *store.Identity
		repo, action string
		want         bool
	}{
		{"anonymous pulls public prefix", nil, "pub/x", Pull, true},
		{"anonymous pulls public name", nil, "site", Pull, true},
		{"anonymous pulls public deep", nil, "pub/x/y", Pull, true},
		{"anonymous pushes public", nil, "pub/x", Push, false},
		{"anonymous deletes public", nil, "site", Delete, false},
		{"anonymous pulls private", nil, "team/app", Pull, false},
		{"anonymous pulls prefix itself", nil, "pub", Pull, false},
		{"identity without grants pulls public", nobody, "site", Pull, true},
		{"identity without grants pushes public", nobody, "site", Push, false},
		{"identity without grants pulls private", nobody, "team/app", Pull, false},
		{"grant prefix pull", dev, "team/app", Pull, true},
		{"grant prefix push deep", dev, "team/app/web", Push, true},
		{"grant prefix not itself", dev, "team", Pull, false},
		{"grant prefix not sibling", dev, "teams/app", Pull, false},
		{"delete from exact grant", dev, "team/app", Delete, true},
		{"no delete elsewhere", dev, "team/other", Delete, false},
		{"pull-only pushing", dev, "readonly", Push, false},
		{"pull-only pulling", dev, "readonly", Pull, true},
		{"admin anything", admin, "x/y/z", Delete, true},
		{"unknown action", admin, "x", "*", false},
		{"empty action", admin, "x", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Allowed(tt.id, pol, tt.repo, tt.action); got != tt.want {
				t.Errorf("Allowed(%v, %q, %q) = %v, want %v", tt.id, tt.repo, tt.action, got, tt.want)
			}
		})
	}
}
