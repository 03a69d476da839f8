package gc_test

import (
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/store"
)

// TestDecide: the retention rules, one case per rule and per way they
// meet, on a small repository; times are days before now.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	ago := func(days float64) time.Time {
		if days < 0 {
			return time.Time{} // a legacy record: no time
		}
		return now.Add(-time.Duration(days * float64(gc.Day)))
	}
	dg := func(s string) digest.Digest { return digest.FromString(s) }
	tag := func(name, man string, days float64) gc.Tag {
		return gc.Tag{Name: name, Digest: dg(man), Pushed: ago(days)}
	}
	man := func(name string, days float64, blobs ...string) gc.Manifest {
		m := gc.Manifest{Digest: dg(name), Pushed: ago(days)}
		for _, b := range blobs {
			m.Blobs = append(m.Blobs, dg(b))
		}
		return m
	}
	withSubject := func(m gc.Manifest, subject string) gc.Manifest {
		m.Subject = dg(subject)
		return m
	}
	withChildren := func(m gc.Manifest, children ...string) gc.Manifest {
		for _, c := range children {
			m.Children = append(m.Children, dg(c))
			m.Blobs = append(m.Blobs, dg(c))
		}
		return m
	}
	link := func(blob string, days float64) gc.Link { return gc.Link{Digest: dg(blob), Linked: ago(days)} }

	// want lists names: tags by name, manifests and links by the string
	// their digest is made of.
	type want struct{ tags, manifests, links []string }
	cases := []struct {
		name   string
		policy store.Policy
		repo   gc.Repository
		want   want
	}{
		{
			name:   "no rules remove nothing",
			policy: store.Policy{Pattern: "*", ImmutableTags: true},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("v1", "m1", 100)},
				Manifests: []gc.Manifest{man("m1", 100, "a"), man("m2", 100, "b")},
				Links:     []gc.Link{link("a", 100), link("b", 100), link("c", 100)},
			},
		},
		{
			name:   "keep the last 2 tags, with the manifests only they keep",
			policy: store.Policy{Pattern: "*", KeepTags: 2},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("v1", "m1", 4), tag("v2", "m2", 3), tag("v3", "m3", 2), tag("v4", "m4", 1), tag("also-v1", "m1", 5)},
				Manifests: []gc.Manifest{man("m1", 5), man("m2", 3), man("m3", 2), man("m4", 1)},
			},
			want: want{tags: []string{"also-v1", "v1", "v2"}, manifests: []string{"m1", "m2"}},
		},
		{
			name:   "a manifest a kept tag names stays when a removed tag named it too",
			policy: store.Policy{Pattern: "*", KeepTags: 1},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("old", "m1", 9), tag("new", "m1", 1)},
				Manifests: []gc.Manifest{man("m1", 9)},
			},
			want: want{tags: []string{"old"}},
		},
		{
			name:   "tag pattern: tags it does not match are not touched nor counted",
			policy: store.Policy{Pattern: "*", KeepTags: 1, TagPattern: "dev-*"},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("dev-1", "m1", 3), tag("dev-2", "m2", 2), tag("v1", "m3", 30), tag("latest", "m4", 40)},
				Manifests: []gc.Manifest{man("m1", 3), man("m2", 2), man("m3", 30), man("m4", 40)},
			},
			want: want{tags: []string{"dev-1"}, manifests: []string{"m1"}},
		},
		{
			name:   "equal push times keep the greater name",
			policy: store.Policy{Pattern: "*", KeepTags: 1},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("a", "m1", 1), tag("b", "m2", 1)},
				Manifests: []gc.Manifest{man("m1", 1), man("m2", 1)},
			},
			want: want{tags: []string{"a"}, manifests: []string{"m1"}},
		},
		{
			name:   "untagged manifests expire after N days, tagged ones and young ones stay",
			policy: store.Policy{Pattern: "*", UntaggedDays: 7},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("v1", "m1", 30)},
				Manifests: []gc.Manifest{man("m1", 30), man("old", 7), man("young", 6.9)},
			},
			want: want{manifests: []string{"old"}},
		},
		{
			name:   "an index keeps its manifests; an expired index takes only the old ones",
			policy: store.Policy{Pattern: "*", UntaggedDays: 7},
			repo: gc.Repository{
				Tags: []gc.Tag{tag("multi", "index1", 30)},
				Manifests: []gc.Manifest{
					withChildren(man("index1", 30), "amd64", "arm64"), man("amd64", 30), man("arm64", 30),
					withChildren(man("index2", 10), "old-child", "young-child"), man("old-child", 10), man("young-child", 1),
				},
			},
			want: want{manifests: []string{"index2", "old-child"}},
		},
		{
			name:   "referrers: kept with their subject, removed with it whatever their age, expire alone when their subject is absent",
			policy: store.Policy{Pattern: "*", KeepTags: 1, UntaggedDays: 7},
			repo: gc.Repository{
				Tags: []gc.Tag{tag("v2", "m2", 1), tag("v1", "m1", 2)},
				Manifests: []gc.Manifest{
					man("m1", 2), man("m2", 1),
					withSubject(man("sig-m1", 0.5), "m1"),           // young, its subject goes: goes
					withSubject(man("sig-m2", 100), "m2"),           // old, its subject stays: stays
					withSubject(man("sbom-of-sig-m1", 0), "sig-m1"), // a referrer of a referrer
					withSubject(man("orphan-old", 8), "absent"),     // subject never pushed
					withSubject(man("orphan-young", 1), "absent"),
				},
			},
			want: want{tags: []string{"v1"}, manifests: []string{"m1", "orphan-old", "sbom-of-sig-m1", "sig-m1"}},
		},
		{
			name:   "unlink: links nothing left names, old enough",
			policy: store.Policy{Pattern: "*", UnlinkDays: 3},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("v1", "m1", 30)},
				Manifests: []gc.Manifest{man("m1", 30, "config", "layer"), withSubject(man("sig", 30, "sigblob"), "subject-blob")},
				Links: []gc.Link{
					link("config", 30), link("layer", 30), link("sigblob", 30), link("subject-blob", 30),
					link("stray-old", 3), link("stray-young", 2.9),
				},
			},
			want: want{links: []string{"stray-old"}},
		},
		{
			name:   "unlink: the blobs of the manifests removed in the same run",
			policy: store.Policy{Pattern: "*", KeepTags: 1, UnlinkDays: 1},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("v1", "m1", 10), tag("v2", "m2", 5)},
				Manifests: []gc.Manifest{man("m1", 10, "c", "shared", "only1"), man("m2", 5, "c", "shared", "only2")},
				Links:     []gc.Link{link("c", 10), link("shared", 10), link("only1", 10), link("only2", 5)},
			},
			want: want{tags: []string{"v1"}, manifests: []string{"m1"}, links: []string{"only1"}},
		},
		{
			name:   "legacy records without times count as pushed now",
			policy: store.Policy{Pattern: "*", KeepTags: 1, UntaggedDays: 1, UnlinkDays: 1},
			repo: gc.Repository{
				Tags:      []gc.Tag{tag("legacy", "m1", -1), tag("recent", "m2", 0.5)},
				Manifests: []gc.Manifest{man("m1", -1, "a"), man("m2", 0.5, "b"), man("untagged-legacy", -1), man("untagged-old", 2)},
				Links:     []gc.Link{link("a", -1), link("b", 1), link("stray-legacy", -1), link("stray-old", 2)},
			},
			want: want{tags: []string{"recent"}, manifests: []string{"m2", "untagged-old"}, links: []string{"b", "stray-old"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := gc.Decide(c.policy, c.repo, now)
			var got want
			for _, tg := range dec.Tags {
				got.tags = append(got.tags, tg.Name)
			}
			for _, m := range dec.Manifests {
				got.manifests = append(got.manifests, nameOf(m.Digest))
			}
			for _, l := range dec.Links {
				got.links = append(got.links, nameOf(l.Digest))
			}
			for _, l := range [][]string{got.tags, got.manifests, got.links, c.want.tags, c.want.manifests, c.want.links} {
				slices.Sort(l)
			}
			if !slices.Equal(got.tags, c.want.tags) || !slices.Equal(got.manifests, c.want.manifests) || !slices.Equal(got.links, c.want.links) {
				t.Errorf("removes tags %q, manifests %q, links %q; want tags %q, manifests %q, links %q",
					got.tags, got.manifests, got.links, c.want.tags, c.want.manifests, c.want.links)
			}
		})
	}
}

// nameOf returns the string whose digest d is, among the names the cases
// use.
func nameOf(d digest.Digest) string {
	for _, s := range testNames {
		if digest.FromString(s) == d {
			return s
		}
	}
	return d.String()
}

var testNames = []string{
	"m1", "m2", "m3", "m4", "old", "young", "index1", "index2", "amd64", "arm64", "old-child", "young-child",
	"sig-m1", "sig-m2", "sbom-of-sig-m1", "orphan-old", "orphan-young", "untagged-legacy", "untagged-old",
	"a", "b", "c", "config", "layer", "sigblob", "subject-blob", "stray-old", "stray-young", "stray-legacy",
	"shared", "only1", "only2",
}
