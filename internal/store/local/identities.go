package local

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

var _ store.Identities = (*Metadata)(nil)

// identityRecord is the value of identities/<name>.
type identityRecord struct {
	Kind    string        `json:"kind"`
	Secret  string        `json:"secret,omitempty"`
	Grants  []grantRecord `json:"grants,omitempty"`
	Created time.Time     `json:"created,omitzero"`
	Expires time.Time     `json:"expires,omitzero"`
}

// grantRecord is a store.Grant in an identity record.
type grantRecord struct {
	Pattern string   `json:"pattern"`
	Actions []string `json:"actions,omitempty"`
}

func newIdentityRecord(id store.Identity) identityRecord {
	r := identityRecord{
		Kind:    id.Kind,
		Secret:  id.Secret,
		Created: id.Created,
		Expires: id.Expires,
	}
	for _, g := range id.Grants {
		r.Grants = append(r.Grants, grantRecord{Pattern: g.Pattern, Actions: g.Actions})
	}
	return r
}

func (r identityRecord) identity(name string) store.Identity {
	id := store.Identity{
		Name:    name,
		Kind:    r.Kind,
		Secret:  r.Secret,
		Created: r.Created,
		Expires: r.Expires,
	}
	for _, g := range r.Grants {
		id.Grants = append(id.Grants, store.Grant{Pattern: g.Pattern, Actions: g.Actions})
	}
	return id
}

// decodeIdentity decodes the record v of identity name.
func decodeIdentity(name string, v []byte) (store.Identity, error) {
	var rec identityRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return store.Identity{}, fmt.Errorf("decode record of %q: %w", name, err)
	}
	return rec.identity(name), nil
}

// PutIdentity creates or replaces the identity named id.Name.
func (m *Metadata) PutIdentity(ctx context.Context, id store.Identity) error {
	if id.Name == "" {
		return errors.New("put identity: empty name")
	}
	v, err := json.Marshal(newIdentityRecord(id))
	if err != nil {
		return fmt.Errorf("put identity %q: %w", id.Name, err)
	}
	err = m.update(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIdentities).Put([]byte(id.Name), v)
	})
	if err != nil {
		return fmt.Errorf("put identity %q: %w", id.Name, err)
	}
	return nil
}

// Identity returns the identity called name, or store.ErrNotFound.
func (m *Metadata) Identity(ctx context.Context, name string) (store.Identity, error) {
	var id store.Identity
	err := m.view(ctx, func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketIdentities).Get([]byte(name))
		if v == nil {
			return store.ErrNotFound
		}
		var err error
		id, err = decodeIdentity(name, v)
		return err
	})
	if err != nil {
		return store.Identity{}, fmt.Errorf("identity %q: %w", name, err)
	}
	return id, nil
}

// DeleteIdentity removes the identity called name, or returns
// store.ErrNotFound.
func (m *Metadata) DeleteIdentity(ctx context.Context, name string) error {
	err := m.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketIdentities)
		if b.Get([]byte(name)) == nil {
			return store.ErrNotFound
		}
		return b.Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("delete identity %q: %w", name, err)
	}
	return nil
}

// ListIdentities returns every identity, in byte order of name.
func (m *Metadata) ListIdentities(ctx context.Context) ([]store.Identity, error) {
	var ids []store.Identity
	err := m.view(ctx, func(tx *bolt.Tx) error {
		return tx.Bucket(bucketIdentities).ForEach(func(k, v []byte) error {
			id, err := decodeIdentity(string(k), v)
			if err != nil {
				return err
			}
			ids = append(ids, id)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("list identities: %w", err)
	}
	return ids, nil
}
