package local

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pier-registry/pier/internal/store"
)

// sessionRecord is the value of uploads/<id>.
type sessionRecord struct {
	Repository string    `json:"repository"`
	Offset     int64     `json:"offset"`
	Hash       []byte    `json:"hash,omitempty"`
	State      []byte    `json:"state,omitempty"`
	Version    int64     `json:"version"`
	Expires    time.Time `json:"expires,omitzero"`
	Owner      string    `json:"owner,omitempty"`
}

func newSessionRecord(u store.Upload) sessionRecord {
	return sessionRecord{
		Repository: u.Repository,
		Offset:     u.Offset,
		Hash:       u.Hash,
		State:      u.State,
		Version:    u.Version,
		Expires:    u.Expires,
		Owner:      u.Owner,
	}
}

func (r sessionRecord) upload(id string) store.Upload {
	return store.Upload{
		ID:         id,
		Repository: r.Repository,
		Offset:     r.Offset,
		Hash:       r.Hash,
		State:      r.State,
		Version:    r.Version,
		Expires:    r.Expires,
		Owner:      r.Owner,
	}
}

// expired reports whether the session has expired by now; a session with a
// zero Expires never does.
func (r sessionRecord) expired(now time.Time) bool {
	return !r.Expires.IsZero() && !now.Before(r.Expires)
}

// getSession reads session id from b; store.ErrNotFound when it does not
// exist or has expired.
func getSession(b *bolt.Bucket, id string) (sessionRecord, error) {
	var rec sessionRecord
	v := b.Get([]byte(id))
	if v == nil {
		return rec, store.ErrNotFound
	}
	if err := json.Unmarshal(v, &rec); err != nil {
		return rec, fmt.Errorf("decode record: %w", err)
	}
	if rec.expired(time.Now()) {
		return rec, fmt.Errorf("expired at %s: %w", rec.Expires.Format(time.RFC3339), store.ErrNotFound)
	}
	return rec, nil
}

// CreateUpload records a new upload session. It returns store.ErrConflict
// when a session with id u.ID exists (also an expired one).
func (m *Metadata) CreateUpload(ctx context.Context, u store.Upload) error {
	if u.ID == "" {
		return fmt.Errorf("create upload: empty id")
	}
	v, err := json.Marshal(newSessionRecord(u))
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	err = m.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		if b.Get([]byte(u.ID)) != nil {
			return fmt.Errorf("session exists: %w", store.ErrConflict)
		}
		return b.Put([]byte(u.ID), v)
	})
	if err != nil {
		return fmt.Errorf("create upload %s: %w", u.ID, err)
	}
	return nil
}

// Upload returns upload session id, or store.ErrNotFound when it does not
// exist or has expired.
func (m *Metadata) Upload(ctx context.Context, id string) (store.Upload, error) {
	var rec sessionRecord
	err := m.view(ctx, func(tx *bolt.Tx) error {
		var err error
		rec, err = getSession(tx.Bucket(bucketUploads), id)
		return err
	})
	if err != nil {
		return store.Upload{}, fmt.Errorf("upload %s: %w", id, err)
	}
	return rec.upload(id), nil
}

// UpdateUpload replaces session u.ID with u if the stored session has
// version u.Version-1, and returns store.ErrConflict if it has not. It
// returns store.ErrNotFound when the session does not exist or has expired.
func (m *Metadata) UpdateUpload(ctx context.Context, u store.Upload) error {
	v, err := json.Marshal(newSessionRecord(u))
	if err != nil {
		return fmt.Errorf("update upload %s: %w", u.ID, err)
	}
	err = m.update(ctx, func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketUploads)
		old, err := getSession(b, u.ID)
		if err != nil {
			return err
		}
		if store.SameUpload(old.upload(u.ID), u) {
			return nil // a retry of this update, applied already
		}
		if old.Version != u.Version-1 {
			return fmt.Errorf("stored version %d, update to %d: %w", old.Version, u.Version, store.ErrConflict)
		}
		return b.Put([]byte(u.ID), v)
	})
	if err != nil {
		return fmt.Errorf("update upload %s: %w", u.ID, err)
	}
	return nil
}

// DeleteUpload removes upload session id. Removing a missing session is not
// an error.
func (m *Metadata) DeleteUpload(ctx context.Context, id string) error {
	err := m.update(ctx, func(tx *bolt.Tx) error {
		if id == "" {
			return nil
		}
		return tx.Bucket(bucketUploads).Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("delete upload %s: %w", id, err)
	}
	return nil
}
