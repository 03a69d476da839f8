package registry_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/opencontainers/go-digest"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/registry"
	"github.com/pier-registry/pier/internal/store"
	"github.com/pier-registry/pier/internal/store/local/localtest"
)

func TestMatchPolicy(t *testing.T) {
	list := []store.Policy{{Pattern: "*"}, {Pattern: "team/*"}, {Pattern: "team/app/*"}, {Pattern: "team/open"}}
	for _, tt := range []struct{ repo, want string }{
		{"other", "*"},
		{"team", "*"},
		{"team/web", "team/*"},
		{"team/app/web", "team/app/*"},
		{"team/app", "team/*"},
		{"team/open", "team/open"},
	} {
		p, ok, _ := registry.MatchPolicy(list, tt.repo)
		if !ok || p.Pattern != tt.want {
			t.Errorf("%s: policy %q (%v), want %q", tt.repo, p.Pattern, ok, tt.want)
		}
	}
	if _, ok, _ := registry.MatchPolicy(list[1:], "other"); ok {
		t.Error("a policy for a repository no pattern matches")
	}
}

// TestImmutableTags: on a repository whose policy makes tags immutable, a
// tag that exists may be pushed again naming the same manifest but not
// another, and only the identities the policy names may delete it.
func TestImmutableTags(t *testing.T) {
	_, blobs, meta := localtest.Open(t)
	ctx := context.Background()
	for _, p := range []store.Policy{
		{Pattern: "team/*", ImmutableTags: true, TagDeleters: []string{"alice"}},
		{Pattern: "team/open"},
	} {
		if err := meta.PutPolicy(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	reg := registry.New(blobs, meta, registry.Options{AllowSparse: true})
	index := func(n int) []byte {
		return []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"n":"%d"}}`, n))
	}
	push := func(repo, tag string, n int) error {
		_, err := reg.PutManifest(ctx, repo, oci.Reference{Tag: tag}, "application/vnd.oci.image.index.v1+json", index(n), nil)
		return err
	}
	del := func(repo, tag, who string) error {
		return reg.DeleteManifest(registry.WithIdentity(ctx, who), repo, oci.Reference{Tag: tag})
	}
	for _, step := range []struct {
		what string
		do   func() error
		code oci.Code // "": succeeds
	}{
		{"push a new tag", func() error { return push("team/app", "v1", 1) }, ""},
		{"push the same manifest under it again", func() error { return push("team/app", "v1", 1) }, ""},
		{"move it to another manifest", func() error { return push("team/app", "v1", 2) }, oci.CodeDenied},
		{"push the other manifest under a new tag", func() error { return push("team/app", "v2", 2) }, ""},
		{"delete it anonymously", func() error { return del("team/app", "v1", "") }, oci.CodeDenied},
		{"delete it as an identity not named", func() error { return del("team/app", "v1", "bob") }, oci.CodeDenied},
		{"delete it as the named identity", func() error { return del("team/app", "v1", "alice") }, ""},
		{"push the deleted tag anew", func() error { return push("team/app", "v1", 2) }, ""},
		{"move a tag where a more specific policy allows it", func() error {
			if err := push("team/open", "v1", 1); err != nil {
				return err
			}
			return push("team/open", "v1", 2)
		}, ""},
		{"delete a tag there", func() error { return del("team/open", "v1", "") }, ""},
		{"move a tag where no policy applies", func() error {
			if err := push("other", "v1", 1); err != nil {
				return err
			}
			return push("other", "v1", 2)
		}, ""},
	} {
		err := step.do()
		if step.code == "" {
			if err != nil {
				t.Errorf("%s: %v", step.what, err)
			}
			continue
		}
		wantCode(t, step.what, err, step.code)
	}
	m, err := reg.StatManifest(ctx, "team/app", oci.Reference{Tag: "v2"})
	if err != nil || m.Annotations["n"] != "2" {
		t.Errorf("team/app:v2: %+v, %v", m.Annotations, err)
	}
	err = push("team/app", "v2", 3)
	if oe, ok := oci.AsError(err); !ok || oe.Status() != 403 || oe.Message != `tag v2 of team/app is immutable by the policy "team/*": it names `+m.Digest.String()+`: push the manifest under a new tag` {
		t.Errorf("error of a moved immutable tag: %v", err)
	}
}

// immutableRegistry returns a registry whose repositories under team/ have
// immutable tags that alice may delete, and a push of the n-th index under
// tag.
func immutableRegistry(t *testing.T) (*registry.Registry, func(repo, tag string, n int) (digest.Digest, error)) {
	_, blobs, meta := localtest.Open(t)
	if err := meta.PutPolicy(context.Background(), store.Policy{Pattern: "team/*", ImmutableTags: true, TagDeleters: []string{"alice"}}); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(blobs, meta, registry.Options{AllowSparse: true})
	push := func(repo, tag string, n int) (digest.Digest, error) {
		body := []byte(fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"n":"%d"}}`, n))
		ref := oci.Reference{Tag: tag}
		if tag == "" {
			ref = oci.Reference{Digest: digest.FromBytes(body)}
		}
		res, err := reg.PutManifest(context.Background(), repo, ref, "application/vnd.oci.image.index.v1+json", body, nil)
		return res.Digest, err
	}
	return reg, push
}

// TestImmutableManifestDelete: on a repository with immutable tags, a
// manifest a tag names may be deleted by digest only by a tag deleter (it
// takes its tags with it); an untagged one by anyone.
func TestImmutableManifestDelete(t *testing.T) {
	ctx := context.Background()
	reg, push := immutableRegistry(t)
	tagged, err := push("team/app", "v1", 1)
	if err != nil {
		t.Fatal(err)
	}
	untagged, err := push("team/app", "", 2)
	if err != nil {
		t.Fatal(err)
	}
	del := func(d digest.Digest, who string) error {
		return reg.DeleteManifest(registry.WithIdentity(ctx, who), "team/app", oci.Reference{Digest: d})
	}
	wantCode(t, "delete a tagged manifest anonymously", del(tagged, ""), oci.CodeDenied)
	wantCode(t, "delete a tagged manifest as bob", del(tagged, "bob"), oci.CodeDenied)
	if _, err := reg.StatManifest(ctx, "team/app", oci.Reference{Tag: "v1"}); err != nil {
		t.Fatalf("team/app:v1 after refused deletes: %v", err)
	}
	if err := del(untagged, "bob"); err != nil {
		t.Errorf("delete an untagged manifest: %v", err)
	}
	if err := del(tagged, "alice"); err != nil {
		t.Errorf("delete a tagged manifest as alice: %v", err)
	}
	if _, err := reg.StatManifest(ctx, "team/app", oci.Reference{Tag: "v1"}); err == nil {
		t.Error("team/app:v1 still there after alice deleted its manifest")
	}
}

// TestImmutableTagRace: pushes racing to create one immutable tag naming
// different manifests: exactly one wins, the others get DENIED, and the
// tag names the winner's manifest.
func TestImmutableTagRace(t *testing.T) {
	ctx := context.Background()
	reg, push := immutableRegistry(t)
	const pushers = 8
	for round := range 5 {
		tag := fmt.Sprintf("v%d", round)
		digests := make([]digest.Digest, pushers)
		errs := make([]error, pushers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range pushers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				digests[i], errs[i] = push("team/app", tag, round*pushers+i)
			}()
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				if winner >= 0 {
					t.Fatalf("round %d: pushes %d and %d both won", round, winner, i)
				}
				winner = i
				continue
			}
			wantCode(t, fmt.Sprintf("round %d push %d", round, i), err, oci.CodeDenied)
		}
		if winner < 0 {
			t.Fatalf("round %d: no push won", round)
		}
		m, err := reg.StatManifest(ctx, "team/app", oci.Reference{Tag: tag})
		if err != nil || m.Digest != digests[winner] {
			t.Fatalf("round %d: %s names %s, %v; want the winner's %s", round, tag, m.Digest, err, digests[winner])
		}
	}
}
