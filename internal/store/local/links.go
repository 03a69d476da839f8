package local

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// LinkBlob records that repo holds blob d, making repo when it does not
// exist yet. The record is the size, 8 bytes big-endian, then the
// location.
func (m *Metadata) LinkBlob(ctx context.Context, repo string, d digest.Digest, link store.BlobLink) error {
	if d == "" {
		return fmt.Errorf("link blob in %s: empty digest", repo)
	}
	v := binary.BigEndian.AppendUint64(nil, uint64(link.Size))
	v = append(v, link.Location...)
	err := m.update(ctx, func(tx *bolt.Tx) error {
		if err := passMark(tx, d); err != nil {
			return err
		}
		r, err := createRepository(tx, repo)
		if err != nil {
			return err
		}
		if err := r.blobs.Put([]byte(d), v); err != nil {
			return err
		}
		return stamp(tx, repo, timeLink, d.String(), time.Now())
	})
	if err != nil {
		return fmt.Errorf("link blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// Blob returns repo's link to blob d, or store.ErrNotFound when repo does
// not link it.
func (m *Metadata) Blob(ctx context.Context, repo string, d digest.Digest) (store.BlobLink, error) {
	link, err := viewRepo(ctx, m, repo, func(r repoBuckets) (store.BlobLink, error) {
		return decodeLink(r.blobs.Get([]byte(d)))
	})
	if err != nil {
		return store.BlobLink{}, fmt.Errorf("blob %s in %s: %w", d, repo, err)
	}
	return link, nil
}

// decodeLink returns the link that the record v holds; store.ErrNotFound
// when there is none (v is nil).
func decodeLink(v []byte) (store.BlobLink, error) {
	if v == nil {
		return store.BlobLink{}, store.ErrNotFound
	}
	if len(v) < 8 {
		return store.BlobLink{}, fmt.Errorf("bad link record of %d bytes", len(v))
	}
	return store.BlobLink{Size: int64(binary.BigEndian.Uint64(v)), Location: string(v[8:])}, nil
}

// UnlinkBlob removes repo's link to blob d, or returns store.ErrNotFound.
func (m *Metadata) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	if err := m.unlink(ctx, repo, d, nil); err != nil {
		return fmt.Errorf("unlink blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// unlink removes repo's link to d and its time, if check (when not nil)
// passes in the same transaction; store.ErrNotFound when there is none.
func (m *Metadata) unlink(ctx context.Context, repo string, d digest.Digest, check func(tx *bolt.Tx) error) error {
	return m.updateRepo(ctx, repo, func(tx *bolt.Tx, r repoBuckets) error {
		if r.blobs.Get([]byte(d)) == nil {
			return store.ErrNotFound
		}
		if check != nil {
			if err := check(tx); err != nil {
				return err
			}
		}
		if err := r.blobs.Delete([]byte(d)); err != nil {
			return err
		}
		return unstamp(tx, repo, timeLink, d.String())
	})
}

// BlobSizes returns the sizes of the blobs of ds that repo links.
func (m *Metadata) BlobSizes(ctx context.Context, repo string, ds []digest.Digest) (map[digest.Digest]int64, error) {
	sizes, err := found(ctx, m, repo, ds, func(r repoBuckets) *bolt.Bucket { return r.blobs }, func(v []byte) (int64, error) {
		link, err := decodeLink(v)
		return link.Size, err
	})
	if err != nil {
		return nil, fmt.Errorf("blob sizes in %s: %w", repo, err)
	}
	return sizes, nil
}

// MissingManifests returns those of ds that repo does not hold, in order.
func (m *Metadata) MissingManifests(ctx context.Context, repo string, ds []digest.Digest) ([]digest.Digest, error) {
	held, err := found(ctx, m, repo, ds, func(r repoBuckets) *bolt.Bucket { return r.manifests }, func([]byte) (bool, error) { return true, nil })
	if err != nil {
		return nil, fmt.Errorf("missing manifests in %s: %w", repo, err)
	}
	return store.Missing(ds, held), nil
}

// found returns, for each of ds that is a key of the bucket of repo that
// bucket picks, what value makes of its value; none when repo is unknown.
func found[V any](ctx context.Context, m *Metadata, repo string, ds []digest.Digest, bucket func(repoBuckets) *bolt.Bucket, value func(v []byte) (V, error)) (map[digest.Digest]V, error) {
	vs := map[digest.Digest]V{}
	err := m.view(ctx, func(tx *bolt.Tx) error {
		r, ok := lookupRepository(tx, repo)
		if !ok {
			return nil
		}
		b := bucket(r)
		for _, d := range ds {
			if v := b.Get([]byte(d)); v != nil {
				var err error
				if vs[d], err = value(v); err != nil {
					return err
				}
			}
		}
		return nil
	})
	return vs, err
}

// Repositories returns up to n repository names in byte order, those after
// last when last is not "". A repository exists from its first blob link
// or manifest on, and stays when they are removed.
func (m *Metadata) Repositories(ctx context.Context, last string, n int) ([]string, error) {
	repos := []string{}
	err := m.view(ctx, func(tx *bolt.Tx) error {
		return page(tx.Bucket(bucketRepositories).Cursor(), nil, []byte(last), n, func(k, _ []byte) error {
			repos = append(repos, string(k))
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("repositories: %w", err)
	}
	return repos, nil
}
