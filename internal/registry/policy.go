package registry

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/auth"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// policyTTL is how long the registry uses the policies it read before it
// reads them again: a policy set with `pier policy` applies within this
// long.
const policyTTL = time.Minute

// policies is the registry's copy of the store's policies.
type policies struct {
	src store.Policies
	now func() time.Time

	mu     sync.Mutex
	list   []store.Policy
	loaded time.Time
}

// get returns the policies, read (one Query on the aws backend) at the
// first need and again when older than policyTTL: a cold start reads
// nothing.
func (p *policies) get(ctx context.Context) ([]store.Policy, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.loaded.IsZero() && p.now().Sub(p.loaded) < policyTTL {
		return p.list, nil
	}
	list, err := p.src.Policies(ctx)
	if err != nil {
		return nil, fmt.Errorf("read policies: %w", err)
	}
	p.list, p.loaded = list, p.now()
	return list, nil
}

// policy returns the policy of repo: that of the most specific pattern
// that matches (the name itself, then the longest prefix, then "*").
func (r *Registry) policy(ctx context.Context, repo string) (store.Policy, bool, error) {
	if r.policies == nil {
		return store.Policy{}, false, nil
	}
	list, err := r.policies.get(ctx)
	if err != nil {
		return store.Policy{}, false, err
	}
	return MatchPolicy(list, repo)
}

// MatchPolicy returns the policy of list that applies to repo: that of the
// most specific pattern that matches (the name itself, then the longest
// prefix, then "*").
func MatchPolicy(list []store.Policy, repo string) (store.Policy, bool, error) {
	best, found := store.Policy{}, false
	for _, p := range list {
		if auth.Match(p.Pattern, repo) && (!found || specificity(p.Pattern) > specificity(best.Pattern)) {
			best, found = p, true
		}
	}
	return best, found, nil
}

// specificity orders patterns: "*" below every prefix, a longer prefix
// above a shorter, a name above every prefix.
func specificity(pattern string) int {
	switch {
	case pattern == "*":
		return 0
	case strings.HasSuffix(pattern, "/*"):
		return len(pattern)
	default:
		return 1 << 20
	}
}

// checkTagsPush refuses a push of manifest d that would move an immutable
// tag of repo (one GetItem per tag, on repositories with immutable tags).
func (r *Registry) checkTagsPush(ctx context.Context, repo string, d digest.Digest, tags []string) error {
	pol, ok, err := r.policy(ctx, repo)
	if err != nil || !ok || !pol.ImmutableTags {
		return err
	}
	for _, t := range tags {
		m, err := r.meta.Tag(ctx, repo, t)
		if err != nil || m.Digest == d {
			continue // a new tag, or the same manifest again
		}
		return immutable(pol, repo, t, fmt.Sprintf("it names %s: push the manifest under a new tag", m.Digest))
	}
	return nil
}

// checkTagDelete refuses the delete of an immutable tag by an identity
// that the policy does not name.
func (r *Registry) checkTagDelete(ctx context.Context, repo, tag string) error {
	pol, ok, err := r.policy(ctx, repo)
	if err != nil || !ok || !pol.ImmutableTags {
		return err
	}
	if who := identityOf(ctx); who != "" && slices.Contains(pol.TagDeleters, who) {
		return nil
	}
	return immutable(pol, repo, tag, "only "+deleters(pol)+" may delete it")
}

func deleters(pol store.Policy) string {
	if len(pol.TagDeleters) == 0 {
		return "no one (the policy names no tag deleter)"
	}
	return strings.Join(pol.TagDeleters, ", ")
}

// immutable is the error of a change to an immutable tag: DENIED (403),
// the code the distribution spec has for an operation the registry does
// not allow on a resource.
func immutable(pol store.Policy, repo, tag, why string) error {
	return oci.Errorf(oci.CodeDenied, "tag %s of %s is immutable by the policy %q: %s", tag, repo, pol.Pattern, why).
		WithDetail(map[string]any{"tag": tag, "policy": pol.Pattern})
}

type identityKey struct{}

// WithIdentity returns ctx for the requests of the identity name ("":
// anonymous), whose rights the policies may state.
func WithIdentity(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, identityKey{}, name)
}

func identityOf(ctx context.Context) string {
	name, _ := ctx.Value(identityKey{}).(string)
	return name
}
