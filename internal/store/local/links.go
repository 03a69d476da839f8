package local

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

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
		return r.blobs.Put([]byte(d), v)
	})
	if err != nil {
		return fmt.Errorf("link blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// Blob returns repo's link to blob d, or store.ErrNotFound when repo does
// not link it.
func (m *Metadata) Blob(ctx context.Context, repo string, d digest.Digest) (store.BlobLink, error) {
	var link store.BlobLink
	err := m.view(ctx, func(tx *bolt.Tx) error {
		r, err := repository(tx, repo)
		if err != nil {
			return err
		}
		v := r.blobs.Get([]byte(d))
		if v == nil {
			return store.ErrNotFound
		}
		if len(v) < 8 {
			return fmt.Errorf("bad link record of %d bytes", len(v))
		}
		link = decodeLink(v)
		return nil
	})
	if err != nil {
		return store.BlobLink{}, fmt.Errorf("blob %s in %s: %w", d, repo, err)
	}
	return link, nil
}

// decodeLink decodes a link record of at least 8 bytes.
func decodeLink(v []byte) store.BlobLink {
	return store.BlobLink{Size: int64(binary.BigEndian.Uint64(v)), Location: string(v[8:])}
}

// UnlinkBlob removes repo's link to blob d, or returns store.ErrNotFound.
func (m *Metadata) UnlinkBlob(ctx context.Context, repo string, d digest.Digest) error {
	err := m.update(ctx, func(tx *bolt.Tx) error {
		r, err := repository(tx, repo)
		if err != nil {
			return err
		}
		if r.blobs.Get([]byte(d)) == nil {
			return store.ErrNotFound
		}
		return r.blobs.Delete([]byte(d))
	})
	if err != nil {
		return fmt.Errorf("unlink blob %s in %s: %w", d, repo, err)
	}
	return nil
}

// MissingBlobs returns those of ds that repo does not link, in order.
func (m *Metadata) MissingBlobs(ctx context.Context, repo string, ds []digest.Digest) ([]digest.Digest, error) {
	missing, err := m.missing(ctx, repo, ds, func(r repoBuckets) *bolt.Bucket { return r.blobs })
	if err != nil {
		return nil, fmt.Errorf("missing blobs in %s: %w", repo, err)
	}
	return missing, nil
}

// MissingManifests returns those of ds that repo does not hold, in order.
func (m *Metadata) MissingManifests(ctx context.Context, repo string, ds []digest.Digest) ([]digest.Digest, error) {
	missing, err := m.missing(ctx, repo, ds, func(r repoBuckets) *bolt.Bucket { return r.manifests })
	if err != nil {
		return nil, fmt.Errorf("missing manifests in %s: %w", repo, err)
	}
	return missing, nil
}

// missing returns those of ds that are not keys of the bucket of repo that
// bucket picks; all of them when repo is unknown.
func (m *Metadata) missing(ctx context.Context, repo string, ds []digest.Digest, bucket func(repoBuckets) *bolt.Bucket) ([]digest.Digest, error) {
	missing := []digest.Digest{}
	err := m.view(ctx, func(tx *bolt.Tx) error {
		r, err := repository(tx, repo)
		if errors.Is(err, store.ErrNotFound) {
			missing = append(missing, ds...)
			return nil
		} else if err != nil {
			return err
		}
		b := bucket(r)
		for _, d := range ds {
			if b.Get([]byte(d)) == nil {
				missing = append(missing, d)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return missing, nil
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
