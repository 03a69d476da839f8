package auth

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/pier-registry/pier/internal/store"
)

func TestIntersect(t *testing.T) {
	pol := Policy{Public: []string{"pub/*"}}
	dev := &store.Identity{Name: "dev", Kind: store.KindUser, Grants: []store.Grant{
		grant("team/*", Pull, Push),
		grant("team/app", Delete),
		grant("readonly", Pull),
	}}
	tests := []struct {
		name string
		id   *store.Identity
		req  string // space-separated scopes
		want string // space-separated granted scopes
	}{
		{"all asked is allowed", dev, "repository:team/app:pull,push", "repository:team/app:pull,push"},
		{"never more than asked", dev, "repository:team/app:pull", "repository:team/app:pull"},
		{"denied action dropped", dev, "repository:readonly:pull,push", "repository:readonly:pull"},
		{"denied scope dropped", dev, "repository:other:pull repository:team/app:pull", "repository:team/app:pull"},
		{"nothing allowed", dev, "repository:other:pull,push", ""},
		{"star is every allowed action", dev, "repository:team/app:*", "repository:team/app:pull,push,delete"},
		{"star on pull-only", dev, "repository:readonly:*", "repository:readonly:pull"},
		{"canonical order", dev, "repository:team/app:delete,push,pull", "repository:team/app:pull,push,delete"},
		{"merged", dev, "repository:team/app:push repository:readonly:pull repository:team/app:pull", "repository:team/app:pull,push repository:readonly:pull"},
		{"mount: target and source", dev, "repository:team/app:pull,push repository:pub/base:pull", "repository:team/app:pull,push repository:pub/base:pull"},
		{"unknown action", dev, "repository:team/app:pull,write", "repository:team/app:pull"},
		{"unknown type", dev, "blob:team/app:pull", ""},
		{"plugin class counts as repository", dev, "repository(plugin):team/app:pull", "repository:team/app:pull"},
		{"invalid name", dev, "repository:Team/App:pull repository:team/../x:pull", ""},
		{"catalog", dev, "registry:catalog:*", "registry:catalog:*"},
		{"catalog anonymous", nil, "registry:catalog:*", "registry:catalog:*"},
		{"catalog twice", dev, "registry:catalog:* registry:catalog:*", "registry:catalog:*"},
		{"catalog other action", dev, "registry:catalog:pull", ""},
		{"registry other name", dev, "registry:config:*", ""},
		{"anonymous public pull", nil, "repository:pub/site:pull,push", "repository:pub/site:pull"},
		{"anonymous private", nil, "repository:team/app:pull", ""},
		{"public pull with grants", dev, "repository:pub/site:pull,push", "repository:pub/site:pull"},
		{"nothing asked", dev, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := ParseScopes([]string{tt.req})
			if err != nil {
				t.Fatal(err)
			}
			if got := JoinScopes(Intersect(tt.id, pol, req)); got != tt.want {
				t.Errorf("Intersect(%q) = %q, want %q", tt.req, got, tt.want)
			}
		})
	}
}

func TestIntersectBounded(t *testing.T) {
	admin := &store.Identity{Name: "admin", Grants: []store.Grant{grant("*", Pull)}}
	var req []Scope
	for i := range 200 {
		req = append(req, Scope{TypeRepository, fmt.Sprintf("r%d", i), []string{Pull}})
	}
	got := Intersect(admin, Policy{}, req)
	if len(got) != maxScopes {
		t.Errorf("granted %d scopes, want %d", len(got), maxScopes)
	}
	if !reflect.DeepEqual(got, req[:maxScopes]) {
		t.Errorf("granted scopes are not the first %d asked", maxScopes)
	}
}
