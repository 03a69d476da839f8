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

// MaxReferrersPage is the most bytes of descriptors a referrers page
// holds, but for a page of one: a larger listing comes in pages linked by
// their cursors. It bounds the memory of a listing and the manifest
// bodies it reads for annotations a store did not keep.
const MaxReferrersPage = 1 << 20

// referrersBatch is the most referrers read from the store at once.
const referrersBatch = 100

// Referrers lists the descriptors of the manifests of repo whose subject is
// d, those of artifactType only when it is not "", a page after the cursor
// after: up to PageSize descriptors, and MaxReferrersPage bytes of them.
func (r *Registry) Referrers(ctx context.Context, repo string, d digest.Digest, artifactType, after string) (Page[v1.Descriptor], error) {
	if err := checkName(repo); err != nil {
		return Page[v1.Descriptor]{}, err
	}
	n := r.opts.PageSize
	page := Page[v1.Descriptor]{Items: []v1.Descriptor{}}
	size := 0 // bytes of the descriptors of page
	cursor := after
	for {
		batch := min(n-len(page.Items), referrersBatch) + 1
		ms, err := r.meta.Referrers(ctx, repo, d, artifactType, cursor, batch)
		if err != nil {
			return Page[v1.Descriptor]{}, fmt.Errorf("list referrers of %s: %w", d, err)
		}
		for _, m := range ms {
			more := len(page.Items) > 0
			// A body read for annotations is at most m.Size bytes: the
			// page stops before one it has no room for.
			if more && (len(page.Items) == n || m.AnnotationsInBody && size+int(m.Size) > MaxReferrersPage) {
				page.Next = cursor
				return page, nil
			}
			if m.AnnotationsInBody {
				if m.Annotations, err = r.bodyAnnotations(ctx, m); err != nil {
					return Page[v1.Descriptor]{}, err
				}
			}
			desc := v1.Descriptor{MediaType: m.MediaType, Digest: m.Digest, Size: m.Size, ArtifactType: m.ArtifactType, Annotations: m.Annotations}
			b, err := json.Marshal(desc)
			if err != nil {
				return Page[v1.Descriptor]{}, fmt.Errorf("list referrers of %s: %w", d, err)
			}
			if s := len(b) + 1; !more || size+s <= MaxReferrersPage {
				page.Items = append(page.Items, desc)
				size += s
				cursor = store.ReferrerKey(m.ArtifactType, m.Digest)
				continue
			}
			page.Next = cursor
			return page, nil
		}
		if len(ms) < batch {
			return page, nil
		}
	}
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
