package auth

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// maxScopes bounds the scopes of one token request; any more are not
// granted. A client asks for one or two (a mount names two repositories).
const maxScopes = 64

// repositoryActions are the actions of a repository, in the order a
// granted scope lists them.
var repositoryActions = []string{Pull, Push, Delete}

// Intersect returns the part of requested that id may have under pol: the
// access a token for id is granted. It never grants more than was asked,
// and leaves out, without an error, what is not allowed, as the token
// specification asks: the registry then refuses the request the token is
// for.
//
//   - A "repository" scope keeps the actions [Allowed] allows on it; "*"
//     stands for pull, push and delete. Its name must be a valid
//     repository name.
//   - "registry:catalog:*" is granted to everyone, anonymous callers too:
//     the catalog shows each caller only the repositories it may pull.
//   - Other types, names and actions are dropped, and so is a scope left
//     with no action.
//
// Scopes on the same resource are merged into one; the result keeps the
// order in which resources were first asked for, and lists a
// repository's actions as pull, push, delete. At most 64 requested
// scopes are looked at.
func Intersect(id *store.Identity, pol Policy, requested []Scope) []Scope {
	if len(requested) > maxScopes {
		requested = requested[:maxScopes]
	}
	var out []Scope
	index := map[[2]string]int{} // (type, name) -> index in out
	add := func(typ, name, action string) {
		k := [2]string{typ, name}
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Scope{Type: typ, Name: name})
		}
		out[i].Actions = append(out[i].Actions, action)
	}
	for _, sc := range requested {
		switch sc.Type {
		case TypeRepository:
			if !oci.ValidName(sc.Name) {
				continue
			}
			for _, a := range repositoryActions {
				if !asks(sc, a) || !Allowed(id, pol, sc.Name, a) {
					continue
				}
				if i, ok := index[[2]string{sc.Type, sc.Name}]; ok && slices.Contains(out[i].Actions, a) {
					continue
				}
				add(sc.Type, sc.Name, a)
			}
		case TypeRegistry:
			if sc.Name != Catalog || !slices.Contains(sc.Actions, AllActions) {
				continue
			}
			if _, ok := index[[2]string{sc.Type, sc.Name}]; !ok {
				add(sc.Type, sc.Name, AllActions)
			}
		}
	}
	// Actions were added in request order across merged scopes; list a
	// repository's in canonical order.
	for i := range out {
		if out[i].Type == TypeRepository {
			out[i].Actions = canonical(out[i].Actions)
		}
	}
	return out
}

// asks reports whether sc asks for action a, by name or by "*".
func asks(sc Scope, a string) bool {
	return slices.Contains(sc.Actions, a) || slices.Contains(sc.Actions, AllActions)
}

// canonical returns actions ordered as repositoryActions.
func canonical(actions []string) []string {
	out := make([]string, 0, len(actions))
	for _, a := range repositoryActions {
		if slices.Contains(actions, a) {
			out = append(out, a)
		}
	}
	return out
}

// ParseGrant parses a grant written PATTERN=ACTIONS, as the --grant flag
// of the admin commands takes it: "team/*=pull,push", "*=pull,push,delete".
// Spaces around the pattern and the actions are dropped, and the actions
// are listed as pull, push, delete, each once. The grant must pass
// [CheckGrant].
func ParseGrant(v string) (store.Grant, error) {
	pattern, actions, ok := strings.Cut(v, "=")
	if !ok {
		return store.Grant{}, fmt.Errorf("grant %q: want PATTERN=ACTIONS, e.g. team/*=pull,push", v)
	}
	g := store.Grant{Pattern: strings.TrimSpace(pattern)}
	var seen []string
	for _, a := range strings.Split(actions, ",") {
		if a = strings.TrimSpace(a); a != "" && !slices.Contains(seen, a) {
			seen = append(seen, a)
		}
	}
	g.Actions = canonical(seen)
	for _, a := range seen {
		if !slices.Contains(g.Actions, a) {
			g.Actions = append(g.Actions, a) // CheckGrant names it
		}
	}
	if err := CheckGrant(g); err != nil {
		return store.Grant{}, err
	}
	return g, nil
}

// FormatGrants writes grants as ParseGrant reads them, separated by
// spaces: "team/*=pull,push *=pull".
func FormatGrants(grants []store.Grant) string {
	parts := make([]string, len(grants))
	for i, g := range grants {
		parts[i] = g.Pattern + "=" + strings.Join(g.Actions, ",")
	}
	return strings.Join(parts, " ")
}
