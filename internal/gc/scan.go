package gc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/opencontainers/go-digest"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/pier-registry/pier/internal/oci"
	"github.com/pier-registry/pier/internal/store"
)

// scan is what a pass learned from the metadata store.
type scan struct {
	refs      map[digest.Digest]bool // named by a link, a manifest or a site index
	repos     map[string]*Repository // tags, manifests and links, by repository
	sites     []digest.Digest        // the blobs of site indexes
	locations map[string]bool        // link locations
	live      map[string]bool        // upload sessions not expired
	expired   []store.Upload
	unsettled []store.Record // links whose bytes are elsewhere
	marks     []store.BlobMark
}

// scan reads every record of the metadata store.
func (c *Collector) scan(ctx context.Context, now time.Time, rep *Report) (*scan, error) {
	s := &scan{refs: map[digest.Digest]bool{}, repos: map[string]*Repository{}, locations: map[string]bool{}, live: map[string]bool{}}
	repo := func(name string) *Repository {
		r := s.repos[name]
		if r == nil {
			r = &Repository{Name: name}
			s.repos[name] = r
		}
		return r
	}
	rep.Links, rep.Manifests, rep.Uploads = 0, 0, 0
	cursor := ""
	for {
		recs, next, err := c.meta.ScanRecords(ctx, cursor, c.opts.PageSize)
		if err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
		for _, r := range recs {
			switch r.Kind {
			case store.RecordLink:
				rep.Links++
				s.refs[r.Digest] = true
				rr := repo(r.Repository)
				rr.Links = append(rr.Links, Link{Digest: r.Digest, Size: r.Link.Size, Linked: r.Time})
				if r.Link.Location != "" {
					s.locations[r.Link.Location] = true
					s.unsettled = append(s.unsettled, r)
				}
			case store.RecordManifest:
				rep.Manifests++
				m, err := c.manifestRefs(ctx, r.Manifest)
				if err != nil {
					return nil, err
				}
				m.Pushed, m.Size = r.Time, r.Manifest.Size
				for _, d := range m.named() {
					s.refs[d] = true
				}
				rr := repo(r.Repository)
				rr.Manifests = append(rr.Manifests, m)
			case store.RecordTag:
				rr := repo(r.Repository)
				rr.Tags = append(rr.Tags, Tag{Name: r.Tag, Digest: r.Digest, Pushed: r.Time})
			case store.RecordMark:
				s.marks = append(s.marks, r.Mark)
			case store.RecordSiteIndex:
				s.refs[r.Digest] = true
				s.sites = append(s.sites, r.Digest)
			case store.RecordUpload:
				rep.Uploads++
				if !r.Upload.Expires.IsZero() && !now.Before(r.Upload.Expires) {
					s.expired = append(s.expired, r.Upload)
				} else {
					s.live[r.Upload.ID] = true
				}
			}
		}
		if next == "" {
			return s, nil
		}
		cursor = next
	}
}

// manifestRefs returns manifest m with what it names: config, layers,
// index entries (also its Children) and subject.
func (c *Collector) manifestRefs(ctx context.Context, m store.Manifest) (Manifest, error) {
	out := Manifest{Digest: m.Digest, Subject: m.Subject}
	body := m.Body
	if body == nil {
		f, err := c.blobs.Open(ctx, m.Digest)
		if errors.Is(err, store.ErrNotFound) {
			return out, nil // a broken manifest: nothing to keep for it
		}
		if err != nil {
			return out, fmt.Errorf("gc: read manifest %s: %w", m.Digest, err)
		}
		body, err = io.ReadAll(io.LimitReader(f, oci.MaxManifestSize+1))
		f.Close()
		if err != nil {
			return out, fmt.Errorf("gc: read manifest %s: %w", m.Digest, err)
		}
	}
	parsed, err := oci.ParseManifest(m.MediaType, body)
	if err != nil {
		// Stored manifests were parsed when pushed; one that is not now
		// names nothing gc can know of.
		c.opts.Log.Warn("gc: unreadable manifest", "digest", m.Digest.String(), "error", err.Error())
		return out, nil
	}
	blobs, manifests, skipped := parsed.References()
	for _, list := range [][]v1.Descriptor{blobs, manifests, skipped} {
		for _, d := range list {
			out.Blobs = append(out.Blobs, d.Digest)
		}
	}
	for _, d := range manifests {
		out.Children = append(out.Children, d.Digest)
	}
	return out, nil
}
