package gc

import (
	"cmp"
	"path"
	"slices"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/store"
)

// Day is the unit of the retention rules' ages.
const Day = 24 * time.Hour

// Tag is a tag of a repository as the retention rules see it.
type Tag struct {
	Name   string
	Digest digest.Digest // the manifest it names
	// Pushed is when it was last pushed; zero when the store has no time
	// for it (a record older than push times), which counts as now.
	Pushed time.Time
}

// Manifest is a manifest of a repository as the retention rules see it.
type Manifest struct {
	Digest digest.Digest
	Size   int64
	// Pushed is when it was last pushed; zero counts as now.
	Pushed time.Time
	// Subject is the manifest it refers to, or "".
	Subject digest.Digest
	// Children are the manifests it names (an index's entries).
	Children []digest.Digest
	// Blobs are the blobs it names (config, layers, ...).
	Blobs []digest.Digest
}

// Link is a blob link of a repository as the retention rules see it.
type Link struct {
	Digest digest.Digest
	Size   int64
	// Linked is when it was last written; zero counts as now.
	Linked time.Time
}

// Repository is what the retention rules decide on: a repository's tags,
// manifests and links, as one scan saw them.
type Repository struct {
	Name      string
	Tags      []Tag
	Manifests []Manifest
	Links     []Link
}

// Decision is what the retention rules remove from a repository.
type Decision struct {
	Tags      []Tag
	Manifests []Manifest
	Links     []Link
}

// Empty reports whether d removes nothing.
func (d Decision) Empty() bool {
	return len(d.Tags) == 0 && len(d.Manifests) == 0 && len(d.Links) == 0
}

// Decide applies the retention rules of p to repo at time now:
//
//   - KeepTags: of the tags TagPattern matches (every tag when it is ""),
//     the KeepTags most recently pushed are kept, the others removed (a
//     tag without a push time counts as pushed now; equal times keep the
//     greater name). Tags TagPattern does not match are kept.
//   - A manifest is kept when a kept tag reaches it: the manifest the tag
//     names, the manifests an index it keeps names, and the referrers of
//     a manifest it keeps (whose subject it is).
//   - A manifest no kept tag reaches is removed when a removed tag
//     reached it (the rule removes images, not only names), when it was
//     pushed UntaggedDays or more ago, or when it is a referrer of a
//     removed manifest (referrers go with their subject, whatever their
//     age); the manifests a removed index names go with it only when they
//     are old enough themselves or a removed tag reached them.
//   - UnlinkDays: a link that no manifest left names, written UnlinkDays
//     or more ago, is removed.
//
// A time that is zero counts as now: records older than push times are
// never old enough. Decide is pure: it reads nothing and changes nothing.
func Decide(p store.Policy, repo Repository, now time.Time) Decision {
	var dec Decision
	if !p.HasRetention() {
		return dec
	}
	at := func(t time.Time) time.Time {
		if t.IsZero() {
			return now
		}
		return t
	}
	old := func(t time.Time, days int) bool {
		return days > 0 && now.Sub(at(t)) >= time.Duration(days)*Day
	}

	// The tags.
	var kept []Tag
	if p.KeepTags > 0 {
		var counted []Tag
		for _, t := range repo.Tags {
			if p.TagPattern == "" || matchTag(p.TagPattern, t.Name) {
				counted = append(counted, t)
			} else {
				kept = append(kept, t)
			}
		}
		slices.SortFunc(counted, func(a, b Tag) int {
			if c := at(b.Pushed).Compare(at(a.Pushed)); c != 0 {
				return c
			}
			return cmp.Compare(b.Name, a.Name)
		})
		n := min(p.KeepTags, len(counted))
		kept = append(kept, counted[:n]...)
		dec.Tags = counted[n:]
		slices.SortFunc(dec.Tags, func(a, b Tag) int { return cmp.Compare(a.Name, b.Name) })
	} else {
		kept = repo.Tags
	}

	// The manifests kept, and those the removed tags reached.
	byDigest := make(map[digest.Digest]*Manifest, len(repo.Manifests))
	referrers := map[digest.Digest][]digest.Digest{}
	for i := range repo.Manifests {
		m := &repo.Manifests[i]
		byDigest[m.Digest] = m
		if m.Subject != "" {
			referrers[m.Subject] = append(referrers[m.Subject], m.Digest)
		}
	}
	reach := func(roots []digest.Digest, skip map[digest.Digest]bool) map[digest.Digest]bool {
		seen := map[digest.Digest]bool{}
		for len(roots) > 0 {
			d := roots[len(roots)-1]
			roots = roots[:len(roots)-1]
			m, ok := byDigest[d]
			if !ok || seen[d] || skip[d] {
				continue
			}
			seen[d] = true
			roots = append(roots, m.Children...)
			roots = append(roots, referrers[d]...)
		}
		return seen
	}
	keep := reach(tagDigests(kept), nil)
	removed := reach(tagDigests(dec.Tags), keep)

	// Untagged manifests old enough, and the referrers of what goes.
	for _, m := range repo.Manifests {
		if !keep[m.Digest] && old(m.Pushed, p.UntaggedDays) {
			removed[m.Digest] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for _, m := range repo.Manifests {
			if m.Subject != "" && removed[m.Subject] && !removed[m.Digest] && !keep[m.Digest] {
				removed[m.Digest], changed = true, true
			}
		}
	}
	named := map[digest.Digest]bool{}
	for _, m := range repo.Manifests {
		if removed[m.Digest] {
			dec.Manifests = append(dec.Manifests, m)
			continue
		}
		for _, d := range m.named() {
			named[d] = true
		}
	}
	slices.SortFunc(dec.Manifests, func(a, b Manifest) int { return cmp.Compare(a.Digest, b.Digest) })

	// The links.
	for _, l := range repo.Links {
		if !named[l.Digest] && old(l.Linked, p.UnlinkDays) {
			dec.Links = append(dec.Links, l)
		}
	}
	slices.SortFunc(dec.Links, func(a, b Link) int { return cmp.Compare(a.Digest, b.Digest) })
	return dec
}

// named returns what m keeps: itself, its subject and what it names.
func (m Manifest) named() []digest.Digest {
	ds := append([]digest.Digest{m.Digest}, m.Blobs...)
	if m.Subject != "" {
		ds = append(ds, m.Subject)
	}
	return ds
}

// matchTag reports whether tag matches pattern (path.Match; a malformed
// pattern matches nothing, and `pier policy set` refuses one).
func matchTag(pattern, tag string) bool {
	ok, err := path.Match(pattern, tag)
	return err == nil && ok
}

// CheckTagPattern returns an error when pattern is not a valid tag pattern.
func CheckTagPattern(pattern string) error {
	_, err := path.Match(pattern, "")
	return err
}

func tagDigests(tags []Tag) []digest.Digest {
	ds := make([]digest.Digest, len(tags))
	for i, t := range tags {
		ds[i] = t.Digest
	}
	return ds
}
