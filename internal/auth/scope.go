package auth

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// The actions on a repository.
const (
	// Pull reads manifests, blobs, tags and referrers.
	Pull = "pull"
	// Push uploads blobs and puts manifests and tags.
	Push = "push"
	// Delete deletes manifests, tags and blobs.
	Delete = "delete"
)

// The resource types of the token specification that Pier knows.
const (
	// TypeRepository is the type of a scope on one repository.
	TypeRepository = "repository"
	// TypeRegistry is the type of a scope on the registry itself; its only
	// resource is "catalog", its only action "*".
	TypeRegistry = "registry"
)

// Catalog is the name of the registry resource that lists repositories.
const Catalog = "catalog"

// AllActions is the action "*": every action on the resource.
const AllActions = "*"

// maxScopeLength bounds a scope string; a repository name is at most 255
// bytes, so this leaves room for any type and list of actions.
const maxScopeLength = 1024

// Scope is a resource and actions on it, as the Docker registry token
// specification writes them: "repository:team/app:pull,push" or
// "registry:catalog:*". It is also the form of the entries of a token's
// "access" claim.
type Scope struct {
	// Type is the resource type: "repository" or "registry" (others are
	// parsed but never granted).
	Type string `json:"type"`
	// Name is the resource name: a repository name, or "catalog".
	Name string `json:"name"`
	// Actions are the actions asked for or granted: "pull", "push",
	// "delete", or "*".
	Actions []string `json:"actions"`
}

// ErrScope is the error of a malformed scope string.
var ErrScope = errors.New("malformed scope")

// ParseScope parses one scope string, "type:name:actions". The type is
// what is before the first ':' and the actions what is after the last one,
// so a name may hold ':' and '/' ("repository:team/app:pull"). A type may
// carry a class in parentheses, "repository(plugin)", which is dropped.
// Actions are separated by ','; empty ones are left out and repeated ones
// kept once, so "repository:a:" parses to a scope with no actions.
func ParseScope(s string) (Scope, error) {
	if len(s) > maxScopeLength {
		return Scope{}, fmt.Errorf("%w: longer than %d bytes", ErrScope, maxScopeLength)
	}
	typ, rest, ok := strings.Cut(s, ":")
	i := strings.LastIndexByte(rest, ':')
	if !ok || i < 0 {
		return Scope{}, fmt.Errorf("%w %q: want type:name:actions", ErrScope, s)
	}
	name, actions := rest[:i], rest[i+1:]
	if j := strings.IndexByte(typ, '('); j >= 0 && strings.HasSuffix(typ, ")") {
		typ = typ[:j]
	}
	if !validType(typ) {
		return Scope{}, fmt.Errorf("%w %q: bad resource type", ErrScope, s)
	}
	if name == "" || strings.ContainsAny(name, " \t\r\n\"\\") {
		return Scope{}, fmt.Errorf("%w %q: bad resource name", ErrScope, s)
	}
	sc := Scope{Type: typ, Name: name}
	for a := range strings.SplitSeq(actions, ",") {
		if a != "" && !slices.Contains(sc.Actions, a) {
			sc.Actions = append(sc.Actions, a)
		}
	}
	return sc, nil
}

// validType reports whether typ is a resource type of the grammar of the
// specification: lower-case letters and digits.
func validType(typ string) bool {
	if typ == "" {
		return false
	}
	for _, c := range []byte(typ) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// ParseScopes parses scope strings, as a token request carries them: each
// string may hold several scopes separated by spaces (the OAuth2 form and
// some clients' GET requests do that). It fails on the first malformed
// scope.
func ParseScopes(ss []string) ([]Scope, error) {
	var out []Scope
	for _, s := range ss {
		for f := range strings.FieldsSeq(s) {
			sc, err := ParseScope(f)
			if err != nil {
				return nil, err
			}
			out = append(out, sc)
		}
	}
	return out, nil
}

// String is the scope in the form of the specification,
// "type:name:action,action".
func (s Scope) String() string {
	return s.Type + ":" + s.Name + ":" + strings.Join(s.Actions, ",")
}

// JoinScopes writes scopes in the form of a challenge's or an OAuth2
// response's scope: space-separated.
func JoinScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = s.String()
	}
	return strings.Join(parts, " ")
}
