package local

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// bucketSites holds the site index records (see the package
// documentation).
var bucketSites = []byte("sites")

var _ store.SiteIndexes = (*Metadata)(nil)

// SiteIndex returns the digest of the index of the unpacked site of
// manifest d (package site), or store.ErrNotFound.
func (m *Metadata) SiteIndex(ctx context.Context, d digest.Digest) (digest.Digest, error) {
	var index digest.Digest
	err := m.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSites)
		if b == nil {
			return store.ErrNotFound
		}
		v := b.Get([]byte(d))
		if v == nil {
			return store.ErrNotFound
		}
		index = digest.Digest(v)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("site index of %s: %w", d, err)
	}
	return index, nil
}

// PutSiteIndex records index as the index of the unpacked site of
// manifest d.
func (m *Metadata) PutSiteIndex(ctx context.Context, d, index digest.Digest) error {
	err := m.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketSites)
		if err != nil {
			return err
		}
		return b.Put([]byte(d), []byte(index))
	})
	if err != nil {
		return fmt.Errorf("record site index of %s: %w", d, err)
	}
	return nil
}
