package auth

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseScope(t *testing.T) {
	tests := []struct {
		in   string
		want Scope
	}{
		{"repository:team/app:pull,push", Scope{"repository", "team/app", []string{"pull", "push"}}},
		{"repository:app:pull", Scope{"repository", "app", []string{"pull"}}},
		{"registry:catalog:*", Scope{"registry", "catalog", []string{"*"}}},
		// The name ends at the last ':'.
		{"repository:localhost:5000/a/b:pull", Scope{"repository", "localhost:5000/a/b", []string{"pull"}}},
		// A class is dropped.
		{"repository(plugin):a:pull", Scope{"repository", "a", []string{"pull"}}},
		// Empty and repeated actions are left out.
		{"repository:a:", Scope{"repository", "a", nil}},
		{"repository:a:pull,,pull,push", Scope{"repository", "a", []string{"pull", "push"}}},
		// Unknown types and actions parse; they are not granted.
		{"blob:x:read", Scope{"blob", "x", []string{"read"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseScope(tt.in)
			if err != nil {
				t.Fatalf("ParseScope(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ParseScope(%q) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseScopeMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"repository",
		"repository:a",
		":a:pull",
		"repository::pull",
		"Repository:a:pull",
		"repo-sitory:a:pull",
		"repository:a b:pull",
		`repository:a"b:pull`,
		"repository:" + strings.Repeat("a", 2000) + ":pull",
	} {
		t.Run(in, func(t *testing.T) {
			if sc, err := ParseScope(in); !errors.Is(err, ErrScope) {
				t.Errorf("ParseScope(%q) = %v, %v; want ErrScope", in, sc, err)
			}
		})
	}
}

func TestParseScopes(t *testing.T) {
	tests := []struct {
		name    string
		in      []string
		want    []string // String of each
		wantErr bool
	}{
		{"none", nil, nil, false},
		{"repeated", []string{"repository:a:pull", "registry:catalog:*"}, []string{"repository:a:pull", "registry:catalog:*"}, false},
		{"space separated", []string{"repository:a:pull  repository:b/c:push,pull"}, []string{"repository:a:pull", "repository:b/c:push,pull"}, false},
		{"one malformed", []string{"repository:a:pull", "nonsense"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseScopes(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			var strs []string
			for _, s := range got {
				strs = append(strs, s.String())
			}
			if !reflect.DeepEqual(strs, tt.want) {
				t.Errorf("got %q, want %q", strs, tt.want)
			}
		})
	}
}

func TestScopeString(t *testing.T) {
	tests := []struct {
		in   Scope
		want string
	}{
		{Scope{"repository", "team/app", []string{"pull", "push"}}, "repository:team/app:pull,push"},
		{Scope{"registry", "catalog", []string{"*"}}, "registry:catalog:*"},
		{Scope{"repository", "a", nil}, "repository:a:"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.in, got, tt.want)
		}
		back, err := ParseScope(tt.want)
		if err != nil || back.String() != tt.want {
			t.Errorf("round trip of %q: %v, %v", tt.want, back, err)
		}
	}
	if got := JoinScopes([]Scope{{"repository", "a", []string{"pull"}}, {"registry", "catalog", []string{"*"}}}); got != "repository:a:pull registry:catalog:*" {
		t.Errorf("JoinScopes = %q", got)
	}
}
