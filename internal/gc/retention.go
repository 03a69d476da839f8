package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
)

// readPolicies returns the policies that have retention rules (one
// Query on the aws backend; none when the store keeps no policies).
func (c *Collector) readPolicies(ctx context.Context) ([]store.Policy, error) {
	if c.policies == nil {
		return nil, nil
	}
	list, err := c.policies.Policies(ctx)
	if err != nil {
		return nil, fmt.Errorf("gc: read policies: %w", err)
	}
	return list, nil
}

// retain applies the retention rules of the policies (store.Policy) to
// the repositories the scan saw: Decide says what goes, and each removal
// is a conditional write that a racing push wins (the tag still names the
// manifest the scan saw, the manifest is still untagged, the link was not
// written again). What went is dropped from the scan, and the blobs it
// named are then unreferenced for the rest of the pass: marked, and
// deleted once they settle. A dry run removes nothing but reports, and
// counts the blobs, as if it had.
func (c *Collector) retain(ctx context.Context, s *scan, list []store.Policy, now time.Time, rep *Report) error {
	if len(list) == 0 {
		return nil
	}
	changed := false
	for _, name := range slices.Sorted(maps.Keys(s.repos)) {
		pol, ok, _ := registry.MatchPolicy(list, name)
		if !ok || !pol.HasRetention() {
			continue
		}
		r := s.repos[name]
		dec := Decide(pol, *r, now)
		if dec.Empty() {
			continue
		}
		if err := c.apply(ctx, r, dec, rep); err != nil {
			return err
		}
		changed = true
	}
	if changed {
		s.refs = s.referenced()
	}
	return nil
}

// apply makes the removals of dec in r, and drops from r what went.
func (c *Collector) apply(ctx context.Context, r *Repository, dec Decision, rep *Report) error {
	raced := false
	// removed makes a conditional removal (none in a dry run) and sorts
	// its result: gone (removed now, or by someone else), or kept because
	// a write racing it won.
	removed := func(what string, remove func() error) (gone bool, _ error) {
		if c.opts.DryRun {
			return true, nil
		}
		switch err := remove(); {
		case err == nil, errors.Is(err, store.ErrNotFound):
			return true, nil
		case errors.Is(err, store.ErrConflict):
			rep.Raced++
			raced = true
			c.opts.Log.LogAttrs(ctx, slog.LevelInfo, "gc retention: kept, a write raced the removal", slog.String("what", what), slog.String("error", err.Error()))
			return false, nil
		default:
			return false, fmt.Errorf("gc: retention in %s: %w", r.Name, err)
		}
	}

	goneTags := map[string]bool{}
	for _, t := range dec.Tags {
		name := r.Name + ":" + t.Name
		gone, err := removed("tag "+name, func() error { return c.retention.DeleteTagIf(ctx, r.Name, t.Name, t.Digest) })
		if err != nil {
			return err
		}
		if gone {
			goneTags[t.Name] = true
			rep.RemovedTags = append(rep.RemovedTags, Item{Name: name})
		}
	}

	goneManifests := map[digest.Digest]bool{}
	for _, m := range dec.Manifests {
		name := r.Name + "@" + m.Digest.String()
		gone, err := removed("manifest "+name, func() error { return c.retention.DeleteUntaggedManifest(ctx, r.Name, m.Digest) })
		if err != nil {
			return err
		}
		if gone {
			goneManifests[m.Digest] = true
			rep.RemovedManifests = append(rep.RemovedManifests, Item{Name: name, Size: m.Size})
		}
	}

	// A removal that lost a race leaves records the decision did not
	// count on (a tag pushed again names a manifest the scan did not
	// see): the links wait for the next run.
	goneLinks := map[digest.Digest]bool{}
	if !raced {
		for _, l := range dec.Links {
			name := r.Name + "@" + l.Digest.String()
			gone, err := removed("link "+name, func() error { return c.retention.UnlinkBlobIf(ctx, r.Name, l.Digest, l.Linked) })
			if err != nil {
				return err
			}
			if gone {
				goneLinks[l.Digest] = true
				rep.RemovedLinks = append(rep.RemovedLinks, Item{Name: name, Size: l.Size})
			}
		}
	}

	r.Tags = slices.DeleteFunc(r.Tags, func(t Tag) bool { return goneTags[t.Name] })
	r.Manifests = slices.DeleteFunc(r.Manifests, func(m Manifest) bool { return goneManifests[m.Digest] })
	r.Links = slices.DeleteFunc(r.Links, func(l Link) bool { return goneLinks[l.Digest] })
	return nil
}

// referenced returns the blobs that the links, manifests and site indexes
// of s name.
func (s *scan) referenced() map[digest.Digest]bool {
	refs := map[digest.Digest]bool{}
	for _, d := range s.sites {
		refs[d] = true
	}
	for _, r := range s.repos {
		for _, l := range r.Links {
			refs[l.Digest] = true
		}
		for _, m := range r.Manifests {
			for _, d := range m.named() {
				refs[d] = true
			}
		}
	}
	return refs
}
