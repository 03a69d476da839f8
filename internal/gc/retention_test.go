package gc_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/gc"
	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
)

// TestRetentionRules: with a policy keeping the last 2 tags, expiring
// untagged manifests and stray links after a day, a dry run two days
// later says what the rules and the collection would remove and frees
// nothing; the run removes exactly that and frees exactly the bytes only
// the removed images had; a repository without rules sharing a layer
// keeps it; a second run removes and frees nothing.
func TestRetentionRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		reg := registry.New(b.blobs, b.meta, registry.Options{})
		base := []byte("a base layer every image has")
		var imgs []image
		for i, tag := range []string{"v1", "v2", "v3", "v4"} {
			im, err := pushImage(ctx, reg, "app", tag, []byte(`{"config":"`+tag+`"}`), []byte("layer of "+tag), base)
			if err != nil {
				t.Fatal(err)
			}
			imgs = append(imgs, im)
			if i < 3 {
				time.Sleep(5 * time.Millisecond) // push times apart
			}
		}
		other, err := pushImage(ctx, reg, "other", "v1", []byte(`{"config":"other"}`), base)
		if err != nil {
			t.Fatal(err)
		}
		stray := []byte("a blob app links that no manifest names")
		if err := reg.PutBlob(ctx, "app", digest.FromBytes(stray), bytes.NewReader(stray)); err != nil {
			t.Fatal(err)
		}
		ps := b.meta.(store.Policies)
		if err := ps.PutPolicy(ctx, store.Policy{Pattern: "app", KeepTags: 2, UntaggedDays: 1, UnlinkDays: 1}); err != nil {
			t.Fatal(err)
		}

		// What goes: v1 and v2, their manifests, the links only they
		// had, and the stray link; with them, their bytes.
		wantTags := []string{"app:v1", "app:v2"}
		var wantManifests, wantLinks, wantDeleted []string
		var freed int64
		for _, im := range imgs[:2] {
			wantManifests = append(wantManifests, "app@"+im.digest.String())
			wantDeleted = append(wantDeleted, im.digest.String())
			freed += int64(len(im.body))
			for _, blob := range im.blobs[:2] {
				wantLinks = append(wantLinks, "app@"+digest.FromBytes(blob).String())
				wantDeleted = append(wantDeleted, digest.FromBytes(blob).String())
				freed += int64(len(blob))
			}
		}
		wantLinks = append(wantLinks, "app@"+digest.FromBytes(stray).String())
		wantDeleted = append(wantDeleted, digest.FromBytes(stray).String())
		freed += int64(len(stray))
		for _, l := range [][]string{wantManifests, wantLinks, wantDeleted} {
			slices.Sort(l)
		}
		later := func() time.Time { return time.Now().Add(2 * gc.Day) }
		check := func(what string, rep gc.Report) {
			t.Helper()
			if !slices.Equal(names(rep.RemovedTags), wantTags) || !slices.Equal(names(rep.RemovedManifests), wantManifests) ||
				!slices.Equal(names(rep.RemovedLinks), wantLinks) {
				t.Fatalf("%s: removed tags %v, manifests %v, links %v; want %v, %v, %v", what,
					names(rep.RemovedTags), names(rep.RemovedManifests), names(rep.RemovedLinks), wantTags, wantManifests, wantLinks)
			}
			if !slices.Equal(names(rep.Deleted), wantDeleted) || rep.Freed != freed {
				t.Fatalf("%s: deleted %v (%d bytes), want %v (%d bytes)", what, names(rep.Deleted), rep.Freed, wantDeleted, freed)
			}
		}

		// Within a day, the rules keep everything (but the 2 tags).
		soon := testOptions()
		soon.DryRun = true
		rep, err := gc.New(b.blobs, b.meta, soon).Run(ctx)
		if err != nil || len(rep.RemovedLinks) != 0 || !slices.Equal(names(rep.RemovedTags), wantTags) {
			t.Fatalf("a dry run now: removed tags %v, links %v, %v; want the tags alone", names(rep.RemovedTags), names(rep.RemovedLinks), err)
		}

		dry := testOptions()
		dry.DryRun, dry.Now = true, later
		rep, err = gc.New(b.blobs, b.meta, dry).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check("dry run", rep)
		wantWhole(t, reg, b.blobs, imgs[0])

		opts := testOptions()
		opts.Now = later
		rep, err = gc.New(b.blobs, b.meta, opts).Run(ctx)
		if err != nil {
			t.Fatal(err)
		}
		check("run", rep)
		for _, im := range imgs[2:] {
			wantWhole(t, reg, b.blobs, im)
		}
		wantWhole(t, reg, b.blobs, other)
		for _, im := range imgs[:2] {
			if _, _, err := reg.Manifest(ctx, "app", oci.Reference{Tag: im.tag}); err == nil {
				t.Fatalf("app:%s pulls after its removal", im.tag)
			}
			for _, blob := range im.blobs[:2] {
				wantGone(t, b.blobs, digest.FromBytes(blob))
			}
		}
		wantGone(t, b.blobs, digest.FromBytes(stray))

		rep, err = gc.New(b.blobs, b.meta, opts).Run(ctx)
		if err != nil || len(rep.RemovedTags)+len(rep.RemovedManifests)+len(rep.RemovedLinks)+len(rep.Deleted) != 0 || rep.Freed != 0 {
			t.Fatalf("second run: removed %v %v %v, deleted %v (%d bytes), %v; want nothing",
				rep.RemovedTags, rep.RemovedManifests, rep.RemovedLinks, rep.Deleted, rep.Freed, err)
		}
	})
}
