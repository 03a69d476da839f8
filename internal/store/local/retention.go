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

var _ store.Retention = (*Metadata)(nil)

// bucketTimes is the bucket, in a repository's, of the times of its
// records (store.Record.Time): the key is a kind byte and the name (timeTag
// and the tag, timeManifest or timeLink and the digest), the value the
// time in Unix nanoseconds, 8 bytes big-endian. A record without an entry
// (written before the bucket existed) has no time. Entries of records
// since removed may stay: a time is only read for a record that exists,
// and every write of a record writes its time.
var bucketTimes = []byte("times")

// Kinds of the keys of bucketTimes.
const (
	timeTag      = 't'
	timeManifest = 'm'
	timeLink     = 'b'
)

func timeKey(kind byte, name string) []byte {
	return append([]byte{kind}, name...)
}

// stamp records t as the time of the record name of kind in repo (which
// exists).
func stamp(tx *bolt.Tx, repo string, kind byte, name string, t time.Time) error {
	b, err := tx.Bucket(bucketRepositories).Bucket([]byte(repo)).CreateBucketIfNotExists(bucketTimes)
	if err != nil {
		return fmt.Errorf("times of %s: %w", repo, err)
	}
	return b.Put(timeKey(kind, name), binary.BigEndian.AppendUint64(nil, uint64(t.UnixNano())))
}

// stampOf returns the time of the record name of kind in repo; zero when
// it has none.
func stampOf(tx *bolt.Tx, repo string, kind byte, name string) time.Time {
	r := tx.Bucket(bucketRepositories).Bucket([]byte(repo))
	if r == nil {
		return time.Time{}
	}
	b := r.Bucket(bucketTimes)
	if b == nil {
		return time.Time{}
	}
	v := b.Get(timeKey(kind, name))
	if len(v) != 8 {
		return time.Time{}
	}
	return time.Unix(0, int64(binary.BigEndian.Uint64(v)))
}

// unstamp removes the time of the record name of kind in repo.
func unstamp(tx *bolt.Tx, repo string, kind byte, name string) error {
	r := tx.Bucket(bucketRepositories).Bucket([]byte(repo))
	if r == nil || r.Bucket(bucketTimes) == nil {
		return nil
	}
	return r.Bucket(bucketTimes).Delete(timeKey(kind, name))
}

// stampPut records now as the push time of manifest d and of tags.
func stampPut(tx *bolt.Tx, repo string, d digest.Digest, tags []string, now time.Time) error {
	if err := stamp(tx, repo, timeManifest, d.String(), now); err != nil {
		return err
	}
	for _, t := range tags {
		if err := stamp(tx, repo, timeTag, t, now); err != nil {
			return err
		}
	}
	return nil
}

// checkFixedTags returns store.ErrTagMoved when one of tags names another
// manifest than d in r.
func checkFixedTags(r repoBuckets, d digest.Digest, tags []string) error {
	for _, t := range tags {
		if v := r.tags.Get([]byte(t)); v != nil && string(v) != string(d) {
			return fmt.Errorf("tag %q names %s: %w", t, v, store.ErrTagMoved)
		}
	}
	return nil
}

// PutManifestFixedTags is PutManifest, refusing (store.ErrTagMoved) to
// move a tag, in the same transaction.
func (m *Metadata) PutManifestFixedTags(ctx context.Context, repo string, man store.Manifest, tags []string) error {
	return m.putManifest(ctx, repo, man, tags, true)
}

// DeleteTagIf removes tag from repo if it names d.
func (m *Metadata) DeleteTagIf(ctx context.Context, repo, tag string, d digest.Digest) error {
	err := m.deleteTag(ctx, repo, tag, d)
	if err != nil {
		return fmt.Errorf("delete tag %q of %s in %s: %w", tag, d, repo, err)
	}
	return nil
}

// DeleteUntaggedManifest removes manifest d from repo if no tag names it
// (a walk over the repository's tags), in one transaction.
func (m *Metadata) DeleteUntaggedManifest(ctx context.Context, repo string, d digest.Digest) error {
	err := m.updateRepo(ctx, repo, func(tx *bolt.Tx, r repoBuckets) error {
		c := r.tags.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if string(v) == string(d) {
				return fmt.Errorf("tag %q names it: %w", k, store.ErrConflict)
			}
		}
		if err := deleteManifestRecord(r, d); err != nil {
			return err
		}
		return unstamp(tx, repo, timeManifest, d.String())
	})
	if err != nil {
		return fmt.Errorf("delete untagged manifest %s in %s: %w", d, repo, err)
	}
	return nil
}

// UnlinkBlobIf removes repo's link to d if its time is linked.
func (m *Metadata) UnlinkBlobIf(ctx context.Context, repo string, d digest.Digest, linked time.Time) error {
	err := m.unlink(ctx, repo, d, func(tx *bolt.Tx) error {
		if at := stampOf(tx, repo, timeLink, d.String()); !at.Equal(linked) {
			return fmt.Errorf("linked again at %s: %w", at.Format(time.RFC3339Nano), store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("unlink blob %s in %s: %w", d, repo, err)
	}
	return nil
}
