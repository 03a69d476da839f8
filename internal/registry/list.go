package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// Page is one page of a listing. Next is the cursor of the page after
// (the client's last= or the referrers cursor), or "" on the last page.
type Page[T any] struct {
	Items []T
	Next  string
}

// Tags lists repo's tags in byte order: up to n (0: a default page) after
// last.
func (r *Registry) Tags(ctx context.Context, repo, last string, n int) (Page[string], error) {
	if err := checkName(repo); err != nil {
		return Page[string]{}, err
	}
	n = r.limit(n)
	tags, err := r.meta.Tags(ctx, repo, last, n+1)
	if err != nil {
		return Page[string]{}, notFound(err, oci.CodeNameUnknown, "repository %s not found", repo)
	}
	return pageOf(tags, n, func(s string) string { return s }), nil
}

// maxCatalogReads bounds the store reads of one catalog page that skips
// repositories the caller may not see.
const maxCatalogReads = 10

// Catalog lists the repositories that visible reports true for (nil: all)
// in byte order: up to n (0: a default page) after last.
//
// The cursor of the next page is the last name of this one, so it never
// names a repository the caller may not see: hidden names are read past
// until the page is full, in up to maxCatalogReads store reads of a full
// page each. A caller who may see none of that many names in a row gets
// the names seen so far and no next page.
func (r *Registry) Catalog(ctx context.Context, last string, n int, visible func(repo string) bool) (Page[string], error) {
	n = r.limit(n)
	items := []string{}
	cursor := last
	for read := range maxCatalogReads {
		want := n - len(items)
		if read > 0 {
			want = r.opts.PageSize
		}
		repos, err := r.meta.Repositories(ctx, cursor, want+1)
		if err != nil {
			return Page[string]{}, fmt.Errorf("list repositories: %w", err)
		}
		for _, repo := range repos {
			if len(items) == n {
				return Page[string]{Items: items, Next: items[n-1]}, nil
			}
			cursor = repo
			if visible == nil || visible(repo) {
				items = append(items, repo)
			}
		}
		if len(repos) <= want {
			return Page[string]{Items: items}, nil
		}
	}
	if len(items) == 0 {
		return Page[string]{Items: items}, nil
	}
	return Page[string]{Items: items, Next: items[len(items)-1]}, nil
}

// Referrers lists the descriptors of the manifests of repo whose subject is
// d, those of artifactType only when it is not "", a page after the cursor
// after.
func (r *Registry) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, after string) (Page[v1.Descriptor], error) {
	if err := checkName(repo); err != nil {
		return Page[v1.Descriptor]{}, err
	}
	n := r.opts.PageSize
	ms, err := r.meta.Referrers(ctx, repo, d, artifactType, after, n+1)
	if err != nil {
		return Page[v1.Descriptor]{}, fmt.Errorf("list referrers of %s: %w", d, err)
	}
	p := pageOf(ms, n, func(m store.Manifest) string { return store.ReferrerKey(m.ArtifactType, m.Digest) })
	out := Page[v1.Descriptor]{Items: make([]v1.Descriptor, len(p.Items)), Next: p.Next}
	for i, m := range p.Items {
		if m.AnnotationsInBody {
			if m.Annotations, err = r.bodyAnnotations(ctx, m); err != nil {
				return Page[v1.Descriptor]{}, err
			}
		}
		out.Items[i] = v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
	}
	return out, nil
}

// bodyAnnotations reads the annotations of manifest m from its body, for
// a metadata store that did not keep them (store.Manifest.AnnotationsInBody).
func (r *Registry) bodyAnnotations(ctx context.Context, m store.Manifest) (map[string]string, error) {
	f, err := r.blobs.Open(ctx, m.Digest)
	if err != nil {
		return nil, fmt.Errorf("read annotations of %s: %w", m.Digest, err)
	}
	defer f.Close()
	var doc struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.NewDecoder(io.LimitReader(f, m.Size)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("read annotations of %s: %w", m.Digest, err)
	}
	return doc.Annotations, nil
}

// pageOf cuts items, read with a limit of n+1, to a page of n.
func pageOf[T any](items []T, n int, key func(T) string) Page[T] {
	if len(items) <= n {
		return Page[T]{Items: items}
	}
	items = items[:n]
	return Page[T]{Items: items, Next: key(items[n-1])}
}
