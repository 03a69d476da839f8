package local

import (
	"context"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// The policies are in the bucket policies/<pattern>, JSON store.Policy;
// the bucket is made by the first policy.

var _ store.Policies = (*Metadata)(nil)

var bucketPolicies = []byte("policies")

// PutPolicy records p.
func (m *Metadata) PutPolicy(ctx context.Context, p store.Policy) error {
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("put policy %s: %w", p.Pattern, err)
	}
	err = m.update(ctx, func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketPolicies)
		if err != nil {
			return err
		}
		return b.Put([]byte(p.Pattern), v)
	})
	if err != nil {
		return fmt.Errorf("put policy %s: %w", p.Pattern, err)
	}
	return nil
}

// Policies returns every policy, in byte order of their patterns.
func (m *Metadata) Policies(ctx context.Context) ([]store.Policy, error) {
	ps := []store.Policy{}
	err := m.view(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPolicies)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var p store.Policy
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode policy %s: %w", k, err)
			}
			ps = append(ps, p)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	return ps, nil
}

// DeletePolicy removes the policy of pattern.
func (m *Metadata) DeletePolicy(ctx context.Context, pattern string) error {
	err := m.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPolicies)
		if b == nil || b.Get([]byte(pattern)) == nil {
			return store.ErrNotFound
		}
		return b.Delete([]byte(pattern))
	})
	if err != nil {
		return fmt.Errorf("delete policy %s: %w", pattern, err)
	}
	return nil
}
