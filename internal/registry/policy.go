package registry

import (
	"context"
	"errors"
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
// tag of repo (one GetItem per tag, on repositories with immutable tags),
// and returns the policy that makes its tags immutable (nil: none), for
// putManifest to check again in the write itself.
func (r *Registry) checkTagsPush(ctx context.Context, repo string, d digest.Digest, tags []string) (*store.Policy, error) {
	pol, ok, err := r.policy(ctx, repo)
	if err != nil || !ok || !pol.ImmutableTags || len(tags) == 0 {
		return nil, err
	}
	for _, t := range tags {
		m, err := r.meta.Tag(ctx, repo, t)
		if err != nil || m.Digest == d {
			continue // a new tag, or the same manifest again
		}
		return nil, movedTag(pol, repo, t, m.Digest)
	}
	return &pol, nil
}

func movedTag(pol store.Policy, repo, tag string, d digest.Digest) error {
	return immutable(pol, repo, tag, fmt.Sprintf("it names %s: push the manifest under a new tag", d))
}

// putManifest records manifest m in repo with tags. With fixed (a policy
// making them immutable), a tag that names another manifest by the time
// of the write (a push racing this one) refuses it, in the store's write
// itself: of two pushes racing to create one immutable tag, one wins and
// the other gets DENIED.
func (r *Registry) putManifest(ctx context.Context, repo string, m store.Manifest, tags []string, fixed *store.Policy) error {
	if fixed == nil || r.retention == nil {
		return r.meta.PutManifest(ctx, repo, m, tags)
	}
	put := func() error { return r.retention.PutManifestFixedTags(ctx, repo, m, tags) }
	var err error
	if ga, ok := r.meta.(gcAware); ok {
		err = ga.reviving(ctx, m, put)
	} else {
		err = put()
	}
	if errors.Is(err, store.ErrTagMoved) {
		for _, t := range tags {
			if cur, terr := r.meta.Tag(ctx, repo, t); terr == nil && cur.Digest != m.Digest {
				return movedTag(*fixed, repo, t, cur.Digest)
			}
		}
		return immutable(*fixed, repo, tags[0], "another push named another manifest with it meanwhile")
	}
	return err
}

// deleteManifest deletes manifest d of repo with the tags that name it;
// on a repository whose tags are immutable, only when no tag names it,
// unless the identity may delete tags (the check is in the store's write:
// a tag pushed meanwhile refuses the delete).
func (r *Registry) deleteManifest(ctx context.Context, repo string, d digest.Digest) error {
	pol, ok, err := r.policy(ctx, repo)
	if err != nil {
		return err
	}
	if !ok || !pol.ImmutableTags || r.retention == nil || mayDeleteTags(ctx, pol) {
		return r.meta.DeleteManifest(ctx, repo, d)
	}
	err = r.retention.DeleteUntaggedManifest(ctx, repo, d)
	if errors.Is(err, store.ErrConflict) {
		return oci.Errorf(oci.CodeDenied, "manifest %s of %s is named by a tag, and tags are immutable by the policy %q: only %s may delete it",
			d, repo, pol.Pattern, deleters(pol)).WithDetail(map[string]any{"digest": d, "policy": pol.Pattern})
	}
	return err
}

func mayDeleteTags(ctx context.Context, pol store.Policy) bool {
	who := identityOf(ctx)
	return who != "" && slices.Contains(pol.TagDeleters, who)
}

// checkTagDelete refuses the delete of an immutable tag by an identity
// that the policy does not name.
func (r *Registry) checkTagDelete(ctx context.Context, repo, tag string) error {
	pol, ok, err := r.policy(ctx, repo)
	if err != nil || !ok || !pol.ImmutableTags {
		return err
	}
	if mayDeleteTags(ctx, pol) {
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
