package auth

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Policy is the part of the access rules that is not per identity.
// Each identity's own rights are its store.Grant list.
type Policy struct {
	// Public are the repository-name patterns anyone may pull, without
	// credentials. See [Match] for the patterns.
	Public []string
}

// Match reports whether the repository name matches pattern. A pattern is
//
//   - "*": every repository;
//   - a prefix ending in "/*", "team/*": every repository under "team/",
//     at any depth ("team/app", "team/app/web"), but not "team" itself;
//   - anything else: exactly that name.
//
// Matching is byte for byte (repository names are lower-case). An empty
// pattern, or one with '*' anywhere else ("te*", "a/*/b"), is not valid
// ([CheckPattern]) and matches nothing.
func Match(pattern, name string) bool {
	switch {
	case pattern == "*":
		return true
	case strings.HasSuffix(pattern, "/*"):
		prefix := pattern[:len(pattern)-1] // "team/"
		return !strings.Contains(prefix, "*") && len(name) > len(prefix) && strings.HasPrefix(name, prefix)
	default:
		return pattern != "" && !strings.Contains(pattern, "*") && pattern == name
	}
}

// CheckPattern returns an error when pattern is not a pattern [Match]
// knows: "*", a repository name, or a repository name followed by "/*".
func CheckPattern(pattern string) error {
	if pattern == "*" {
		return nil
	}
	name := strings.TrimSuffix(pattern, "/*")
	if !oci.ValidName(name) {
		return fmt.Errorf("bad repository pattern %q: want a repository name, NAME/*, or *", pattern)
	}
	return nil
}

// CheckGrant returns an error when g has a bad pattern, no actions, or an
// action that is not pull, push or delete.
func CheckGrant(g store.Grant) error {
	if err := CheckPattern(g.Pattern); err != nil {
		return err
	}
	if len(g.Actions) == 0 {
		return fmt.Errorf("grant on %q has no actions", g.Pattern)
	}
	for _, a := range g.Actions {
		if !validAction(a) {
			return fmt.Errorf("grant on %q: unknown action %q: want pull, push or delete", g.Pattern, a)
		}
	}
	return nil
}

// validAction reports whether a is pull, push or delete.
func validAction(a string) bool {
	return a == Pull || a == Push || a == Delete
}

// Allowed reports whether the identity id may do action (pull, push or
// delete) on the repository repo. A nil id is an anonymous caller.
//
// Anyone, anonymous or not, may pull a repository that matches one of
// pol.Public. Otherwise an identity may do what one of its grants allows:
// a grant whose pattern matches repo and whose actions hold action.
// Actions do not imply one another: an identity that pushes needs pull
// too, as clients check what is there before they upload. An anonymous
// caller may do nothing else. Any other action is never allowed.
//
// Allowed does not look at a robot token's expiry: [Verifier] refuses
// expired identities before they get here.
func Allowed(id *store.Identity, pol Policy, repo, action string) bool {
	if !validAction(action) {
		return false
	}
	if action == Pull && slices.ContainsFunc(pol.Public, func(p string) bool { return Match(p, repo) }) {
		return true
	}
	if id == nil {
		return false
	}
	for _, g := range id.Grants {
		if Match(g.Pattern, repo) && slices.Contains(g.Actions, action) {
			return true
		}
	}
	return false
}

// expired reports whether id is a robot token past its expiry at now.
func expired(id *store.Identity, now time.Time) bool {
	return !id.Expires.IsZero() && !now.Before(id.Expires)
}
